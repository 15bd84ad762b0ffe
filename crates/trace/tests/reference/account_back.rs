//! The reference backward account tracer, on the window's transfers in a
//! plain list. Poison finds each source's fewest hops by relaxing every
//! transfer until nothing changes; haircut walks the window newest first
//! and, for each demanded outflow, replays its payer's history from the
//! window's start into a map of components.

use std::collections::{BTreeMap, HashMap};

use chainsleuth_core::{AddressId, Label, Transfer, TransferKind, TransferPos, U256};
use chainsleuth_trace::{EndKind, Model, Params};

use super::Outcome;
use crate::support::MemAccount;

/// Where a share of an address's balance came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// Its balance before the window.
    Before,
    /// The transfer in at this position.
    Received(TransferPos),
}

/// The window and the balances before it.
struct Window<'a> {
    transfers: Vec<&'a Transfer>,
    before: HashMap<AddressId, u128>,
    labels: &'a HashMap<AddressId, Label>,
    params: &'a Params,
}

/// Traces backward from the seed addresses under one model (poison or
/// haircut).
pub fn trace(
    graph: &MemAccount,
    labels: &HashMap<AddressId, Label>,
    seeds: &[AddressId],
    params: &Params,
    model: Model,
) -> Outcome {
    let start = TransferPos::block_start(params.from_block);
    let mut before: HashMap<AddressId, u128> = HashMap::new();
    for t in graph.transfers_in_order().iter().filter(|t| t.pos < start && t.from != t.to) {
        if let Some(payer) = t.from {
            let balance = before.entry(payer).or_default();
            *balance = balance.saturating_sub(amount(t));
        }
        if let Some(payee) = t.to {
            *before.entry(payee).or_default() += amount(t);
        }
    }
    let transfers = graph
        .transfers_in_order()
        .iter()
        .filter(|t| t.pos >= start && t.pos.height <= params.to_block && t.from != t.to && amount(t) > 0)
        .collect();
    let window = Window { transfers, before, labels, params };
    let mut seeds = seeds.to_vec();
    seeds.sort();
    seeds.dedup();
    match model {
        Model::Poison => window.poison(&seeds),
        Model::Haircut => window.haircut(&seeds),
        Model::Fifo | Model::Lifo => unreachable!("backward traces poison and haircut only"),
    }
}

fn amount(t: &Transfer) -> u128 {
    t.amount.to::<u128>()
}

