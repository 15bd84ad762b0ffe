//! The store's error type.

use std::path::PathBuf;

use crate::codec::CodecError;

/// What went wrong in the store; each variant names the table and key or the
/// path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB could not open the database.
    #[error("cannot open store at {path}")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's reason.
        #[source]
        source: rocksdb::Error,
    },
    /// The database was written by a different on-disk format.
    #[error(
        "store at {path} has format {found}, this build reads format {expected}; \
         delete that directory and index again"
    )]
    FormatMismatch {
        /// The database directory.
        path: PathBuf,
        /// The format on disk.
        found: u32,
        /// The format this build writes.
        expected: u32,
    },
    /// The database holds data of another schema (another chain, or tags).
    #[error("store at {path} holds {found:?} data, not {expected:?}")]
    SchemaMismatch {
        /// The database directory.
        path: PathBuf,
        /// The schema name on disk.
        found: String,
        /// The schema name asked for.
        expected: &'static str,
    },
    /// A table was used that the schema of this store does not list.
    #[error("table {0} is not part of this store's schema")]
    UnknownTable(&'static str),
    /// A read failed.
    #[error("reading {table} key {key_hex}")]
    Read {
        /// The table.
        table: &'static str,
        /// The key, hex-encoded.
        key_hex: String,
        /// RocksDB's reason.
        #[source]
        source: rocksdb::Error,
    },
    /// A stored key or value did not decode.
    #[error("decoding {table} row at key {key_hex}")]
    Decode {
        /// The table.
        table: &'static str,
        /// The key, hex-encoded.
        key_hex: String,
        /// What was wrong with the bytes.
        #[source]
        source: CodecError,
    },
    /// An atomic batch could not be written; nothing of it was applied.
    #[error("writing a batch of {entries} changes")]
    Write {
        /// How many changes the batch held.
        entries: usize,
        /// RocksDB's reason.
        #[source]
        source: rocksdb::Error,
    },
    /// A maintenance call (flush, compaction, option change) failed.
    #[error("{operation} failed")]
    Maintenance {
        /// What was attempted.
        operation: &'static str,
        /// RocksDB's reason.
        #[source]
        source: rocksdb::Error,
    },
    /// A write was attempted on a store opened for reading.
    #[error("store is open read-only")]
    ReadOnly,
    /// An undo record names a table index the schema does not have.
    #[error("undo record of height {height} names table #{table}, which this schema lacks")]
    CorruptUndo {
        /// The height of the undo record.
        height: u64,
        /// The table index found.
        table: u8,
    },
}
