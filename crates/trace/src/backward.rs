//! Backward tracing on a UTXO chain: where did the seeds' coins come from.
//!
//! A coin's value is drawn from the inputs of the transaction that made it:
//! under poison every input is a source in full; under haircut input j
//! supplies floor(a × v_j / V) of an amount a the transaction's outputs are
//! asked for (V the sum of the inputs, so what the fee took is shared too),
//! and the rounding left over counts as fees. Transactions are taken newest
//! first, so every output's demand is known before its transaction is split.
//! A path stops at any labelled address (the source: an exchange, a
//! platform, a mixer...), at a coinbase (mined), below the dust limit, past
//! the hop horizon, or before the window's first block (horizon).

use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

use chainsleuth_core::{OutPoint, TxNum, UtxoGraph, UtxoTx, U256};

use crate::flows::Step;
use crate::{AddressLabels, Budget, EndKind, Flows, Model, Params, TraceError, UtxoSeed};

/// What a transaction's outputs ask of its inputs.
#[derive(Debug, Default)]
struct Demand {
    amount: U256,
    hops: u32,
    node: usize,
}

/// Traces backward from the seeds' coins received in the window, under
/// poison and haircut (the parameters' check refuses FIFO and LIFO).
pub(crate) fn trace<G: UtxoGraph>(
    graph: &G,
    labels: &mut dyn AddressLabels,
    seeds: &[UtxoSeed],
    params: &Params,
    budget: &Budget,
) -> Result<Vec<Flows>, TraceError<G::Error>> {
    let (start, end) = graph.tx_range(params.from_block, params.to_block).map_err(TraceError::Graph)?;
    // Backward, an address's coins received in the window.
    let coins = crate::utxo::seed_coins(graph, seeds, end, |c| c.outpoint.tx >= start)?;
    let mut cache: HashMap<TxNum, Rc<UtxoTx>> = HashMap::new();
    let mut out = Vec::new();
    for &model in &params.models {
        let mut flows = Flows::new(model);
        let mut demands: HashMap<TxNum, Demand> = HashMap::new();
        let mut queue: BinaryHeap<TxNum> = BinaryHeap::new();
        for coin in coins.values() {
            let value = U256::from(coin.value.0);
            flows.totals.seeded += value;
            let node = flows.node(None, coin.address, value, None);
            ask(&mut demands, &mut queue, coin.outpoint, value, 0, node);
        }
        while let Some(num) = queue.pop() {
            let demand = demands.remove(&num).expect("queued transactions have a demand");
            let tx = match cache.get(&num) {
                Some(tx) => tx.clone(),
                None => {
                    let tx = Rc::new(graph.tx(num).map_err(TraceError::Graph)?);
                    cache.insert(num, tx.clone());
                    tx
                }
            };
            let units = (tx.inputs.len() + tx.outputs.len()) as u64;
            flows.visited += units;
            budget.spend(units)?;
            if tx.inputs.is_empty() {
                flows.end(EndKind::Mined, None, demand.amount, demand.hops, demand.node);
                continue;
            }
            if num < start {
                flows.end(EndKind::Horizon, None, demand.amount, demand.hops, demand.node);
                continue;
            }
            let value: U256 = tx.inputs.iter().fold(U256::ZERO, |a, c| a + U256::from(c.value.0));
            let hops = demand.hops + 1;
            let mut given = U256::ZERO;
            for coin in &tx.inputs {
                let amount = match model {
                    Model::Poison => U256::from(coin.value.0),
                    _ => demand.amount * U256::from(coin.value.0) / value,
                };
                given += amount;
                if amount.is_zero() {
                    continue;
                }
                let node = flows.node(Some(Step::Tx(num)), coin.address, amount, Some(demand.node));
                if hops > params.max_hops {
                    flows.end(EndKind::Horizon, coin.address, amount, hops, node);
                    continue;
                }
                if let Some(address) = coin.address {
                    if let Some(label) = labels.label(address).map_err(TraceError::Labels)? {
                        let kind = if label.mixer { EndKind::Mixer } else { EndKind::Reached };
                        flows.end(kind, Some(address), amount, hops, node);
                        continue;
                    }
                }
                if amount < params.min_amount {
                    flows.end(EndKind::Dust, coin.address, amount, hops, node);
                    continue;
                }
                ask(&mut demands, &mut queue, coin.outpoint, amount, hops, node);
            }
            if model != Model::Poison {
                flows.totals.fees += demand.amount - given.min(demand.amount);
            }
        }
        out.push(flows);
    }
    Ok(out)
}

/// Adds what `outpoint` is asked to supply to its transaction's demand; the
/// fewest hops (and that path's node) win.
fn ask(
    demands: &mut HashMap<TxNum, Demand>,
    queue: &mut BinaryHeap<TxNum>,
    outpoint: OutPoint,
    amount: U256,
    hops: u32,
    node: usize,
) {
    let demand = demands.entry(outpoint.tx).or_insert_with(|| {
        queue.push(outpoint.tx);
        Demand { amount: U256::ZERO, hops: u32::MAX, node }
    });
    demand.amount += amount;
    if hops < demand.hops {
        demand.hops = hops;
        demand.node = node;
    }
}
