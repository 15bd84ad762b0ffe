//! Backward tracing on an account chain (Ethereum): where did a seed
//! address's funds come from, under poison and haircut (the parameters'
//! check refuses FIFO and LIFO).
//!
//! The window holds the transfers from the start of `from_block` through the
//! end of `to_block`. Zero amounts are never followed.
//!
//! - Seeds: every incoming transfer to a seed address in the window (a Move
//!   or a Credit, not a transfer to itself) is demanded in full: it is
//!   seeded, with a seed path node at hop 0. A Credit ends there as `Mined`
//!   (hop 0); a Move is a source from its payer at hop 1.
//! - Sources: a transfer into P of amount `a` from payer Q at position `p`,
//!   reached at hops `h + 1` from P's hops `h`, stops at Q, checked in this
//!   order: `Horizon` when `h + 1 > max_hops`; `Mixer` (label.mixer) or
//!   `Reached` when Q has any label; `Dust` below `min_amount`; otherwise it
//!   is a demand on Q's outflow at `p`, at Q's hops `h + 1`.
//! - A demanded outflow of P at `p` (hops `h`) is drawn from what P received
//!   before `p`: P's balance before the window (ends as `Horizon` at P, hops
//!   `h`) and each transfer into P in the window before `p`, of any kind:
//!   one without a payer (a Credit: mint, withdrawal, reward, genesis,
//!   reconcile) ends as `Mined` at P (hops `h`); one with a payer (a Move, or
//!   a fee paid to P as block producer) is a source from that payer.
//! - Poison: every such component is a source in full (its whole amount, or
//!   the whole balance before the window). Each is taken once per trace, at
//!   the fewest hops any demand reaches it with: a transfer is offered by
//!   every demand after it and judged when the trace reaches its position,
//!   when every offer is known; a balance before the window is judged after
//!   the whole trace. Poison amounts are not conserved.
//! - Haircut: P's history is replayed from the window's start with the
//!   balance before the window and each incoming transfer as components;
//!   every outflow `o` (Move, Fee or Debit) takes floor(o × c_i / max(B, o))
//!   from each component (B their sum; a payment of more than B empties
//!   them; what the floors leave stays in them). The demanded amount `a`
//!   draws floor(a × c_i / B) from each component as it stands just before
//!   `p` (nothing when B is 0); what the floors leave of `a` goes to fees.
//!   Demands on one outflow add up; the fewest hops (and that path's node)
//!   win. Haircut conserves: `seeded = reached + fees + dust + horizon +
//!   mixers + mined` (`held` stays 0 backward).
//!
//! Both models take positions newest first from a max-heap, so every demand
//! on (or offer of) a transfer is known before it is split: sources always
//! sit strictly before what they fund.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::rc::Rc;

use chainsleuth_core::{AccountGraph, AddressId, AssetId, Height, Transfer, TransferKind, TransferPos, U256};

use crate::flows::Step;
use crate::{AddressLabels, Budget, EndKind, Flows, Model, Params, TraceError};

/// Traces backward from the seed addresses (sorted, without duplicates), one
/// [`Flows`] per model in the order asked.
pub(crate) fn trace<G: AccountGraph>(
    graph: &G,
    labels: &mut dyn AddressLabels,
    asset: AssetId,
    seeds: &[AddressId],
    params: &Params,
    budget: &Budget,
) -> Result<Vec<Flows>, TraceError<G::Error>> {
    let start = TransferPos::block_start(params.from_block);
    let mut history =
        History { graph, asset, start, to: params.to_block, transfers: HashMap::new(), before: HashMap::new() };
    let mut out = Vec::new();
    for &model in &params.models {
        let mut pass = Pass { history: &mut history, labels: &mut *labels, params, budget, flows: Flows::new(model) };
        match model {
            Model::Poison => pass.poison(seeds)?,
            _ => pass.haircut(seeds)?,
        }
        out.push(pass.flows);
    }
    Ok(out)
}

/// The addresses' transfers in the window and balances before it, read once
/// and shared by the models' passes.
struct History<'g, G> {
    graph: &'g G,
    asset: AssetId,
    start: TransferPos,
    to: Height,
    transfers: HashMap<AddressId, Rc<[Transfer]>>,
    before: HashMap<AddressId, U256>,
}

