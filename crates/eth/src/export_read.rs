//! Reads for the Parquet export (`chainsleuth-export`) that the other
//! queries do not give: the genesis credits, which the indexer records at
//! block 0 whenever it first meets a prefunded address.

use chainsleuth_store::Codec;

use crate::error::QueryError;
use crate::query::{EthQuery, TransferView};
use crate::transfer::GENESIS_POS;

impl EthQuery<'_> {
    /// Every genesis credit recorded so far, in the order the indexer
    /// recorded them (their `ordinal`): credits of addresses met later get
    /// higher ordinals, so an export can take the ones after the last it took.
    ///
    /// # Errors
    /// Store faults.
    pub fn genesis_transfers(&self) -> Result<Vec<TransferView>, QueryError> {
        self.transfer_views(&(0u64, GENESIS_POS).encode())
    }
}
