//! Ethereum for chainsleuth: a JSON-RPC block source (blocks, receipts and
//! call traces), a pure decoder from a block to value transfers (ETH,
//! internal calls, ERC-20 and WETH-like tokens, the issuer events of
//! freezable tokens such as USDT and USDC, fees, withdrawals), the
//! indexer that writes them into the `eth` store, read-side queries, and the
//! tracer's [`AccountGraph`](chainsleuth_core::AccountGraph) over the store.
//!
//! The sync loop is not here: [`EthSource`] and [`EthIndexer`] implement
//! the traits of `chainsleuth_sync`, whose `run` drives them. This crate
//! knows nothing of tags, nor of how the tracer follows funds; the store
//! layout is in `SCHEMA.md`.

mod decode;
mod error;
mod export_read;
mod genesis;
mod graph;
mod index;
mod query;
mod rpc;
mod schema;
mod source;
mod transfer;
mod types;

use std::path::{Path, PathBuf};

pub use decode::{
    decode_block, DecodeConfig, ADDED_BLACK_LIST_TOPIC, BLACKLISTED_TOPIC, DEPOSIT_TOPIC, DESTROYED_BLACK_FUNDS_TOPIC,
    ISSUE_TOPIC, MAINNET_USDC, MAINNET_USDT, MAINNET_WETH, REDEEM_TOPIC, REMOVED_BLACK_LIST_TOPIC, TRANSFER_TOPIC,
    UNBLACKLISTED_TOPIC, WITHDRAWAL_TOPIC,
};
pub use error::{DecodeError, FetchError, IndexError, QueryError, RpcError};
pub use genesis::load_genesis_alloc;
pub use graph::EthGraph;
pub use index::{connect, EthIndexer};
pub use query::{
    format_balance, parse_address, parse_asset, AddressSummary, AssetBalance, AssetInfo, EthQuery, HistoryEntry,
    HistoryPage, Status, TipView, TransferView, TxTransfers,
};
pub use rpc::{redact_url, Call, RpcClient};
pub use schema::{TokenMeta, SCHEMA};
pub use source::{EthBlock, EthSource, Finalized, GenesisBalances, ParseTraceModeError, SourceConfig, TraceMode};
pub use transfer::{
    Asset, DecodedBlock, Freeze, TraceCoverage, Transfer, TransferKind, TxInfo, BLOCK_POS, GENESIS_POS,
};
pub use types::{
    BlockData, CallFrame, GethTrace, ParityAction, ParityResult, ParityTrace, RawBlock, RawLog, RawReceipt, RawTx,
    RawWithdrawal, Traces,
};

/// The directory of the Ethereum store under a data directory.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("eth")
}
