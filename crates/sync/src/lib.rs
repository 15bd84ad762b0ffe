//! The worker loop shared by every chain: fetch blocks from a
//! [`BlockSource`], check that each extends the indexed tip, hand it to the
//! chain's [`Indexer`] (which writes the block's rows, the new tip and an undo
//! record in one atomic batch), unwind to the fork point on a reorg, and
//! follow the tip.
//!
//! Chain crates implement the two traits; this crate knows no chain format
//! and no table. The checkpoint is the store's tip, written in the same batch
//! as the block's rows, so a crash at any instant restarts from a consistent
//! height (see [`run`]).

mod driver;
mod error;
mod retry;
mod traits;

pub use driver::{run, SyncOptions, SyncProgress, SyncReport};
pub use error::SyncError;
pub use retry::RetryPolicy;
pub use traits::{BlockSource, ChainBlock, Indexer, SourceError, UndoPolicy};
