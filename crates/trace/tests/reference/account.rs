//! The reference account tracer: replays every transfer of the chain in
//! order, keeping every address's balance, and for each address that holds
//! taint the taint in that balance under the model; at the window's end
//! whatever taint is left is held. A mixer that is followed through keeps
//! its taint as a haircut amount under every model.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chainsleuth_core::{AddressId, Label, Transfer, TransferKind, TransferPos};
use chainsleuth_trace::{EndKind, Model, Params};

use super::{mixer, stop, Outcome};
use crate::support::MemAccount;

/// An address whose taint is followed (a seed, or one that received taint).
#[derive(Debug)]
struct Tracked {
    seed: bool,
    /// A mixer followed through: its taint is `taint` under every model.
    mixer: bool,
    /// The fewest hops of any taint it received (0 for a seed).
    hops: u32,
    /// Poison: whether it ever received taint (a seed: a balance at the
    /// window's start, or anything since).
    flagged: bool,
    /// Haircut (and a mixer): how many units of its balance are tainted.
    taint: u128,
    /// FIFO and LIFO: its balance as one flag per unit (`true` = tainted),
    /// oldest first.
    units: VecDeque<bool>,
}

impl Tracked {
    fn tainted(&self, model: Model, balance: u128) -> u128 {
        match model {
            _ if self.mixer => self.taint,
            Model::Poison if self.flagged => balance,
            Model::Poison => 0,
            Model::Haircut => self.taint,
            Model::Fifo | Model::Lifo => self.units.iter().filter(|u| **u).count() as u128,
        }
    }

    /// Takes in taint a payer's transfer carried.
    fn absorb(&mut self, carried: Carried) {
        self.flagged = true;
        self.taint += carried.amount;
        self.units.extend(carried.units);
        self.hops = self.hops.min(carried.hops);
    }
}

/// The taint one transfer carries away from its payer.
#[derive(Debug)]
struct Carried {
    amount: u128,
    /// FIFO and LIFO: the units taken, in the order taken.
    units: Vec<bool>,
    hops: u32,
}

/// Traces from the seed addresses forward under one model.
pub fn trace(
    graph: &MemAccount,
    labels: &HashMap<AddressId, Label>,
    seeds: &[AddressId],
    params: &Params,
    model: Model,
) -> Outcome {
    let start = TransferPos::block_start(params.from_block);
    let mut out = Outcome::default();
    let mut balances: HashMap<AddressId, u128> = HashMap::new();
    let mut tracked: BTreeMap<AddressId, Tracked> = BTreeMap::new();
    let transfers = graph.transfers_in_order();

    for t in transfers.iter().filter(|t| t.pos < start) {
        if t.from != t.to {
            if let Some(payer) = t.from {
                pay_out(&mut balances, payer, t);
            }
            if let Some(payee) = t.to {
                *balances.entry(payee).or_default() += amount(t);
            }
        }
    }

    let mut seeds = seeds.to_vec();
    seeds.sort();
    seeds.dedup();
    for seed in seeds {
        let balance = balances.get(&seed).copied().unwrap_or(0);
        out.seeded += balance;
        let units = vec![true; balance as usize].into();
        tracked
            .insert(seed, Tracked { seed: true, mixer: false, hops: 0, flagged: balance > 0, taint: balance, units });
    }

    for t in transfers.iter().filter(|t| t.pos >= start && t.pos.height <= params.to_block) {
        if t.from == t.to {
            continue;
        }
        let amount = amount(t);
        let carried = t.from.and_then(|payer| {
            let before = pay_out(&mut balances, payer, t);
            tracked.get_mut(&payer).map(|account| pay(model, account, before, amount))
        });
        let carried = carried.filter(|c| c.amount > 0);

        // Where the carried taint goes: fees, a stop, or on to the payee.
        let arriving = match (carried, t.kind, t.to) {
            (None, _, _) => None,
            (Some(c), TransferKind::Fee | TransferKind::Debit, _) | (Some(c), _, None) => {
                out.fees += c.amount;
                None
            }
            (Some(c), _, Some(payee)) => {
                let seed = tracked.get(&payee).is_some_and(|a| a.seed);
                match stop(labels, params, payee, c.amount, c.hops) {
                    Some(kind) if !seed => {
                        out.end(kind, Some(payee), c.amount, c.hops);
                        None
                    }
                    None if !seed && mixer(labels, params, payee) => {
                        out.pass_mixer(payee, c.amount, c.hops);
                        Some(c)
                    }
                    _ => Some(c),
                }
            }
        };

        let Some(payee) = t.to else { continue };
        let balance = balances.entry(payee).or_default();
        let before = *balance;
        *balance += amount;
        match (tracked.get_mut(&payee), arriving) {
            (Some(account), arriving) if account.seed => {
                // Everything a seed receives is taint; only what was not
                // taint already is new.
                out.seeded += amount - arriving.map_or(0, |c| c.amount);
                account.flagged |= amount > 0;
                account.taint += amount;
                account.units.extend(vec![true; amount as usize]);
            }
            (Some(account), Some(c)) => account.absorb(c),
            (Some(account), None) => account.units.extend(vec![false; amount as usize]),
            (None, Some(c)) => {
                let units = vec![false; before as usize].into();
                let mixer = mixer(labels, params, payee);
                let mut account = Tracked { seed: false, mixer, hops: c.hops, flagged: false, taint: 0, units };
                account.absorb(c);
                tracked.insert(payee, account);
            }
            (None, None) => {}
        }
    }

    for (address, account) in &tracked {
        let balance = balances.get(address).copied().unwrap_or(0);
        out.end(EndKind::Held, Some(*address), account.tainted(model, balance), account.hops);
    }
    out
}

fn amount(t: &Transfer) -> u128 {
    t.amount.to::<u128>()
}

/// Debits the payer (never below zero); returns its balance before.
fn pay_out(balances: &mut HashMap<AddressId, u128>, payer: AddressId, t: &Transfer) -> u128 {
    let balance = balances.entry(payer).or_default();
    let before = *balance;
    *balance = before.saturating_sub(amount(t));
    before
}

/// The taint an outflow of `amount` carries from a tracked payer whose
/// balance was `before`, taken out of its state.
fn pay(model: Model, account: &mut Tracked, before: u128, amount: u128) -> Carried {
    let hops = account.hops + 1;
    if account.mixer {
        let share = haircut(account, before, amount);
        let mut units = vec![true; share as usize];
        units.resize(amount as usize, false);
        return Carried { amount: share, units, hops };
    }
    match model {
        Model::Poison => Carried { amount: if account.flagged { amount } else { 0 }, units: Vec::new(), hops },
        Model::Haircut => Carried { amount: haircut(account, before, amount), units: Vec::new(), hops },
        Model::Fifo | Model::Lifo => {
            let units: Vec<bool> = (0..amount)
                .map(|_| {
                    let unit = if model == Model::Fifo { account.units.pop_front() } else { account.units.pop_back() };
                    unit.unwrap_or(false)
                })
                .collect();
            Carried { amount: units.iter().filter(|u| **u).count() as u128, units, hops }
        }
    }
}

/// The haircut share of an outflow of `amount` from a balance of `before`,
/// floor(amount × taint / max(before, amount)), taken out of the taint.
fn haircut(account: &mut Tracked, before: u128, amount: u128) -> u128 {
    let base = before.max(amount);
    // 0 paid out of an empty balance carries nothing.
    let share = (amount * account.taint).checked_div(base).unwrap_or(0);
    account.taint -= share;
    share
}