impl Window<'_> {
    /// The seeds' incoming Moves and Credits, by index in the window.
    fn seed_transfers(&self, seeds: &[AddressId]) -> Vec<(AddressId, usize)> {
        let mut out = Vec::new();
        for &seed in seeds {
            for (i, t) in self.transfers.iter().enumerate() {
                if t.to == Some(seed) && matches!(t.kind, TransferKind::Move | TransferKind::Credit) {
                    out.push((seed, i));
                }
            }
        }
        out
    }

    /// Why a source from `payer` stops: the horizon, any label (a mixer's,
    /// else reached), dust.
    fn stop(&self, payer: AddressId, amount: u128, hops: u32) -> Option<EndKind> {
        if hops > self.params.max_hops {
            Some(EndKind::Horizon)
        } else if let Some(label) = self.labels.get(&payer) {
            Some(if label.mixer { EndKind::Mixer } else { EndKind::Reached })
        } else if U256::from(amount) < self.params.min_amount {
            Some(EndKind::Dust)
        } else {
            None
        }
    }

    /// Poison: each transfer's fewest payee hops, to a fixed point; then
    /// every source ends once.
    fn poison(&self, seeds: &[AddressId]) -> Outcome {
        let mut out = Outcome::default();
        let mut hops: Vec<Option<u32>> = vec![None; self.transfers.len()];
        for (_, i) in self.seed_transfers(seeds) {
            out.seeded += amount(self.transfers[i]);
            hops[i] = Some(0);
        }
        loop {
            let mut changed = false;
            for i in 0..self.transfers.len() {
                let Some((payer, h)) = self.continues(i, hops[i]) else { continue };
                for (earlier, old) in self.transfers[..i].iter().zip(&mut hops) {
                    if earlier.to == Some(payer) && old.is_none_or(|old| h < old) {
                        *old = Some(h);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut demanded: BTreeMap<AddressId, u32> = BTreeMap::new();
        for (i, t) in self.transfers.iter().enumerate() {
            let Some(h) = hops[i] else { continue };
            match t.from {
                None => out.end(EndKind::Mined, t.to, amount(t), h),
                Some(payer) => match self.stop(payer, amount(t), h + 1) {
                    Some(kind) => out.end(kind, Some(payer), amount(t), h + 1),
                    None => {
                        let fewest = demanded.entry(payer).or_insert(h + 1);
                        *fewest = (*fewest).min(h + 1);
                    }
                },
            }
        }
        for (address, h) in demanded {
            out.end(EndKind::Horizon, Some(address), self.before.get(&address).copied().unwrap_or(0), h);
        }
        out
    }

    /// Poison: the payer of transfer `i` and its hops, when the transfer is
    /// a source (`hops`: its payee's) that does not stop at its payer.
    fn continues(&self, i: usize, hops: Option<u32>) -> Option<(AddressId, u32)> {
        let t = self.transfers[i];
        let (payer, h) = (t.from?, hops? + 1);
        self.stop(payer, amount(t), h).is_none().then_some((payer, h))
    }

    /// Haircut: demands on outflows by position (amount, fewest hops),
    /// taken newest first.
    fn haircut(&self, seeds: &[AddressId]) -> Outcome {
        let mut out = Outcome::default();
        let mut demands: BTreeMap<TransferPos, (u128, u32)> = BTreeMap::new();
        for (seed, i) in self.seed_transfers(seeds) {
            let t = self.transfers[i];
            out.seeded += amount(t);
            match t.from {
                None => out.end(EndKind::Mined, Some(seed), amount(t), 0),
                Some(payer) => self.draw(&mut out, &mut demands, t.pos, payer, amount(t), 1),
            }
        }
        for t in self.transfers.iter().rev() {
            let Some((asked, hops)) = demands.remove(&t.pos) else { continue };
            let payer = t.from.expect("a demanded transfer has a payer");
            let parts = self.components(payer, t.pos);
            let balance: u128 = parts.values().sum();
            if balance == 0 {
                out.fees += asked;
                continue;
            }
            let mut given = 0;
            for (source, part) in parts {
                let share = asked * part / balance;
                given += share;
                match source {
                    Source::Before => out.end(EndKind::Horizon, Some(payer), share, hops),
                    Source::Received(pos) => {
                        let received = self.transfers.iter().find(|s| s.pos == pos).expect("a component's transfer");
                        match received.from {
                            None => out.end(EndKind::Mined, Some(payer), share, hops),
                            Some(from) if share > 0 => self.draw(&mut out, &mut demands, pos, from, share, hops + 1),
                            Some(_) => {}
                        }
                    }
                }
            }
            out.fees += asked - given;
        }
        out
    }

    /// Haircut: `amount` drawn from the transfer at `pos` paid by `payer`,
    /// at the payer's `hops`.
    fn draw(
        &self,
        out: &mut Outcome,
        demands: &mut BTreeMap<TransferPos, (u128, u32)>,
        pos: TransferPos,
        payer: AddressId,
        amount: u128,
        hops: u32,
    ) {
        match self.stop(payer, amount, hops) {
            Some(kind) => out.end(kind, Some(payer), amount, hops),
            None => {
                let demand = demands.entry(pos).or_insert((0, hops));
                demand.0 += amount;
                demand.1 = demand.1.min(hops);
            }
        }
    }

    /// Haircut: `address`'s balance just before `pos` by where it came from:
    /// every outflow takes floor(o × c / max(B, o)) from each component c.
    fn components(&self, address: AddressId, pos: TransferPos) -> BTreeMap<Source, u128> {
        let mut parts = BTreeMap::from([(Source::Before, self.before.get(&address).copied().unwrap_or(0))]);
        for t in self.transfers.iter().filter(|t| t.pos < pos) {
            if t.to == Some(address) {
                parts.insert(Source::Received(t.pos), amount(t));
            } else if t.from == Some(address) {
                let balance: u128 = parts.values().sum();
                let base = balance.max(amount(t));
                for part in parts.values_mut() {
                    *part -= amount(t) * *part / base;
                }
            }
        }
        parts
    }
}
