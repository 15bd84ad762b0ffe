//! The UTXO kernel (Bitcoin): taint rides on coins. Transactions are taken
//! in chain order (by number) from a queue that holds only the spenders of
//! tainted coins, so the work follows the reachable set, not the chain.
//!
//! Each model runs its own pass over the same transactions; the
//! transactions read are cached across passes (poison reaches a superset of
//! what the others reach, so it runs first and fills the cache).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::rc::Rc;

use chainsleuth_core::{Coin, OutPoint, TxNum, UtxoGraph, UtxoTx, U256};

use crate::flows::Step;
use crate::parts::{Part, Parts};
use crate::{AddressLabels, Budget, EndKind, Flows, Model, Params, TraceError};

/// Where taint starts on a UTXO chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UtxoSeed {
    /// Every coin the address holds at the window's start or receives in it.
    Address(chainsleuth_core::AddressId),
    /// One coin.
    Coin(OutPoint),
}

/// The taint on one coin.
#[derive(Debug, Clone)]
enum Taint {
    /// Poison and haircut: how many of the coin's units are tainted.
    Amount(U256),
    /// FIFO and LIFO: the coin's parts in order.
    Parts(Parts),
}

impl Taint {
    fn amount(&self) -> U256 {
        match self {
            Taint::Amount(a) => *a,
            Taint::Parts(p) => p.tainted(),
        }
    }

    /// The coin's parts (an amount's tainted units first).
    fn parts(&self, value: U256) -> Parts {
        match self {
            Taint::Parts(p) => p.clone(),
            Taint::Amount(a) => {
                let mut parts = Parts::one(true, *a);
                parts.push_back(Part { tainted: false, amount: value - *a });
                parts
            }
        }
    }

    fn full(model: Model, value: U256) -> Taint {
        match model {
            Model::Poison | Model::Haircut => Taint::Amount(value),
            Model::Fifo | Model::Lifo => Taint::Parts(Parts::one(true, value)),
        }
    }
}

#[derive(Debug, Clone)]
struct Tainted {
    taint: Taint,
    hops: u32,
    node: usize,
}

/// Traces from the seeds under each of `params.models` (forward, or
/// backward under poison and haircut), returning one [`Flows`] per model in
/// the order asked. The parameters must have passed [`Params::check`].
pub fn trace_utxo<G: UtxoGraph>(
    graph: &G,
    labels: &mut dyn AddressLabels,
    seeds: &[UtxoSeed],
    params: &Params,
) -> Result<Vec<Flows>, TraceError<G::Error>> {
    trace_utxo_within(graph, labels, seeds, params, &Budget::unlimited())
}

/// [`trace_utxo`] within `budget`: stops with [`TraceError::Stopped`] when
/// it is cancelled or spent.
pub fn trace_utxo_within<G: UtxoGraph>(
    graph: &G,
    labels: &mut dyn AddressLabels,
    seeds: &[UtxoSeed],
    params: &Params,
    budget: &Budget,
) -> Result<Vec<Flows>, TraceError<G::Error>> {
    budget.check()?;
    if params.direction == crate::Direction::Backward {
        return crate::backward::trace(graph, labels, seeds, params, budget);
    }
    let (start, end) = graph.tx_range(params.from_block, params.to_block).map_err(TraceError::Graph)?;
    // Forward, an address's coins held at the window's start or received in it.
    let seed_coins = seed_coins(graph, seeds, end, |c| c.spent_by.is_none_or(|s| s >= start))?;
    let mut cache = TxCache { graph, txs: HashMap::new() };
    params
        .models
        .iter()
        .map(|&model| {
            Pass { model, params, start, end, labels: &mut *labels, cache: &mut cache, budget }.run(&seed_coins)
        })
        .collect()
}

/// The seeds' coins: each address's coins made before `before` that `keep`
/// accepts, and the
/// named coins, in outpoint order.
pub(crate) fn seed_coins<G: UtxoGraph>(
    graph: &G,
    seeds: &[UtxoSeed],
    before: TxNum,
    keep: impl Fn(&Coin) -> bool,
) -> Result<BTreeMap<OutPoint, Coin>, TraceError<G::Error>> {
    let mut coins = BTreeMap::new();
    for seed in seeds {
        match *seed {
            UtxoSeed::Address(address) => {
                for coin in graph.coins_of(address, before).map_err(TraceError::Graph)? {
                    if keep(&coin) {
                        coins.insert(coin.outpoint, coin);
                    }
                }
            }
            UtxoSeed::Coin(outpoint) => {
                let coin = graph.coin(outpoint).map_err(TraceError::Graph)?.ok_or_else(|| {
                    TraceError::Inconsistent(format!("seed coin {}:{} is not indexed", outpoint.tx, outpoint.vout))
                })?;
                coins.insert(outpoint, coin);
            }
        }
    }
    Ok(coins)
}

