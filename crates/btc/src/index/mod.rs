//! Turning blocks into index rows, with undo records, and reading them back.
//!
//! [`BtcIndexer`] implements the sync loop's `Indexer`: each block becomes
//! one atomic batch holding its rows (block, transactions, outputs, inputs,
//! spent-by links, addresses, history rows with running totals, clusters), the id counters, the new
//! tip and, near the tip, the undo record that lets a reorg take it back out.
//! The [`query`] functions read the store back for the CLI and the HTTP API;
//! [`BtcGraph`] reads it for the tracer. Each batch also clusters a block
//! buried [`ClusterOptions::depth`] deep by the multi-input rule, leaving out
//! CoinJoins ([`coinjoin`]).
//! The tables are documented in the crate's `SCHEMA.md`; how scripts map to
//! addresses is in [`AddrKey`].
//!
//! Fetching blocks is not done here: see [`crate::source`].

mod cache;
mod cluster;
pub mod coinjoin;
mod error;
mod graph;
mod indexer;
pub mod query;
mod script;
pub mod tables;

pub use cluster::{ClusterOptions, DEFAULT_CLUSTER_DEPTH, DEFAULT_GUARD_SIZE};
pub use error::{BlockFault, IndexError};
pub use graph::BtcGraph;
pub use indexer::{
    cache_capacity_within, check_network, open_read_only, store_path, BtcIndexer, DEFAULT_CACHE_CAPACITY,
    DEFAULT_MEMORY_LIMIT,
};
pub use script::{AddrKey, NONSTANDARD_PREFIX};
pub use tables::SCHEMA;
