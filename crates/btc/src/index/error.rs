//! The index's error type.

use bitcoin::{BlockHash, Network, Txid};
use chainsleuth_core::{AddressId, Height, TxNum};
use chainsleuth_store::StoreError;

/// What went wrong indexing a block or answering a query. Messages name the
/// block (height and hash), the address, txid or cursor involved.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The store failed. Its message is the store's own, which names the
    /// path or the table and key; callers say what they were doing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file-system operation failed.
    #[error("{what}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The block is inconsistent with the indexed chain; nothing was written.
    #[error("block {height} ({hash}): {fault}")]
    Malformed {
        /// The block's height.
        height: Height,
        /// The block's hash.
        hash: BlockHash,
        /// What is wrong with it.
        fault: BlockFault,
    },
    /// The store holds another network's chain.
    #[error("the btc store holds {found} data, not {expected}")]
    NetworkMismatch {
        /// The network recorded in the store.
        found: String,
        /// The network asked for.
        expected: Network,
    },
    /// An address string that is not a valid address of the network.
    #[error("invalid {network} address {address:?}: {reason}")]
    InvalidAddress {
        /// The text given.
        address: String,
        /// The network it was checked against.
        network: Network,
        /// Why it was refused.
        reason: String,
    },
    /// A txid string that is not 64 hex digits.
    #[error("invalid txid {0:?}: expected 64 hex digits")]
    InvalidTxid(String),
    /// A transaction the index does not hold.
    #[error("unknown transaction {0}")]
    UnknownTx(Txid),
    /// An address id the index has not handed out.
    #[error("unknown address id {0}")]
    UnknownAddressId(AddressId),
    /// A transaction number the index has not handed out.
    #[error("unknown transaction number {0}")]
    UnknownTxNum(TxNum),
    /// A height above the indexed tip, or a range that ends before it starts.
    #[error("no indexed blocks {from}..={to}")]
    UnknownHeights {
        /// The first height asked for.
        from: Height,
        /// The last height asked for.
        to: Height,
    },
    /// A valid address the index has never seen.
    #[error("address {0} is not in the index")]
    UnknownAddress(String),
    /// A cluster id that is no address id of the index.
    #[error("unknown cluster id {0}")]
    UnknownCluster(u64),
    /// A history cursor that this index did not hand out.
    #[error("invalid cursor {0:?}: pass the next_cursor of a previous page")]
    BadCursor(String),
    /// A row that another row refers to is missing: the store is damaged.
    #[error("corrupt btc index: {0}")]
    Corrupt(String),
}

/// Why a block cannot extend the indexed chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockFault {
    /// Its height is not one above the indexed tip.
    #[error("expected height {expected}")]
    WrongHeight {
        /// The height that would extend the tip.
        expected: Height,
    },
    /// Its parent is not the indexed tip.
    #[error("its parent {parent} is not the indexed tip {tip}")]
    NotOnTip {
        /// The parent it names.
        parent: BlockHash,
        /// The indexed tip's hash.
        tip: BlockHash,
    },
    /// The block is already indexed (at another height).
    #[error("this block hash is already indexed")]
    Duplicate,
    /// A block without transactions.
    #[error("it has no transactions")]
    Empty,
    /// Two transactions of the block have the same txid.
    #[error("tx {txid} occurs twice")]
    DuplicateTxid {
        /// The repeated txid.
        txid: Txid,
    },
    /// An input spends an output the index does not know.
    #[error("input {vin} of tx {txid} spends {prev_txid}:{vout}, which is unknown")]
    UnknownOutput {
        /// The spending transaction.
        txid: Txid,
        /// The input's index.
        vin: u32,
        /// The transaction whose output is spent.
        prev_txid: Txid,
        /// The spent output's index.
        vout: u32,
    },
    /// An input spends an output that is already spent.
    #[error("input {vin} of tx {txid} spends {prev_txid}:{vout}, which is already spent")]
    DoubleSpend {
        /// The spending transaction.
        txid: Txid,
        /// The input's index.
        vin: u32,
        /// The transaction whose output is spent.
        prev_txid: Txid,
        /// The spent output's index.
        vout: u32,
    },
    /// Amounts that do not add up: a sum overflows, or a transaction pays out
    /// more than it spends.
    #[error("tx {txid}: {what}")]
    Value {
        /// The transaction.
        txid: Txid,
        /// What is wrong.
        what: &'static str,
    },
}
