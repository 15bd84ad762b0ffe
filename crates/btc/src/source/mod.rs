//! Block sources: Bitcoin Core's blocks directory, REST and JSON-RPC, each
//! a [`chainsleuth_sync::BlockSource`] yielding [`BtcBlock`](crate::BtcBlock)s
//! of the source's best chain, with one error type whose faults say whether
//! the sync loop may retry them.
//!
//! Pick [`BlkDirSource`] to read a node's files directly (fastest; works
//! while Core runs), [`RestSource`] for a node started with `-rest=1`, and
//! [`RpcSource`] for any node you have RPC credentials for. Decoding blocks
//! into index rows is not done here but in [`crate::index`].

mod blkdir;
mod error;
mod http;
mod rest;
mod rpc;

pub use blkdir::{BlkDirConfig, BlkDirSource, XorMode};
pub use error::BtcSourceError;
pub use http::HttpOptions;
pub use rest::{RestConfig, RestSource};
pub use rpc::{RpcAuth, RpcConfig, RpcSource};