impl<G: AccountGraph> History<'_, G> {
    fn transfers(&mut self, address: AddressId) -> Result<Rc<[Transfer]>, TraceError<G::Error>> {
        if let Some(transfers) = self.transfers.get(&address) {
            return Ok(transfers.clone());
        }
        let read = self.graph.transfers(address, self.asset, self.start, self.to).map_err(TraceError::Graph)?;
        let transfers: Rc<[Transfer]> = read.into();
        self.transfers.insert(address, transfers.clone());
        Ok(transfers)
    }

    fn before(&mut self, address: AddressId) -> Result<U256, TraceError<G::Error>> {
        if let Some(balance) = self.before.get(&address) {
            return Ok(*balance);
        }
        let balance = self.graph.balance_before(address, self.asset, self.start).map_err(TraceError::Graph)?;
        self.before.insert(address, balance);
        Ok(balance)
    }

    /// The seed's incoming Moves and Credits of the window, in chain order.
    fn seed_transfers(&mut self, seed: AddressId) -> Result<Vec<Transfer>, TraceError<G::Error>> {
        let transfers = self.transfers(seed)?;
        Ok(transfers
            .iter()
            .filter(|t| t.to == Some(seed) && t.from != Some(seed) && !t.amount.is_zero())
            .filter(|t| matches!(t.kind, TransferKind::Move | TransferKind::Credit))
            .copied()
            .collect())
    }
}

/// Transfers into `address` before `pos` (any kind, not to itself, not 0).
fn received_before(transfers: &[Transfer], address: AddressId, pos: TransferPos) -> impl Iterator<Item = &Transfer> {
    let end = transfers.partition_point(|t| t.pos < pos);
    transfers[..end].iter().filter(move |t| t.to == Some(address) && t.from != t.to && !t.amount.is_zero())
}

/// Haircut: what the sources of one outflow are asked to supply.
struct Demand {
    amount: U256,
    hops: u32,
    node: usize,
}

/// Haircut: the demanded outflows (position and payer), newest first.
#[derive(Default)]
struct Demands {
    asked: HashMap<(TransferPos, AddressId), Demand>,
    queue: BinaryHeap<(TransferPos, AddressId)>,
}

/// Haircut: an address's components (`None` for its balance before the
/// window, else the transfer in) with what is left of each.
type Parts = Vec<(Option<Transfer>, U256)>;

/// Poison: a transfer offered as a source, with the fewest hops of its
/// payee among the offers and that path's node.
struct Offer {
    transfer: Transfer,
    hops: u32,
    node: usize,
}

/// Poison: the offered transfers by position, newest first.
#[derive(Default)]
struct Offers {
    pending: HashMap<TransferPos, Offer>,
    queue: BinaryHeap<TransferPos>,
}

impl Offers {
    /// Offers `transfer` as a source of its payee at `hops`; the fewest hops
    /// (and that path's node) win.
    fn offer(&mut self, transfer: &Transfer, hops: u32, node: usize) {
        let offer = self.pending.entry(transfer.pos).or_insert_with(|| {
            self.queue.push(transfer.pos);
            Offer { transfer: *transfer, hops: u32::MAX, node }
        });
        if hops < offer.hops {
            offer.hops = hops;
            offer.node = node;
        }
    }
}

struct Pass<'a, 'g, G> {
    history: &'a mut History<'g, G>,
    labels: &'a mut dyn AddressLabels,
    params: &'a Params,
    budget: &'a Budget,
    flows: Flows,
}

impl<G: AccountGraph> Pass<'_, '_, G> {
    /// Where a source from `payer` stops at `hops`, if it does.
    fn stop(&mut self, payer: AddressId, amount: U256, hops: u32) -> Result<Option<EndKind>, TraceError<G::Error>> {
        if hops > self.params.max_hops {
            return Ok(Some(EndKind::Horizon));
        }
        if let Some(label) = self.labels.label(payer).map_err(TraceError::Labels)? {
            return Ok(Some(if label.mixer { EndKind::Mixer } else { EndKind::Reached }));
        }
        Ok((amount < self.params.min_amount).then_some(EndKind::Dust))
    }

    fn seed_node(&mut self, seed: AddressId, amount: U256) -> usize {
        self.flows.totals.seeded += amount;
        self.flows.node(None, Some(seed), amount, None)
    }