struct TxCache<'g, G> {
    graph: &'g G,
    txs: HashMap<TxNum, Rc<UtxoTx>>,
}

impl<G: UtxoGraph> TxCache<'_, G> {
    fn get(&mut self, num: TxNum) -> Result<Rc<UtxoTx>, TraceError<G::Error>> {
        if let Some(tx) = self.txs.get(&num) {
            return Ok(tx.clone());
        }
        let tx = Rc::new(self.graph.tx(num).map_err(TraceError::Graph)?);
        self.txs.insert(num, tx.clone());
        Ok(tx)
    }
}

struct Pass<'a, 'g, G> {
    model: Model,
    params: &'a Params,
    start: TxNum,
    end: TxNum,
    labels: &'a mut dyn AddressLabels,
    cache: &'a mut TxCache<'g, G>,
    budget: &'a Budget,
}

impl<G: UtxoGraph> Pass<'_, '_, G> {
    fn run(mut self, seed_coins: &BTreeMap<OutPoint, Coin>) -> Result<Flows, TraceError<G::Error>> {
        let mut flows = Flows::new(self.model);
        let mut live: HashMap<OutPoint, Tainted> = HashMap::new();
        let mut queue: BinaryHeap<Reverse<TxNum>> = BinaryHeap::new();
        let mut queued: HashSet<TxNum> = HashSet::new();

        for coin in seed_coins.values() {
            let value = U256::from(coin.value.0);
            flows.totals.seeded += value;
            let node = flows.node(None, coin.address, value, None);
            let tainted = Tainted { taint: Taint::full(self.model, value), hops: 0, node };
            self.settle(&mut flows, coin, tainted, &mut live, &mut queue, &mut queued);
        }

        while let Some(Reverse(num)) = queue.pop() {
            let tx = self.cache.get(num)?;
            let units = (tx.inputs.len() + tx.outputs.len()) as u64;
            flows.visited += units;
            self.budget.spend(units)?;
            let inputs: Vec<(U256, Option<Tainted>)> =
                tx.inputs.iter().map(|c| (U256::from(c.value.0), live.remove(&c.outpoint))).collect();
            let Some(first) =
                inputs.iter().filter_map(|(_, t)| t.as_ref()).min_by_key(|t| t.hops).map(|t| (t.hops, t.node))
            else {
                return Err(TraceError::Inconsistent(format!(
                    "transaction {num} was queued but spends no tainted coin"
                )));
            };
            let (min_hops, parent) = first;
            let hops = min_hops + 1;
            let values: Vec<U256> = tx.outputs.iter().map(|c| U256::from(c.value.0)).collect();
            let mut mixing = false;
            for (coin, (_, tainted)) in tx.inputs.iter().zip(&inputs) {
                mixing = mixing || (tainted.is_some() && self.mixer(coin)?);
            }
            let (outs, fee) = split(self.model, &inputs, &values, mixing);
            flows.totals.fees += fee;
            for (coin, taint) in tx.outputs.iter().zip(outs) {
                let amount = taint.amount();
                if seed_coins.contains_key(&coin.outpoint) {
                    // Already tainted in full as a seed: what flowed in is
                    // not seeded twice.
                    flows.totals.seeded -= amount;
                    continue;
                }
                if amount.is_zero() {
                    continue;
                }
                let node = flows.node(Some(Step::Tx(num)), coin.address, amount, Some(parent));
                if coin.address.is_none() {
                    // An unspendable output: the taint is burned.
                    flows.totals.fees += amount;
                    continue;
                }
                if hops > self.params.max_hops {
                    flows.end(EndKind::Horizon, coin.address, amount, hops, node);
                    continue;
                }
                if let Some(kind) = self.stop(coin, amount)? {
                    flows.end(kind, coin.address, amount, hops, node);
                    continue;
                }
                if self.mixer(coin)? {
                    flows.pass_mixer(coin.address, amount, hops, node);
                }
                self.settle(&mut flows, coin, Tainted { taint, hops, node }, &mut live, &mut queue, &mut queued);
            }
        }
        Ok(flows)
    }

