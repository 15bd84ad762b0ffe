//! Taint as the models carry it: an amount (poison, haircut) or an ordered
//! list of clean and tainted parts (FIFO, LIFO).

use std::collections::VecDeque;

use chainsleuth_core::U256;

/// A run of units that are all clean or all tainted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    pub tainted: bool,
    pub amount: U256,
}

/// An ordered list of parts, oldest first. Adjacent parts of the same kind
/// are merged and empty parts dropped, so equal lists compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parts(VecDeque<Part>);

impl Parts {
    pub fn one(tainted: bool, amount: U256) -> Self {
        let mut parts = Parts::default();
        parts.push_back(Part { tainted, amount });
        parts
    }

    pub fn push_back(&mut self, part: Part) {
        if part.amount.is_zero() {
            return;
        }
        match self.0.back_mut() {
            Some(last) if last.tainted == part.tainted => last.amount += part.amount,
            _ => self.0.push_back(part),
        }
    }

    pub fn extend(&mut self, other: Parts) {
        for part in other.0 {
            self.push_back(part);
        }
    }

    pub fn tainted(&self) -> U256 {
        self.0.iter().filter(|p| p.tainted).map(|p| p.amount).fold(U256::ZERO, |a, b| a + b)
    }

    /// Takes `amount` from the front (oldest first), in the order taken;
    /// when the list runs short the rest is clean.
    pub fn take_front(&mut self, amount: U256) -> Parts {
        let mut taken = Parts::default();
        let mut want = amount;
        while !want.is_zero() {
            let Some(front) = self.0.front_mut() else {
                taken.push_back(Part { tainted: false, amount: want });
                break;
            };
            let n = front.amount.min(want);
            taken.push_back(Part { tainted: front.tainted, amount: n });
            front.amount -= n;
            want -= n;
            if front.amount.is_zero() {
                self.0.pop_front();
            }
        }
        taken
    }

    /// Takes `amount` from the back (newest first), in the order taken;
    /// when the list runs short the rest is clean.
    pub fn take_back(&mut self, amount: U256) -> Parts {
        let mut taken = Parts::default();
        let mut want = amount;
        while !want.is_zero() {
            let Some(back) = self.0.back_mut() else {
                taken.push_back(Part { tainted: false, amount: want });
                break;
            };
            let n = back.amount.min(want);
            taken.push_back(Part { tainted: back.tainted, amount: n });
            back.amount -= n;
            want -= n;
            if back.amount.is_zero() {
                self.0.pop_back();
            }
        }
        taken
    }

    /// The same parts, last first.
    pub fn reversed(mut self) -> Parts {
        let v: Vec<Part> = self.0.drain(..).rev().collect();
        let mut out = Parts::default();
        for p in v {
            out.push_back(p);
        }
        out
    }
}
