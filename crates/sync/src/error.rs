//! The sync loop's error type.

use chainsleuth_core::Height;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the sync loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The block source failed and retrying did not help (or cannot).
    #[error("{what} from {source_name}")]
    Source {
        /// What was being fetched.
        what: String,
        /// The source, as it describes itself.
        source_name: String,
        /// The source's error.
        #[source]
        source: BoxError,
    },
    /// The indexer could not index or unwind a block.
    #[error("{what} at height {height}")]
    Index {
        /// What the indexer was doing.
        what: &'static str,
        /// The block's height.
        height: Height,
        /// The indexer's error.
        #[source]
        source: BoxError,
    },
    /// A reorg reaches below the oldest kept undo record.
    #[error(
        "reorg: the source's chain leaves ours at or below height {height}, which has no undo record \
         (deeper than the kept window); re-index into a new data dir or raise the undo depth"
    )]
    ForkBelowUndo {
        /// The lowest height that would have to be unwound.
        height: Height,
    },
    /// The source's chain shares no block with the indexed chain.
    #[error("the source's chain shares no block with the indexed chain (is it another network?)")]
    NoCommonAncestor,
}