    /// Off-ramp, mixer or dust: where a tainted coin stops.
    fn stop(&mut self, coin: &Coin, amount: U256) -> Result<Option<EndKind>, TraceError<G::Error>> {
        if let Some(address) = coin.address {
            if let Some(label) = self.labels.label(address).map_err(TraceError::Labels)? {
                if label.off_ramp || (self.params.any_label && !label.mixer) {
                    return Ok(Some(EndKind::Reached));
                }
                if label.mixer && !self.params.through_mixers {
                    return Ok(Some(EndKind::Mixer));
                }
            }
        }
        Ok((amount < self.params.min_amount).then_some(EndKind::Dust))
    }

    /// Whether a coin is at a mixer the trace goes through.
    fn mixer(&mut self, coin: &Coin) -> Result<bool, TraceError<G::Error>> {
        let Some(address) = coin.address.filter(|_| self.params.through_mixers) else {
            return Ok(false);
        };
        Ok(self.labels.label(address).map_err(TraceError::Labels)?.is_some_and(|l| l.mixer))
    }

    /// A coin that goes on: queue its spender, or hold it when it is not
    /// spent inside the window (a seed coin named by its outpoint may have
    /// been spent before the window starts: it is held, not followed).
    fn settle(
        &self,
        flows: &mut Flows,
        coin: &Coin,
        tainted: Tainted,
        live: &mut HashMap<OutPoint, Tainted>,
        queue: &mut BinaryHeap<Reverse<TxNum>>,
        queued: &mut HashSet<TxNum>,
    ) {
        match coin.spent_by {
            Some(spender) if spender >= self.start && spender < self.end => {
                if queued.insert(spender) {
                    queue.push(Reverse(spender));
                }
                live.insert(coin.outpoint, tainted);
            }
            _ => flows.end(EndKind::Held, coin.address, tainted.taint.amount(), tainted.hops, tainted.node),
        }
    }
}

/// One transaction under one model: the outputs' taint in output order and
/// the taint the fee takes. A mixer's own transaction (`mixing`: it spends a
/// tainted coin at a mixer the trace goes through) splits its taint by
/// haircut under every model, each
/// output's share in the model's own form (FIFO and LIFO: the tainted share,
/// then the clean rest).
fn split(model: Model, inputs: &[(U256, Option<Tainted>)], outputs: &[U256], mixing: bool) -> (Vec<Taint>, U256) {
    match (model, mixing) {
        (Model::Poison, false) => {
            let fee = sum(inputs.iter().map(|(v, _)| *v)).saturating_sub(sum(outputs.iter().copied()));
            (outputs.iter().map(|v| Taint::Amount(*v)).collect(), fee)
        }
        (Model::Poison | Model::Haircut, _) => {
            let (shares, fee) = haircut(inputs, outputs);
            (shares.into_iter().map(Taint::Amount).collect(), fee)
        }
        (Model::Fifo | Model::Lifo, true) => {
            let (shares, fee) = haircut(inputs, outputs);
            let outs = shares.into_iter().zip(outputs).map(|(s, v)| Taint::Parts(Taint::Amount(s).parts(*v))).collect();
            (outs, fee)
        }
        (Model::Fifo | Model::Lifo, false) => {
            let mut joined = Parts::default();
            for (value, tainted) in inputs {
                match tainted {
                    Some(t) => joined.extend(t.taint.parts(*value)),
                    None => joined.push_back(Part { tainted: false, amount: *value }),
                }
            }
            if model == Model::Lifo {
                joined = joined.reversed();
            }
            let outs = outputs.iter().map(|v| Taint::Parts(joined.take_front(*v))).collect();
            (outs, joined.tainted())
        }
    }
}

/// The haircut split: with T the inputs' taint and V their value, output i
/// gets floor(v_i × T / V); the rest is the fee's.
fn haircut(inputs: &[(U256, Option<Tainted>)], outputs: &[U256]) -> (Vec<U256>, U256) {
    let taint = sum(inputs.iter().filter_map(|(_, t)| t.as_ref()).map(|t| t.taint.amount()));
    let value = sum(inputs.iter().map(|(v, _)| *v));
    let shares: Vec<U256> =
        outputs.iter().map(|v| if value.is_zero() { U256::ZERO } else { *v * taint / value }).collect();
    let given = sum(shares.iter().copied());
    (shares, taint - given)
}

fn sum(values: impl Iterator<Item = U256>) -> U256 {
    values.fold(U256::ZERO, |a, b| a + b)
}
