//! The reference UTXO tracer: seed coins are tainted in full, then every
//! transaction of the window is visited in chain order and, when it spends a
//! tainted coin, its outputs are tainted under the model and either stop,
//! stay tainted for their spender, or are held. A mixer's transaction (one
//! spending a tainted coin at a mixer that is followed through) is split by
//! haircut under every model.

use std::collections::{BTreeMap, HashMap};

use chainsleuth_core::{AddressId, Coin, Height, Label, OutPoint, TxNum};
use chainsleuth_trace::{EndKind, Model, Params, UtxoSeed};

use super::{mixer, stop, Outcome};
use crate::support::MemUtxo;

/// The taint on one coin.
#[derive(Debug, Clone)]
enum Taint {
    /// Poison and haircut: how many units are tainted.
    Amount(u128),
    /// FIFO and LIFO: one flag per unit (`true` = tainted), in order.
    Units(Vec<bool>),
}

impl Taint {
    fn full(model: Model, value: u64) -> Taint {
        match model {
            Model::Poison | Model::Haircut => Taint::Amount(value.into()),
            Model::Fifo | Model::Lifo => Taint::Units(vec![true; value as usize]),
        }
    }

    fn amount(&self) -> u128 {
        match self {
            Taint::Amount(a) => *a,
            Taint::Units(units) => units.iter().filter(|u| **u).count() as u128,
        }
    }
}

/// A tainted coin waiting for its spender.
#[derive(Debug)]
struct Live {
    taint: Taint,
    hops: u32,
}

/// Traces `seeds` forward under one model.
pub fn trace(
    graph: &MemUtxo,
    labels: &HashMap<AddressId, Label>,
    seeds: &[UtxoSeed],
    params: &Params,
    model: Model,
) -> Outcome {
    let heights: HashMap<TxNum, Height> = graph.txs().iter().map(|tx| (tx.num, tx.height)).collect();
    let in_window = |height: Height| params.from_block <= height && height <= params.to_block;
    let spent_in_window = |coin: &Coin| coin.spent_by.is_some_and(|spender| in_window(heights[&spender]));

    let seed_coins = seed_coins(graph, &heights, seeds, params);
    let mut out = Outcome::default();
    let mut live: BTreeMap<OutPoint, Live> = BTreeMap::new();
    for coin in seed_coins.values() {
        out.seeded += u128::from(coin.value.0);
        live.insert(coin.outpoint, Live { taint: Taint::full(model, coin.value.0), hops: 0 });
    }

    for tx in graph.txs().iter().filter(|tx| in_window(tx.height)) {
        let spent: Vec<Option<Live>> = tx.inputs.iter().map(|coin| live.remove(&coin.outpoint)).collect();
        let Some(nearest) = spent.iter().flatten().map(|l| l.hops).min() else {
            continue;
        };
        let hops = nearest + 1;
        let mixing = tx
            .inputs
            .iter()
            .zip(&spent)
            .any(|(c, live)| live.is_some() && c.address.is_some_and(|a| mixer(labels, params, a)));
        let (taints, fee) = if mixing {
            mix(model, &tx.inputs, &spent, &tx.outputs)
        } else {
            split(model, &tx.inputs, &spent, &tx.outputs)
        };
        out.fees += fee;
        for (coin, taint) in tx.outputs.iter().zip(taints) {
            let amount = taint.amount();
            if seed_coins.contains_key(&coin.outpoint) {
                // Tainted in full from the start: what flows in is not new.
                out.seeded -= amount;
                continue;
            }
            if amount == 0 {
                continue;
            }
            let Some(address) = coin.address else {
                out.fees += amount;
                continue;
            };
            if let Some(kind) = stop(labels, params, address, amount, hops) {
                out.end(kind, Some(address), amount, hops);
                continue;
            }
            if mixer(labels, params, address) {
                out.pass_mixer(address, amount, hops);
            }
            if spent_in_window(coin) {
                live.insert(coin.outpoint, Live { taint, hops });
            } else {
                out.end(EndKind::Held, Some(address), amount, hops);
            }
        }
    }

    // What is left are the seed coins no transaction of the window spent.
    for (outpoint, l) in live {
        out.end(EndKind::Held, seed_coins[&outpoint].address, l.taint.amount(), l.hops);
    }
    out
}

