//! A reference tracer written for clarity, not speed: it walks the in-memory
//! graphs of `support` directly, one model at a time, keeping FIFO and LIFO
//! taint as one flag per unit. It shares no code with the crate's kernels;
//! only the public result types (`Totals`, `EndKind`) are borrowed so the
//! results compare directly.

pub mod account;
pub mod account_back;
pub mod utxo;

use std::collections::BTreeMap;

use chainsleuth_core::{AddressId, U256};
use chainsleuth_trace::{EndKind, Flows, Totals};

/// One place where taint stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct End {
    /// Why.
    pub kind: EndKind,
    /// Where (`None` for an unspendable output).
    pub address: Option<AddressId>,
    /// How much.
    pub amount: u128,
    /// Hops from the nearest seed.
    pub hops: u32,
}

/// What the reference found under one model.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Where the seeded taint went (small amounts, kept as `u128`).
    pub seeded: u128,
    /// Taint paid as fees or burned.
    pub fees: u128,
    /// Every stop.
    pub ends: Vec<End>,
    /// With `through_mixers`: every time taint entered a mixer and went on
    /// through it (kind `Mixer`, in no total).
    pub passed: Vec<End>,
}

impl Outcome {
    /// Records a stop (nothing for an empty one).
    pub fn end(&mut self, kind: EndKind, address: Option<AddressId>, amount: u128, hops: u32) {
        if amount > 0 {
            self.ends.push(End { kind, address, amount, hops });
        }
    }

    /// Records taint going on through a mixer.
    pub fn pass_mixer(&mut self, address: AddressId, amount: u128, hops: u32) {
        self.passed.push(End { kind: EndKind::Mixer, address: Some(address), amount, hops });
    }

    fn sum(&self, kind: EndKind) -> U256 {
        U256::from(self.ends.iter().filter(|e| e.kind == kind).map(|e| e.amount).sum::<u128>())
    }

    /// The totals, as the tracer reports them.
    pub fn totals(&self) -> Totals {
        Totals {
            seeded: U256::from(self.seeded),
            reached: self.sum(EndKind::Reached),
            held: self.sum(EndKind::Held),
            fees: U256::from(self.fees),
            dust: self.sum(EndKind::Dust),
            horizon: self.sum(EndKind::Horizon),
            mixers: self.sum(EndKind::Mixer),
            mined: self.sum(EndKind::Mined),
        }
    }

    /// The amount that ended in each address, for one kind of end.
    pub fn by_address(&self, kind: EndKind) -> BTreeMap<Option<AddressId>, U256> {
        let mut out = BTreeMap::new();
        for end in self.ends.iter().filter(|e| e.kind == kind) {
            *out.entry(end.address).or_insert(U256::ZERO) += U256::from(end.amount);
        }
        out
    }

    /// Every stop with its hops, sorted.
    pub fn sorted_ends(&self) -> Vec<(EndKind, Option<AddressId>, U256, u32)> {
        let mut ends: Vec<_> = self.ends.iter().map(|e| (e.kind, e.address, U256::from(e.amount), e.hops)).collect();
        ends.sort();
        ends
    }

    /// Every pass through a mixer as (address, amount, hops), sorted.
    pub fn sorted_passed(&self) -> Vec<(Option<AddressId>, U256, u32)> {
        let mut passed: Vec<_> = self.passed.iter().map(|e| (e.address, U256::from(e.amount), e.hops)).collect();
        passed.sort();
        passed
    }
}

/// The tracer's passes through mixers, sorted as [`Outcome::sorted_passed`].
pub fn sorted_passed(flows: &Flows) -> Vec<(Option<AddressId>, U256, u32)> {
    let mut passed: Vec<_> = flows.mixers_passed.iter().map(|e| (e.address, e.amount, e.hops)).collect();
    passed.sort();
    passed
}

/// The tracer's stops, sorted the same way as [`Outcome::sorted_ends`].
pub fn sorted_ends(flows: &Flows) -> Vec<(EndKind, Option<AddressId>, U256, u32)> {
    let mut ends: Vec<_> = flows.ends.iter().map(|e| (e.kind, e.address, e.amount, e.hops)).collect();
    ends.sort();
    ends
}

/// Whether `address` is a mixer the trace goes through.
pub fn mixer(
    labels: &std::collections::HashMap<AddressId, chainsleuth_core::Label>,
    params: &chainsleuth_trace::Params,
    address: AddressId,
) -> bool {
    params.through_mixers && labels.get(&address).is_some_and(|l| l.mixer)
}

/// Why newly tainted value stops at `address`, checked in the spec's order:
/// the horizon, an off-ramp, a mixer (unless followed through), dust.
pub fn stop(
    labels: &std::collections::HashMap<AddressId, chainsleuth_core::Label>,
    params: &chainsleuth_trace::Params,
    address: AddressId,
    amount: u128,
    hops: u32,
) -> Option<EndKind> {
    let label = labels.get(&address);
    if hops > params.max_hops {
        Some(EndKind::Horizon)
    } else if label.is_some_and(|l| l.off_ramp) {
        Some(EndKind::Reached)
    } else if label.is_some_and(|l| l.mixer) && !params.through_mixers {
        Some(EndKind::Mixer)
    } else if U256::from(amount) < params.min_amount {
        Some(EndKind::Dust)
    } else {
        None
    }
}
