//! Compact numeric ids that the store gives to addresses and transactions so
//! that history keys stay a few bytes long (as BlockSci does).

use std::fmt;

/// The store's compact id of an address, unique within one chain's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct AddressId(pub u64);

/// A transaction's global sequence number in one chain's store: its position
/// among all indexed transactions in chain order, so ordering by `TxNum` is
/// ordering by (height, position in block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TxNum(pub u64);

impl fmt::Display for AddressId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for TxNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
