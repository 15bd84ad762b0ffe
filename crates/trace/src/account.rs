//! The account kernel (Ethereum): taint rides on balances. Every address
//! that holds taint replays its transfers of the asset in chain order; the
//! replays of all tainted addresses are merged by position, so a transfer
//! between two of them is paid out before it is received.
//!
//! Per address and model the state is the balance and the taint in it: a
//! flag (poison), an amount (haircut) or a queue of clean and tainted parts
//! (FIFO takes from the front, LIFO from the back). A balance held before
//! the address first received taint is its oldest, clean part.
//!
//! A mixer the trace goes through (`through_mixers`) keeps its taint as a
//! haircut amount under every model; its outflows carry their haircut
//! share (FIFO and LIFO: as the tainted share, then the clean rest).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chainsleuth_core::{AccountGraph, AddressId, AssetId, Transfer, TransferKind, TransferPos, U256};

use crate::flows::Step;
use crate::parts::{Part, Parts};
use crate::{AddressLabels, Budget, EndKind, Flows, Model, Params, TraceError};

/// The taint an outgoing transfer carries to its payee.
struct Carried {
    parts: Parts,
    amount: U256,
    hops: u32,
    node: usize,
}

struct Account {
    balance: U256,
    /// Haircut, and a mixer under every model: the tainted amount.
    taint: U256,
    /// A mixer the trace goes through.
    mixer: bool,
    /// Poison: whether any taint was ever received.
    flag: bool,
    /// FIFO and LIFO: the balance as parts, oldest first.
    parts: Parts,
    hops: u32,
    node: Option<usize>,
    seed: bool,
    transfers: Vec<Transfer>,
    next: usize,
}

impl Account {
    /// The haircut share an outflow of `amount` carries, floor(a × t / B)
    /// with B = max(balance, a), taken out of the taint.
    fn haircut(&mut self, amount: U256) -> U256 {
        let base = self.balance.max(amount);
        let share = if base.is_zero() { U256::ZERO } else { amount * self.taint / base };
        self.taint -= share;
        share
    }

    fn tainted(&self, model: Model) -> U256 {
        if self.mixer {
            return self.taint;
        }
        match model {
            Model::Poison if !self.flag => U256::ZERO,
            Model::Poison => self.balance,
            Model::Haircut => self.taint,
            Model::Fifo | Model::Lifo => self.parts.tainted(),
        }
    }
}

/// Traces from the seed addresses, for one asset, under each of
/// `params.models` (forward, or backward under poison and haircut); one
/// [`Flows`] per model in the order asked. The parameters must have passed
/// [`Params::check`].
pub fn trace_account<G: AccountGraph>(
    graph: &G,
    labels: &mut dyn AddressLabels,
    asset: AssetId,
    seeds: &[AddressId],
    params: &Params,
) -> Result<Vec<Flows>, TraceError<G::Error>> {
    trace_account_within(graph, labels, asset, seeds, params, &Budget::unlimited())
}

/// [`trace_account`] within `budget`: stops with [`TraceError::Stopped`]
/// when it is cancelled or spent.
pub fn trace_account_within<G: AccountGraph>(
    graph: &G,
    labels: &mut dyn AddressLabels,
    asset: AssetId,
    seeds: &[AddressId],
    params: &Params,
    budget: &Budget,
) -> Result<Vec<Flows>, TraceError<G::Error>> {
    budget.check()?;
    let mut seeds = seeds.to_vec();
    seeds.sort();
    seeds.dedup();
    if params.direction == crate::Direction::Backward {
        return crate::account_back::trace(graph, labels, asset, &seeds, params, budget);
    }
    params
        .models
        .iter()
        .map(|&model| Pass { graph, labels: &mut *labels, asset, params, model, budget }.run(&seeds))
        .collect()
}

struct Pass<'a, G> {
    graph: &'a G,
    labels: &'a mut dyn AddressLabels,
    asset: AssetId,
    params: &'a Params,
    model: Model,
    budget: &'a Budget,
}

/// The merge order: position, then payers before payees, then address.
type Key = Reverse<(TransferPos, bool, AddressId)>;

/// What a transfer out carries: its parts, tainted amount, hops and path node.
type Paid = (Parts, U256, u32, usize);

