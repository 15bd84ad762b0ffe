//! Bitcoin for chainsleuth: block sources (Bitcoin Core's block files, REST
//! and JSON-RPC), decoding blocks into index rows with undo, and a regtest
//! chain builder for tests, benchmarks and the demo.
//!
//! This crate knows nothing of tags or tracing; it writes only its own
//! tables through `chainsleuth_store`.

mod block;
pub mod index;
pub mod sim;
pub mod source;
pub mod testnode;

pub use block::{to_core_hash, BlockError, BtcBlock};
pub use index::{BtcIndexer, IndexError};
