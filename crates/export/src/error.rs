//! [`ExportError`]: why an export stopped, naming the flag, chain, range or
//! file it is about.

use std::path::PathBuf;

use chainsleuth_core::Chain;

/// Why an export could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `--chain` named a chain whose store does not exist.
    #[error("--chain {chain}: the {chain} store is not indexed in this data directory")]
    NotIndexed {
        /// The chain.
        chain: Chain,
    },
    /// The range ends before it starts.
    #[error("--from-block {from} is after --to-block {to}")]
    EmptyRange {
        /// `--from-block`.
        from: u64,
        /// `--to-block`.
        to: u64,
    },
    /// A bound past the indexed tip.
    #[error("{flag} {block} is beyond the indexed {chain} tip {tip}")]
    BeyondTip {
        /// `--from-block` or `--to-block`.
        flag: &'static str,
        /// The chain.
        chain: Chain,
        /// The block asked.
        block: u64,
        /// The tip.
        tip: u64,
    },
    /// The range overlaps blocks already exported.
    #[error(
        "{chain} blocks {from}-{to} overlap the exported partition {done_from}-{done_to} in {out}: \
         exported partitions are never rewritten (export from block {next} on, or into another --out)"
    )]
    Overlap {
        /// The chain.
        chain: Chain,
        /// The range asked.
        from: u64,
        /// Its end.
        to: u64,
        /// The partition already there.
        done_from: u64,
        /// Its end.
        done_to: u64,
        /// The first block after the last exported partition.
        next: u64,
        /// The output directory.
        out: PathBuf,
    },
    /// `--partition-blocks 0`.
    #[error("--partition-blocks must be at least 1")]
    ZeroPartition,
    /// A file or directory could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a Parquet file failed.
    #[error("writing {}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A partition manifest that cannot be read.
    #[error("{}: not a partition manifest: {reason}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Reading the Bitcoin store failed.
    #[error("reading the Bitcoin store")]
    Btc(#[from] chainsleuth_btc::index::IndexError),
    /// Reading the Ethereum store failed.
    #[error("reading the Ethereum store")]
    Eth(#[from] chainsleuth_eth::QueryError),
    /// Opening a store failed.
    #[error("opening the {what} store")]
    Open {
        /// Which store.
        what: &'static str,
        /// The error.
        #[source]
        source: chainsleuth_store::StoreError,
    },
    /// Reading the tag store failed.
    #[error("reading the tag store")]
    Tags(#[from] chainsleuth_tags::TagsError),
}

impl ExportError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ExportError {
        let path = path.into();
        move |source| ExportError::Io { path, source }
    }
}