/// The coins the seeds taint: an address's coins created by the window's
/// end and not spent before its start, and each named coin regardless.
fn seed_coins(
    graph: &MemUtxo,
    heights: &HashMap<TxNum, Height>,
    seeds: &[UtxoSeed],
    params: &Params,
) -> BTreeMap<OutPoint, Coin> {
    let mut coins = BTreeMap::new();
    for seed in seeds {
        for coin in graph.coins() {
            let chosen = match *seed {
                UtxoSeed::Address(address) => {
                    coin.address == Some(address)
                        && heights[&coin.outpoint.tx] <= params.to_block
                        && coin.spent_by.is_none_or(|spender| heights[&spender] >= params.from_block)
                }
                UtxoSeed::Coin(outpoint) => coin.outpoint == outpoint,
            };
            if chosen {
                coins.insert(coin.outpoint, *coin);
            }
        }
    }
    coins
}

/// One transaction under one model: each output's taint and the taint the
/// fee takes.
fn split(model: Model, inputs: &[Coin], spent: &[Option<Live>], outputs: &[Coin]) -> (Vec<Taint>, u128) {
    let input_value: u128 = inputs.iter().map(|c| u128::from(c.value.0)).sum();
    let output_value: u128 = outputs.iter().map(|c| u128::from(c.value.0)).sum();
    match model {
        Model::Poison => {
            let taints = outputs.iter().map(|c| Taint::Amount(c.value.0.into())).collect();
            (taints, input_value.saturating_sub(output_value))
        }
        Model::Haircut => {
            let taint: u128 = spent.iter().flatten().map(|l| l.taint.amount()).sum();
            let shares: Vec<u128> = outputs.iter().map(|c| u128::from(c.value.0) * taint / input_value).collect();
            let given: u128 = shares.iter().sum();
            (shares.into_iter().map(Taint::Amount).collect(), taint - given)
        }
        Model::Fifo | Model::Lifo => {
            let mut joined: Vec<bool> = Vec::new();
            for (coin, l) in inputs.iter().zip(spent) {
                match l {
                    Some(Live { taint: Taint::Units(units), .. }) => joined.extend(units),
                    Some(Live { taint: Taint::Amount(_), .. }) => unreachable!("FIFO and LIFO keep units"),
                    None => joined.extend(vec![false; coin.value.0 as usize]),
                }
            }
            if model == Model::Lifo {
                joined.reverse();
            }
            let taints = outputs.iter().map(|c| Taint::Units(joined.drain(..c.value.0 as usize).collect())).collect();
            (taints, joined.iter().filter(|u| **u).count() as u128)
        }
    }
}

/// A mixer's transaction: T, the inputs' taint, is shared pro rata
/// by value whatever the model; FIFO and LIFO take each share as tainted
/// units followed by the output's clean rest.
fn mix(model: Model, inputs: &[Coin], spent: &[Option<Live>], outputs: &[Coin]) -> (Vec<Taint>, u128) {
    let input_value: u128 = inputs.iter().map(|c| u128::from(c.value.0)).sum();
    let taint: u128 = spent.iter().flatten().map(|l| l.taint.amount()).sum();
    let mut given = 0;
    let taints = outputs
        .iter()
        .map(|c| {
            let value = u128::from(c.value.0);
            let share = value * taint / input_value;
            given += share;
            match model {
                Model::Poison | Model::Haircut => Taint::Amount(share),
                Model::Fifo | Model::Lifo => {
                    let mut units = vec![true; share as usize];
                    units.resize(value as usize, false);
                    Taint::Units(units)
                }
            }
        })
        .collect();
    (taints, taint - given)
}
