//! What a chain crate provides to the sync loop: a block type, a source of
//! blocks and an indexer that writes and unwinds them.

use std::future::Future;

use chainsleuth_core::{BlockHash, BlockRef, Height};

/// A block as the sync loop needs to see it.
pub trait ChainBlock: Send + 'static {
    /// The block's height and hash.
    fn block_ref(&self) -> BlockRef;
    /// The hash of the block it builds on.
    fn parent_hash(&self) -> BlockHash;
    /// How many transactions it holds (for progress).
    fn tx_count(&self) -> usize;
    /// Its serialized size in bytes (for progress).
    fn size_bytes(&self) -> usize;
}

/// An error of a block source, which says whether trying again may help.
pub trait SourceError: std::error::Error + Send + Sync + 'static {
    /// `true` for passing faults (timeouts, refused connections, HTTP 5xx,
    /// a block file still being written); `false` for faults that repeat
    /// (bad credentials, corrupt data, a missing method).
    fn is_retryable(&self) -> bool;
}

/// Where blocks come from: a node's API or a node's block files. All
/// methods describe the source's current best chain.
pub trait BlockSource: Send + Sync + 'static {
    /// The block type it yields.
    type Block: ChainBlock;
    /// Its error type.
    type Error: SourceError;

    /// The best block.
    fn tip(&self) -> impl Future<Output = Result<BlockRef, Self::Error>> + Send;
    /// The hash of the best chain's block at `height`, `None` above the tip.
    fn hash_at(&self, height: Height) -> impl Future<Output = Result<Option<BlockHash>, Self::Error>> + Send;
    /// The best chain's block at `height`.
    fn block_at(&self, height: Height) -> impl Future<Output = Result<Self::Block, Self::Error>> + Send;
    /// A short description for logs (kind and location, never credentials).
    fn describe(&self) -> String;
}

/// Whether [`Indexer::execute`] keeps an undo record for the block, and which
/// older record leaves the kept window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndoPolicy {
    /// Keep this block's undo record (it is near enough to the tip to be reorged).
    pub keep: bool,
    /// Delete the undo record of this height, which is now deeper than the window.
    pub prune: Option<Height>,
}

/// A chain's writer of index rows. One `execute` is one atomic batch: the
/// block's rows, the new tip and (per [`UndoPolicy`]) its undo record.
pub trait Indexer: Send + 'static {
    /// The block type it indexes.
    type Block: ChainBlock;
    /// Its error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The indexed tip, `None` for an empty store.
    ///
    /// # Errors
    /// Store read errors.
    fn tip(&self) -> Result<Option<BlockRef>, Self::Error>;
    /// The indexed block hash at `height`, `None` above the tip.
    ///
    /// # Errors
    /// Store read errors.
    fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, Self::Error>;
    /// Indexes `block`, which extends the tip.
    ///
    /// # Errors
    /// Malformed block data (naming height and hash) or store errors; the
    /// store is then unchanged.
    fn execute(&mut self, block: &Self::Block, undo: UndoPolicy) -> Result<(), Self::Error>;
    /// Unwinds the tip block at `height` with its undo record. Returns
    /// `false`, changing nothing, when no record is kept for it.
    ///
    /// # Errors
    /// Store errors; the store is then unchanged.
    fn unwind(&mut self, height: Height) -> Result<bool, Self::Error>;
    /// Enters or leaves bulk mode (faster writes for initial sync, see
    /// `chainsleuth_store::Store::set_bulk`).
    ///
    /// # Errors
    /// Store errors.
    fn set_bulk(&mut self, on: bool) -> Result<(), Self::Error>;
    /// Starts making everything written so far durable, without waiting
    /// (in bulk mode, where writes skip the WAL, this bounds what a crash can
    /// lose); see `chainsleuth_store::Store::checkpoint`.
    ///
    /// # Errors
    /// Store errors.
    fn checkpoint(&mut self) -> Result<(), Self::Error>;
}
