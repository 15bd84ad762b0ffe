//! Ground truth of a simulated chain: what an index of it must report for every address.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use chainsleuth_core::{Height, Sats};
use serde::{Deserialize, Serialize};

use super::SimError;

/// One address's final figures on the simulated chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressTruth {
    /// Received minus sent: the value of its unspent outputs.
    pub balance: Sats,
    /// Total value of all outputs paying it, coinbase outputs included.
    pub received: Sats,
    /// Total value of its outputs that were spent.
    pub sent: Sats,
    /// Distinct transactions that credit or debit it (one that does both counts once).
    pub tx_count: u64,
}

/// What an index of a simulated chain must contain: every address's figures and the tip.
///
/// Addresses are keyed by their regtest string (`bcrt1q...`, `bcrt1p...`, `m...`/`n...`, `2...`).
/// Bare P2PK outputs count for the P2PKH address of their key, as block explorers show them;
/// OP_RETURN outputs belong to no address. The genesis coinbase output is included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Height of the chain's tip.
    pub tip_height: Height,
    /// Hash of the chain's tip.
    pub tip_hash: bitcoin::BlockHash,
    /// Transactions on the chain, coinbases included.
    pub tx_count: u64,
    /// Figures per address, in address order.
    pub addresses: BTreeMap<String, AddressTruth>,
}

impl GroundTruth {
    /// Writes the truth as pretty-printed JSON to `path`.
    ///
    /// # Errors
    ///
    /// [`SimError::Write`] naming `path` when the file cannot be written.
    pub fn write_json(&self, path: &Path) -> Result<(), SimError> {
        let json = serde_json::to_vec_pretty(self).expect("ground truth has string keys and plain fields");
        fs::write(path, json).map_err(|source| SimError::Write { path: path.to_owned(), source })
    }

    /// Reads truth written by [`GroundTruth::write_json`].
    ///
    /// # Errors
    ///
    /// [`SimError::Read`] or [`SimError::Json`] naming `path`.
    pub fn read_json(path: &Path) -> Result<GroundTruth, SimError> {
        let bytes = fs::read(path).map_err(|source| SimError::Read { path: path.to_owned(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| SimError::Json { path: path.to_owned(), source })
    }
}

/// Running figures of one address while the chain is built.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AddressStats {
    pub received: u64,
    pub sent: u64,
    pub tx_count: u64,
}

impl AddressStats {
    /// The final figures.
    pub fn to_truth(self) -> AddressTruth {
        AddressTruth {
            balance: Sats(self.received - self.sent),
            received: Sats(self.received),
            sent: Sats(self.sent),
            tx_count: self.tx_count,
        }
    }
}
