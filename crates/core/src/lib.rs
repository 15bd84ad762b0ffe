//! Chain-neutral types shared by every chainsleuth crate: which chain, block
//! heights and hashes, amounts in each chain's smallest unit, and the compact
//! numeric ids the store gives to addresses and transactions.
//!
//! This crate does no I/O and knows no chain's wire format; chain crates
//! convert their own types into these at their boundary.

mod amount;
mod block;
mod chain;
mod graph;
mod ids;

pub use alloy_primitives::U256;
pub use amount::{AmountOverflowError, Sats, TokenUnits, Wei};
pub use block::{BlockHash, BlockRef, Height};
pub use chain::{Chain, ParseChainError};
pub use graph::{
    AccountGraph, AssetId, ClusterId, Coin, Inference, Label, Labels, OutPoint, SourceVersion, Transfer, TransferKind,
    TransferPos, UtxoGraph, UtxoTx,
};
pub use ids::{AddressId, TxNum};
