//! What a trace finds under one model: the totals, every place taint
//! stopped, and the path nodes that make each stop's evidence.

use std::collections::BTreeMap;

use chainsleuth_core::{AddressId, TransferPos, TxNum, U256};
use serde::Serialize;

use crate::Model;

/// Where the seeded taint ended, in the asset's smallest unit. For every
/// model but poison `seeded = reached + held + fees + dust + horizon + mixers`
/// (+ `mined`, which only a backward trace fills).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Taint put in by the seeds.
    pub seeded: U256,
    /// Taint that reached an off-ramp.
    pub reached: U256,
    /// Taint still held (unspent, or not yet moved) at the window's end.
    pub held: U256,
    /// Taint paid as fees (or burned).
    pub fees: U256,
    /// Taint that ended below the dust limit.
    pub dust: U256,
    /// Taint that went beyond the hop horizon.
    pub horizon: U256,
    /// Taint that went into a mixer.
    pub mixers: U256,
    /// Backward only: value traced back to coinbases (newly mined coins).
    pub mined: U256,
}

impl Totals {
    /// Everything taint ended in.
    pub fn ended(&self) -> U256 {
        self.reached + self.held + self.fees + self.dust + self.horizon + self.mixers + self.mined
    }
}

/// Why a piece of taint stopped being followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndKind {
    /// At an address labelled as a fiat off-ramp.
    Reached,
    /// Still there at the window's end.
    Held,
    /// Below the dust limit.
    Dust,
    /// More hops from a seed than allowed.
    Horizon,
    /// At an address labelled as a mixer.
    Mixer,
    /// Backward only: at a coinbase (newly mined coins).
    Mined,
}

/// Where one step of a path happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// A UTXO transaction.
    Tx(TxNum),
    /// An account-chain transfer.
    Transfer(TransferPos),
}

/// One node of the evidence tree: a coin (or a transfer's arrival) that
/// carried taint, and the node it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathNode {
    /// The transaction or transfer that made it (`None` for a seed).
    pub step: Option<Step>,
    /// The address it paid.
    pub address: Option<AddressId>,
    /// The taint it carried.
    pub amount: U256,
    /// The node it came from (on a shortest tainted path); `None` for a seed.
    pub parent: Option<usize>,
}

/// One step of a path, as reports list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The transaction or transfer.
    pub step: Step,
    /// From where.
    pub from: Option<AddressId>,
    /// To where.
    pub to: Option<AddressId>,
    /// The taint that moved.
    pub amount: U256,
}

/// One place where taint stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Why it stopped.
    pub kind: EndKind,
    /// Where (`None` for an unspendable output).
    pub address: Option<AddressId>,
    /// How much.
    pub amount: U256,
    /// Hops from the nearest seed.
    pub hops: u32,
    /// The path node that carried it there.
    pub node: usize,
}

/// Everything one model found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flows {
    /// The model.
    pub model: Model,
    /// The totals.
    pub totals: Totals,
    /// Every stop, in the order the trace met them (chain order).
    pub ends: Vec<End>,
    /// The evidence tree the ends point into.
    pub nodes: Vec<PathNode>,
    /// Coins (UTXO) or transfers (account) the trace read.
    pub visited: u64,
    /// With `through_mixers`: each time taint entered a mixer and was
    /// followed on through it (held there or passed on), as an end of kind
    /// [`EndKind::Mixer`] that is in no total, so reports can still flag the
    /// mixers a path went through.
    pub mixers_passed: Vec<End>,
}

impl Flows {
    pub(crate) fn new(model: Model) -> Self {
        Flows {
            model,
            totals: Totals::default(),
            ends: Vec::new(),
            nodes: Vec::new(),
            visited: 0,
            mixers_passed: Vec::new(),
        }
    }

    pub(crate) fn node(
        &mut self,
        step: Option<Step>,
        address: Option<AddressId>,
        amount: U256,
        parent: Option<usize>,
    ) -> usize {
        self.nodes.push(PathNode { step, address, amount, parent });
        self.nodes.len() - 1
    }

    pub(crate) fn end(&mut self, kind: EndKind, address: Option<AddressId>, amount: U256, hops: u32, node: usize) {
        let bucket = match kind {
            EndKind::Reached => &mut self.totals.reached,
            EndKind::Held => &mut self.totals.held,
            EndKind::Dust => &mut self.totals.dust,
            EndKind::Horizon => &mut self.totals.horizon,
            EndKind::Mixer => &mut self.totals.mixers,
            EndKind::Mined => &mut self.totals.mined,
        };
        *bucket += amount;
        self.ends.push(End { kind, address, amount, hops, node });
    }

    /// Taint entered a mixer and goes on through it (no total changes).
    pub(crate) fn pass_mixer(&mut self, address: Option<AddressId>, amount: U256, hops: u32, node: usize) {
        self.mixers_passed.push(End { kind: EndKind::Mixer, address, amount, hops, node });
    }

    /// The amount that ended in each address, for one kind of end.
    pub fn by_address(&self, kind: EndKind) -> BTreeMap<Option<AddressId>, U256> {
        let mut out = BTreeMap::new();
        for end in self.ends.iter().filter(|e| e.kind == kind) {
            *out.entry(end.address).or_insert(U256::ZERO) += end.amount;
        }
        out
    }

    /// The path from a seed to an end: each step's transaction, from, to and
    /// the taint it carried, seed first.
    pub fn path(&self, end: &End) -> Vec<Hop> {
        let mut hops = Vec::new();
        let mut at = Some(end.node);
        while let Some(i) = at {
            let node = &self.nodes[i];
            if let Some(step) = node.step {
                let from = node.parent.and_then(|p| self.nodes[p].address);
                hops.push(Hop { step, from, to: node.address, amount: node.amount });
            }
            at = node.parent;
        }
        hops.reverse();
        hops
    }
}
