//! The one error type of every Bitcoin block source, and which of its
//! faults the sync loop may retry.

use std::io;
use std::path::PathBuf;

use chainsleuth_core::Height;
use reqwest::StatusCode;

use crate::BlockError;

/// A fault of a Bitcoin block source. Every variant names where it happened:
/// a block file and offset, a URL (never with credentials) or a height.
#[derive(Debug, thiserror::Error)]
pub enum BtcSourceError {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The directory holds no `blk*.dat` files.
    #[error("no blk*.dat files in {} (nor in its blocks/ subdirectory)", dir.display())]
    NoBlockFiles {
        /// The directory given.
        dir: PathBuf,
    },
    /// The XOR key (from `xor.dat` or given in hex) is unusable.
    #[error("bad xor key {what}: {reason}")]
    XorKey {
        /// Where the key came from (a file path or "given on the command line").
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record does not start with the network's magic bytes.
    #[error("{} at offset {offset}: expected {network} magic {expected}, found {found}: {hint}", path.display())]
    Magic {
        /// The block file.
        path: PathBuf,
        /// Offset of the record within the file.
        offset: u64,
        /// The configured network.
        network: bitcoin::Network,
        /// The expected magic, in hex.
        expected: String,
        /// The bytes found (after removing the XOR obfuscation), in hex.
        found: String,
        /// The likely cause.
        hint: String,
    },
    /// A record's length field cannot be a block's size.
    #[error("{} at offset {offset}: record length {len} is not a block size (80 to 4000000 bytes): corrupt block file", path.display())]
    RecordLength {
        /// The block file.
        path: PathBuf,
        /// Offset of the record within the file.
        offset: u64,
        /// The length field.
        len: u32,
    },
    /// A record runs past the end of a file that is no longer written to.
    #[error("{} at offset {offset}: record needs {needed} bytes but only {available} remain: truncated block file", path.display())]
    Truncated {
        /// The block file.
        path: PathBuf,
        /// Offset of the record within the file.
        offset: u64,
        /// Bytes the record needs, its 8-byte header included.
        needed: u64,
        /// Bytes left in the file from the record's offset.
        available: u64,
    },
    /// A record's header does not meet its own proof-of-work target, which a
    /// block Bitcoin Core stored always does.
    #[error("{} at offset {offset}: block header {hash} fails its proof of work: corrupt block file", path.display())]
    BadHeader {
        /// The block file.
        path: PathBuf,
        /// Offset of the record within the file.
        offset: u64,
        /// The header's hash.
        hash: bitcoin::BlockHash,
    },
    /// A record's block does not decode, has trailing bytes or a wrong merkle root.
    #[error("{} at offset {offset}: corrupt block record", path.display())]
    Corrupt {
        /// The block file.
        path: PathBuf,
        /// Offset of the record within the file.
        offset: u64,
        /// What is wrong with the block.
        #[source]
        source: BlockError,
    },
    /// A record now holds another block than when the file was scanned.
    #[error("{} at offset {offset}: expected block {expected}, found {found}: the file changed since it was scanned", path.display())]
    Changed {
        /// The block file.
        path: PathBuf,
        /// Offset of the record within the file.
        offset: u64,
        /// The block scanned there.
        expected: bitcoin::BlockHash,
        /// The block there now.
        found: bitcoin::BlockHash,
    },
    /// Block records exist but none connects to the network's genesis block.
    #[error("{records} block records in {} but none links to the {network} genesis block: wrong network?", dir.display())]
    Unlinked {
        /// The blocks directory.
        dir: PathBuf,
        /// How many records were scanned.
        records: u64,
        /// The configured network.
        network: bitcoin::Network,
    },
    /// A block was asked for above the source's best chain.
    #[error("no block at height {height} in {source_name}: above its tip")]
    AboveTip {
        /// The height asked for.
        height: Height,
        /// The source.
        source_name: String,
    },
    /// The node could not be reached.
    #[error("cannot connect to {url}: is bitcoind running and listening there?")]
    Connect {
        /// The URL, without credentials.
        url: String,
        /// The transport's reason.
        #[source]
        source: reqwest::Error,
    },
    /// The node did not answer in time.
    #[error("request to {url} timed out")]
    Timeout {
        /// The URL, without credentials.
        url: String,
    },
    /// The request failed in transit (connection reset, body cut off).
    #[error("request to {url} failed in transit")]
    Transport {
        /// The URL, without credentials.
        url: String,
        /// The transport's reason.
        #[source]
        source: reqwest::Error,
    },
    /// The node refused the credentials.
    #[error("{status} from {url}: {hint}")]
    Auth {
        /// The URL, without credentials.
        url: String,
        /// 401 or 403.
        status: StatusCode,
        /// What to check.
        hint: &'static str,
    },
    /// The node answered with an HTTP error status.
    #[error("{status} from {url}{detail}")]
    Http {
        /// The URL, without credentials.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body, or the likely cause, prefixed with ": " when present.
        detail: String,
    },
    /// The node answered a JSON-RPC call with an error object.
    #[error("{method} at {url} failed with RPC error {code}: {message}")]
    Rpc {
        /// The URL, without credentials.
        url: String,
        /// The RPC method.
        method: &'static str,
        /// The JSON-RPC error code (-28: still warming up).
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The node's answer is not of the documented shape.
    #[error("malformed response from {url}: {what}")]
    Malformed {
        /// The URL, without credentials.
        url: String,
        /// What was wrong.
        what: String,
    },
    /// The node sent bytes that are not a valid block.
    #[error("invalid block from {url}")]
    Decode {
        /// The URL, without credentials.
        url: String,
        /// What is wrong with the block.
        #[source]
        source: BlockError,
    },
    /// The node sent another block than the one asked for.
    #[error("{url} returned block {found} when asked for {expected}")]
    WrongBlock {
        /// The URL, without credentials.
        url: String,
        /// The hash asked for.
        expected: bitcoin::BlockHash,
        /// The hash of the block received.
        found: bitcoin::BlockHash,
    },
    /// The RPC cookie file could not be read.
    #[error("cannot read the RPC cookie file {}: is bitcoind running with this data directory and network?", path.display())]
    Cookie {
        /// The cookie file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The source's configuration is unusable.
    #[error("invalid block source configuration: {0}")]
    Config(String),
    /// A background task was cancelled because the runtime is shutting down.
    #[error("block source task cancelled: shutting down")]
    Cancelled,
}

/// JSON-RPC error code Bitcoin Core returns while it starts up (`RPC_IN_WARMUP`).
pub(crate) const RPC_IN_WARMUP: i64 = -28;

impl chainsleuth_sync::SourceError for BtcSourceError {
    fn is_retryable(&self) -> bool {
        match self {
            BtcSourceError::Connect { .. }
            | BtcSourceError::Timeout { .. }
            | BtcSourceError::Transport { .. }
            | BtcSourceError::AboveTip { .. } => true,
            BtcSourceError::Http { status, .. } => status.is_server_error(),
            BtcSourceError::Rpc { code, .. } => *code == RPC_IN_WARMUP,
            BtcSourceError::Io { source, .. } => source.kind() == io::ErrorKind::Interrupted,
            BtcSourceError::NoBlockFiles { .. }
            | BtcSourceError::XorKey { .. }
            | BtcSourceError::Magic { .. }
            | BtcSourceError::RecordLength { .. }
            | BtcSourceError::Truncated { .. }
            | BtcSourceError::BadHeader { .. }
            | BtcSourceError::Corrupt { .. }
            | BtcSourceError::Changed { .. }
            | BtcSourceError::Unlinked { .. }
            | BtcSourceError::Auth { .. }
            | BtcSourceError::Malformed { .. }
            | BtcSourceError::Decode { .. }
            | BtcSourceError::WrongBlock { .. }
            | BtcSourceError::Cookie { .. }
            | BtcSourceError::Config(_)
            | BtcSourceError::Cancelled => false,
        }
    }
}

/// Runs blocking work (file reads, block decoding) off the async workers.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, BtcSourceError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BtcSourceError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(BtcSourceError::Cancelled),
    }
}
