//! Error types of the Ethereum crate: the JSON-RPC client's, the source's,
//! the decoder's, the indexer's and the queries'. Messages name the block,
//! transaction, method and (redacted) URL involved, never credentials.

use chainsleuth_store::StoreError;
use chainsleuth_sync::SourceError;

/// A JSON-RPC call that failed. URLs are shown redacted.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The client could not be set up.
    #[error("rpc {url}: {reason}")]
    Setup {
        /// The node's URL, redacted.
        url: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The request did not get an HTTP answer (refused, reset, timed out).
    #[error("{method} to {url}: {kind}")]
    Transport {
        /// The node's URL, redacted.
        url: String,
        /// The (first) method of the request.
        method: &'static str,
        /// What happened: timed out, connection failed, transport error.
        kind: &'static str,
        /// The HTTP client's error, with the URL stripped.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an HTTP error status.
    #[error("{method} to {url}: HTTP status {status}")]
    Http {
        /// The node's URL, redacted.
        url: String,
        /// The (first) method of the request.
        method: &'static str,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer is not the JSON-RPC the method should return.
    #[error("{method} to {url}: malformed answer ({reason})")]
    Malformed {
        /// The node's URL, redacted.
        url: String,
        /// The method whose answer did not parse.
        method: &'static str,
        /// What did not parse.
        reason: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method} to {url}: node error {code}: {message}")]
    Node {
        /// The node's URL, redacted.
        url: String,
        /// The method.
        method: &'static str,
        /// The JSON-RPC error code.
        code: i64,
        /// The node's message, cut to 200 characters.
        message: String,
    },
}

impl SourceError for RpcError {
    fn is_retryable(&self) -> bool {
        match self {
            RpcError::Setup { .. } => false,
            RpcError::Transport { .. } | RpcError::Malformed { .. } => true,
            RpcError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            // Invalid request or params repeat; "header not found", rate
            // limits and other server-side errors may pass.
            RpcError::Node { code, .. } => !self.is_method_missing() && !matches!(code, -32600 | -32602),
        }
    }
}

/// A block's data that does not add up: the decoder's error. The height and
/// hash are added by [`FetchError::Decode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The receipts do not match the transactions one to one.
    #[error("{got} receipts for {expected} transactions")]
    ReceiptCount {
        /// Transactions in the block.
        expected: usize,
        /// Receipts received.
        got: usize,
    },
    /// A receipt belongs to another transaction than the one at its position.
    #[error("receipt at position {index} is for transaction {found}, not {expected}")]
    ReceiptMismatch {
        /// Position in the block.
        index: usize,
        /// The transaction's hash.
        expected: String,
        /// The receipt's transaction hash.
        found: String,
    },
    /// The traces do not match the transactions one to one.
    #[error("{got} call traces for {expected} transactions")]
    TraceCount {
        /// Transactions in the block.
        expected: usize,
        /// Traces received.
        got: usize,
    },
    /// The node could not trace a transaction.
    #[error("tracing transaction {tx} failed: {message}")]
    TraceFailed {
        /// The transaction's hash.
        tx: String,
        /// The node's message.
        message: String,
    },
    /// An amount does not fit 256 bits (gas × price and the like).
    #[error("{what} of transaction {tx} overflows 256 bits")]
    Overflow {
        /// Which amount.
        what: &'static str,
        /// The transaction's hash.
        tx: String,
    },
}

/// A block that could not be fetched; the sync loop retries it when
/// [`SourceError::is_retryable`] says so.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A JSON-RPC call failed.
    #[error("{what}")]
    Rpc {
        /// What was being fetched (method, block height or hash).
        what: String,
        /// The call's error.
        #[source]
        source: RpcError,
    },
    /// The node has no block at this height (yet, or any more).
    #[error("the node has no block at height {height}")]
    NoBlock {
        /// The height asked for.
        height: u64,
    },
    /// The node's answers describe different blocks (a reorg during the
    /// fetch): retried.
    #[error("block {height} ({hash}): {reason}")]
    Inconsistent {
        /// The block's height.
        height: u64,
        /// The block's hash.
        hash: String,
        /// What did not match.
        reason: String,
    },
    /// The block's data does not decode.
    #[error("decoding block {height} ({hash})")]
    Decode {
        /// The block's height.
        height: u64,
        /// The block's hash.
        hash: String,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// The fetch was cancelled by the runtime shutting down.
    #[error("fetching block {height}: cancelled (the runtime is shutting down)")]
    Cancelled {
        /// The height asked for.
        height: u64,
    },
}

impl SourceError for FetchError {
    fn is_retryable(&self) -> bool {
        match self {
            FetchError::Rpc { source, .. } => source.is_retryable(),
            FetchError::NoBlock { .. } | FetchError::Inconsistent { .. } => true,
            FetchError::Decode { .. } | FetchError::Cancelled { .. } => false,
        }
    }
}

/// An error of the indexer or of setting up the source.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The store failed.
    #[error("eth store")]
    Store(#[from] StoreError),
    /// A stored counter or row is not what this build writes.
    #[error("eth store: {what} is corrupt")]
    Corrupt {
        /// Which row.
        what: &'static str,
    },
    /// The source could not be set up (bad URL).
    #[error("setting up the eth source")]
    Source(#[from] RpcError),
    /// A query of the store's own rows failed (its message names the store
    /// already: "eth store: ...").
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The genesis file could not be read or parsed.
    #[error("genesis file {path}: {reason}")]
    Genesis {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// A query that could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The store failed.
    #[error("eth store")]
    Store(#[from] StoreError),
    /// The address is not 20 hex bytes.
    #[error("bad address {0:?}: expected 0x and 40 hex digits")]
    BadAddress(String),
    /// The transaction hash is not 32 hex bytes.
    #[error("bad transaction hash {0:?}: expected 0x and 64 hex digits")]
    BadTxHash(String),
    /// The asset is neither `ETH` nor a token address.
    #[error("bad asset {0:?}: expected ETH or a token contract address")]
    BadAsset(String),
    /// The cursor is not one this store handed out.
    #[error("bad cursor {0:?}: pass the next_cursor of a previous page")]
    BadCursor(String),
    /// An id or position the index has not handed out.
    #[error("{what} {id} is not in the eth index")]
    NotIndexed {
        /// What kind of id.
        what: &'static str,
        /// The id as given.
        id: String,
    },
    /// A stored row is not what this build writes.
    #[error("eth store: {what} is corrupt")]
    Corrupt {
        /// Which row.
        what: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole chain, as the CLI prints it (`{err:#}`-style, causes joined by ": ").
    fn chain(err: &dyn std::error::Error) -> String {
        let mut parts = vec![err.to_string()];
        let mut source = err.source();
        while let Some(cause) = source {
            parts.push(cause.to_string());
            source = cause.source();
        }
        parts.join(": ")
    }

    #[test]
    fn a_failed_query_names_the_store_once() {
        let err = IndexError::from(QueryError::from(StoreError::ReadOnly));
        let text = chain(&err);
        assert_eq!(text.matches("eth store").count(), 1, "{text}");
        assert!(text.ends_with(&StoreError::ReadOnly.to_string()), "{text}");
    }
}