    fn poison(&mut self, seeds: &[AddressId]) -> Result<(), TraceError<G::Error>> {
        let mut offers = Offers::default();
        let mut demanded: BTreeMap<AddressId, (u32, usize)> = BTreeMap::new();
        for &seed in seeds {
            for t in self.history.seed_transfers(seed)? {
                let node = self.seed_node(seed, t.amount);
                offers.offer(&t, 0, node);
            }
        }
        while let Some(pos) = offers.queue.pop() {
            let Offer { transfer, hops, node } = offers.pending.remove(&pos).expect("queued positions are offered");
            let payee = transfer.to.expect("an offered transfer pays an address");
            let Some(payer) = transfer.from else {
                self.flows.end(EndKind::Mined, Some(payee), transfer.amount, hops, node);
                continue;
            };
            let hops = hops + 1;
            let node = self.flows.node(Some(Step::Transfer(pos)), Some(payer), transfer.amount, Some(node));
            if let Some(kind) = self.stop(payer, transfer.amount, hops)? {
                self.flows.end(kind, Some(payer), transfer.amount, hops, node);
                continue;
            }
            let transfers = self.history.transfers(payer)?;
            let units = transfers.partition_point(|t| t.pos < pos) as u64;
            self.flows.visited += units;
            self.budget.spend(units.max(1))?;
            for t in received_before(&transfers, payer, pos) {
                offers.offer(t, hops, node);
            }
            let fewest = demanded.entry(payer).or_insert((hops, node));
            if hops < fewest.0 {
                *fewest = (hops, node);
            }
        }
        for (address, (hops, node)) in demanded {
            let before = self.history.before(address)?;
            if !before.is_zero() {
                self.flows.end(EndKind::Horizon, Some(address), before, hops, node);
            }
        }
        Ok(())
    }

    fn haircut(&mut self, seeds: &[AddressId]) -> Result<(), TraceError<G::Error>> {
        let mut demands = Demands::default();
        for &seed in seeds {
            for t in self.history.seed_transfers(seed)? {
                let node = self.seed_node(seed, t.amount);
                match t.from {
                    None => self.flows.end(EndKind::Mined, Some(seed), t.amount, 0, node),
                    Some(payer) => self.source(&t, payer, t.amount, 1, node, &mut demands)?,
                }
            }
        }
        while let Some((pos, payer)) = demands.queue.pop() {
            let demand = demands.asked.remove(&(pos, payer)).expect("queued outflows are demanded");
            let (parts, balance) = self.components(payer, pos)?;
            let mut given = U256::ZERO;
            if !balance.is_zero() {
                for (source, part) in parts {
                    let draw = demand.amount * part / balance;
                    if draw.is_zero() {
                        continue;
                    }
                    given += draw;
                    let (hops, node) = (demand.hops, demand.node);
                    match source {
                        None => self.flows.end(EndKind::Horizon, Some(payer), draw, hops, node),
                        Some(t) => match t.from {
                            None => self.flows.end(EndKind::Mined, Some(payer), draw, hops, node),
                            Some(from) => self.source(&t, from, draw, hops + 1, node, &mut demands)?,
                        },
                    }
                }
            }
            self.flows.totals.fees += demand.amount - given;
        }
        Ok(())
    }

    /// Haircut: `payer`'s non-empty components just before `pos` and their
    /// sum.
    fn components(&mut self, payer: AddressId, pos: TransferPos) -> Result<(Parts, U256), TraceError<G::Error>> {
        let transfers = self.history.transfers(payer)?;
        let before = self.history.before(payer)?;
        let end = transfers.partition_point(|t| t.pos < pos);
        self.flows.visited += end as u64;
        self.budget.spend((end as u64).max(1))?;
        let mut parts: Parts = Vec::new();
        if !before.is_zero() {
            parts.push((None, before));
        }
        let mut balance = before;
        for t in &transfers[..end] {
            if t.from == t.to || t.amount.is_zero() {
                continue;
            }
            if t.to == Some(payer) {
                parts.push((Some(*t), t.amount));
                balance += t.amount;
                continue;
            }
            let base = balance.max(t.amount);
            for (_, part) in &mut parts {
                let take = t.amount * *part / base;
                *part -= take;
                balance -= take;
            }
            parts.retain(|(_, part)| !part.is_zero());
        }
        Ok((parts, balance))
    }

    /// Haircut: `amount` drawn from the transfer `t` paid by `payer`, at the
    /// payer's `hops`: a stop, or a demand on the payer's outflow.
    fn source(
        &mut self,
        t: &Transfer,
        payer: AddressId,
        amount: U256,
        hops: u32,
        parent: usize,
        demands: &mut Demands,
    ) -> Result<(), TraceError<G::Error>> {
        let node = self.flows.node(Some(Step::Transfer(t.pos)), Some(payer), amount, Some(parent));
        if let Some(kind) = self.stop(payer, amount, hops)? {
            self.flows.end(kind, Some(payer), amount, hops, node);
            return Ok(());
        }
        let key = (t.pos, payer);
        let demand = demands.asked.entry(key).or_insert_with(|| {
            demands.queue.push(key);
            Demand { amount: U256::ZERO, hops: u32::MAX, node }
        });
        demand.amount += amount;
        if hops < demand.hops {
            demand.hops = hops;
            demand.node = node;
        }
        Ok(())
    }
}