impl<G: AccountGraph> Pass<'_, G> {
    fn run(mut self, seeds: &[AddressId]) -> Result<Flows, TraceError<G::Error>> {
        let mut flows = Flows::new(self.model);
        let mut accounts: HashMap<AddressId, Account> = HashMap::new();
        let mut queue: BinaryHeap<Key> = BinaryHeap::new();
        let mut pending: HashMap<(TransferPos, AddressId), Carried> = HashMap::new();
        let start = TransferPos::block_start(self.params.from_block);

        for &seed in seeds {
            let mut account = self.open(seed, start)?;
            account.seed = true;
            account.hops = 0;
            flows.totals.seeded += account.balance;
            account.taint = account.balance;
            account.flag = !account.balance.is_zero();
            account.parts = Parts::one(true, account.balance);
            account.node = Some(flows.node(None, Some(seed), account.balance, None));
            self.schedule(&mut queue, seed, &account);
            accounts.insert(seed, account);
        }

        while let Some(Reverse((_, _, address))) = queue.pop() {
            let account = accounts.get_mut(&address).expect("queued accounts are open");
            let transfer = account.transfers[account.next];
            account.next += 1;
            flows.visited += 1;
            self.budget.spend(1)?;
            let outgoing = transfer.from == Some(address);
            let incoming = transfer.to == Some(address);
            if incoming && !outgoing {
                let carried = pending.remove(&(transfer.pos, address));
                self.receive(&mut flows, account, transfer.amount, carried);
            } else if outgoing && !incoming {
                if let Some(carried) = self.pay(account, transfer.amount) {
                    self.route(&mut flows, &transfer, carried, &mut accounts, &mut pending, &mut queue)?;
                }
            }
            let account = accounts.get(&address).expect("still open");
            self.schedule(&mut queue, address, account);
        }

        let mut held: Vec<(&AddressId, &Account)> = accounts.iter().collect();
        held.sort_by_key(|(a, _)| **a);
        for (address, account) in held {
            let amount = account.tainted(self.model);
            if !amount.is_zero() {
                let node = account.node.expect("a tainted account has a path");
                flows.end(EndKind::Held, Some(*address), amount, account.hops, node);
            }
        }
        Ok(flows)
    }

    fn open(&self, address: AddressId, from: TransferPos) -> Result<Account, TraceError<G::Error>> {
        let balance = self.graph.balance_before(address, self.asset, from).map_err(TraceError::Graph)?;
        let transfers =
            self.graph.transfers(address, self.asset, from, self.params.to_block).map_err(TraceError::Graph)?;
        Ok(Account {
            balance,
            taint: U256::ZERO,
            mixer: false,
            flag: false,
            parts: Parts::one(false, balance),
            hops: u32::MAX,
            node: None,
            seed: false,
            transfers,
            next: 0,
        })
    }

    fn schedule(&self, queue: &mut BinaryHeap<Key>, address: AddressId, account: &Account) {
        if let Some(t) = account.transfers.get(account.next) {
            let payee = t.to == Some(address) && t.from != Some(address);
            queue.push(Reverse((t.pos, payee, address)));
        }
    }

    /// A transfer in: the balance grows, and so does the taint by what the
    /// payer's transfer carried (at a seed, everything is taint).
    fn receive(&self, flows: &mut Flows, account: &mut Account, amount: U256, carried: Option<Carried>) {
        account.balance += amount;
        if account.seed {
            let already = carried.map_or(U256::ZERO, |c| c.amount);
            flows.totals.seeded += amount - already;
            account.taint = account.balance;
            account.flag |= !amount.is_zero();
            account.parts.push_back(Part { tainted: true, amount });
            return;
        }
        let Some(carried) = carried else {
            account.parts.push_back(Part { tainted: false, amount });
            return;
        };
        account.taint += carried.amount;
        account.flag = true;
        account.parts.extend(carried.parts);
        if carried.hops < account.hops || account.node.is_none() {
            account.hops = carried.hops;
            account.node = Some(carried.node);
        }
    }

    /// A transfer out of `amount`: the taint it carries under the model
    /// (none when it carries none).
    fn pay(&self, account: &mut Account, amount: U256) -> Option<Paid> {
        let (parts, taint) = match self.model {
            _ if account.mixer => {
                let taint = account.haircut(amount);
                let mut parts = Parts::one(true, taint);
                parts.push_back(Part { tainted: false, amount: amount - taint });
                (parts, taint)
            }
            Model::Poison => {
                let taint = if account.flag { amount } else { U256::ZERO };
                (Parts::one(!taint.is_zero(), amount), taint)
            }
            Model::Haircut => (Parts::default(), account.haircut(amount)),
            Model::Fifo => {
                let parts = account.parts.take_front(amount);
                let taint = parts.tainted();
                (parts, taint)
            }
            Model::Lifo => {
                let parts = account.parts.take_back(amount);
                let taint = parts.tainted();
                (parts, taint)
            }
        };
        account.balance = account.balance.saturating_sub(amount);
        let node = account.node?;
        (!taint.is_zero()).then_some((parts, taint, account.hops.saturating_add(1), node))
    }

    /// Where the taint of a transfer out goes: fees, a stop, or the payee.
    fn route(
        &mut self,
        flows: &mut Flows,
        transfer: &Transfer,
        (parts, amount, hops, parent): Paid,
        accounts: &mut HashMap<AddressId, Account>,
        pending: &mut HashMap<(TransferPos, AddressId), Carried>,
        queue: &mut BinaryHeap<Key>,
    ) -> Result<(), TraceError<G::Error>> {
        let payee = match (transfer.kind, transfer.to) {
            (TransferKind::Move | TransferKind::Credit, Some(payee)) => payee,
            _ => {
                flows.totals.fees += amount;
                return Ok(());
            }
        };
        let seed = accounts.get(&payee).is_some_and(|a| a.seed);
        let mut mixer = false;
        if !seed {
            let node = flows.node(Some(Step::Transfer(transfer.pos)), Some(payee), amount, Some(parent));
            if hops > self.params.max_hops {
                flows.end(EndKind::Horizon, Some(payee), amount, hops, node);
                return Ok(());
            }
            if let Some(label) = self.labels.label(payee).map_err(TraceError::Labels)? {
                if label.off_ramp || (self.params.any_label && !label.mixer) {
                    flows.end(EndKind::Reached, Some(payee), amount, hops, node);
                    return Ok(());
                }
                if label.mixer && !self.params.through_mixers {
                    flows.end(EndKind::Mixer, Some(payee), amount, hops, node);
                    return Ok(());
                }
                mixer = label.mixer;
            }
            if amount < self.params.min_amount {
                flows.end(EndKind::Dust, Some(payee), amount, hops, node);
                return Ok(());
            }
            if mixer {
                flows.pass_mixer(Some(payee), amount, hops, node);
            }
            pending.insert((transfer.pos, payee), Carried { parts, amount, hops, node });
        } else {
            pending.insert((transfer.pos, payee), Carried { parts, amount, hops, node: parent });
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = accounts.entry(payee) {
            let mut account = self.open(payee, transfer.pos)?;
            account.mixer = mixer;
            self.schedule(queue, payee, &account);
            slot.insert(account);
        }
        Ok(())
    }
}
