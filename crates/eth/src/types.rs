//! The node's JSON-RPC answers as this crate reads them: blocks with full
//! transactions, receipts with logs, geth `callTracer` frames and parity
//! flat traces. Only the fields the indexer uses are kept; the rest of each
//! answer is skipped while parsing, and optional fields default so that old
//! (pre-Byzantium, pre-London) and new answers both parse.

use alloy::primitives::{Address, Bytes, B256, U256, U64};
use serde::Deserialize;

/// A block from `eth_getBlockByNumber(n, true)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBlock {
    /// Height.
    pub number: U64,
    /// Block hash.
    pub hash: B256,
    /// Parent block hash.
    pub parent_hash: B256,
    /// Unix time in seconds.
    pub timestamp: U64,
    /// The fee recipient (coinbase).
    pub miner: Address,
    /// EIP-1559 base fee per gas, absent before London.
    #[serde(default)]
    pub base_fee_per_gas: Option<U256>,
    /// Transactions in block order.
    pub transactions: Vec<RawTx>,
    /// EIP-4895 withdrawals, absent before Shanghai.
    #[serde(default)]
    pub withdrawals: Option<Vec<RawWithdrawal>>,
    /// Serialized size in bytes.
    #[serde(default)]
    pub size: Option<U64>,
}

/// A transaction as embedded in a block.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawTx {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// Recipient, `None` for contract creation.
    #[serde(default)]
    pub to: Option<Address>,
    /// Wei sent along.
    pub value: U256,
    /// Gas price (legacy), or the effective price some nodes report here.
    #[serde(default)]
    pub gas_price: Option<U256>,
}

/// A receipt from `eth_getBlockReceipts` or `eth_getTransactionReceipt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawReceipt {
    /// The transaction it belongs to.
    pub transaction_hash: B256,
    /// The block it belongs to.
    #[serde(default)]
    pub block_hash: Option<B256>,
    /// `1` success, `0` failure; absent before Byzantium.
    #[serde(default)]
    pub status: Option<U64>,
    /// Gas used by this transaction.
    pub gas_used: U256,
    /// Price actually paid per gas, absent in old nodes' answers.
    #[serde(default)]
    pub effective_gas_price: Option<U256>,
    /// EIP-4844 blob gas used.
    #[serde(default)]
    pub blob_gas_used: Option<U256>,
    /// EIP-4844 blob gas price.
    #[serde(default)]
    pub blob_gas_price: Option<U256>,
    /// The contract a creation made.
    #[serde(default)]
    pub contract_address: Option<Address>,
    /// Logs in emission order.
    #[serde(default)]
    pub logs: Vec<RawLog>,
}

/// An event log.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawLog {
    /// The emitting contract.
    pub address: Address,
    /// Indexed topics, the event signature first.
    pub topics: Vec<B256>,
    /// Unindexed data.
    pub data: Bytes,
    /// Position among the block's logs.
    #[serde(default)]
    pub log_index: Option<U64>,
}

/// An EIP-4895 withdrawal from the beacon chain.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawWithdrawal {
    /// Global withdrawal index.
    pub index: U64,
    /// The validator.
    pub validator_index: U64,
    /// The credited address.
    pub address: Address,
    /// Amount in gwei.
    pub amount: U64,
}

/// One item of `debug_traceBlockByHash` with `callTracer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GethTrace {
    /// The traced transaction (newer geth).
    #[serde(default)]
    pub tx_hash: Option<B256>,
    /// The call tree.
    #[serde(default)]
    pub result: Option<CallFrame>,
    /// Why tracing failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// A geth `callTracer` frame and its sub-calls.
#[derive(Debug, Clone, Deserialize)]
pub struct CallFrame {
    /// `CALL`, `DELEGATECALL`, `CREATE2`, `SELFDESTRUCT`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Caller (absent in old geth's `SELFDESTRUCT` frames).
    #[serde(default)]
    pub from: Option<Address>,
    /// Callee, created contract or beneficiary.
    #[serde(default)]
    pub to: Option<Address>,
    /// Wei moved.
    #[serde(default)]
    pub value: Option<U256>,
    /// Set when the frame reverted or failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Sub-calls in execution order.
    #[serde(default)]
    pub calls: Vec<CallFrame>,
}

/// One item of parity's `trace_block`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityTrace {
    /// `call`, `create`, `suicide` or `reward`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The action's fields (depend on `kind`).
    pub action: ParityAction,
    /// The outcome (the created address for `create`).
    #[serde(default)]
    pub result: Option<ParityResult>,
    /// Set when this trace failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Path from the transaction's top call.
    #[serde(default)]
    pub trace_address: Vec<u32>,
    /// The transaction's position, `None` for block rewards.
    #[serde(default)]
    pub transaction_position: Option<u64>,
    /// The block the trace belongs to.
    #[serde(default)]
    pub block_hash: Option<B256>,
}

/// Fields of a parity trace action; which are set depends on the type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityAction {
    /// `call`, `delegatecall`, `callcode` or `staticcall` (calls only).
    #[serde(default)]
    pub call_type: Option<String>,
    /// Caller or creator.
    #[serde(default)]
    pub from: Option<Address>,
    /// Callee.
    #[serde(default)]
    pub to: Option<Address>,
    /// Wei moved by a call or create; a reward's amount.
    #[serde(default)]
    pub value: Option<U256>,
    /// The self-destructing contract.
    #[serde(default)]
    pub address: Option<Address>,
    /// The self-destruct's beneficiary.
    #[serde(default)]
    pub refund_address: Option<Address>,
    /// Wei a self-destruct moved.
    #[serde(default)]
    pub balance: Option<U256>,
    /// A reward's recipient.
    #[serde(default)]
    pub author: Option<Address>,
}

/// The outcome of a parity trace.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ParityResult {
    /// The contract a `create` made.
    #[serde(default)]
    pub address: Option<Address>,
}

/// The call traces of one block, in whichever form the node gave them.
#[derive(Debug, Clone, Default)]
pub enum Traces {
    /// No traces: internal transfers are not indexed for this block.
    #[default]
    None,
    /// geth `callTracer`, one tree per transaction.
    Geth(Vec<GethTrace>),
    /// parity flat traces of the whole block.
    Parity(Vec<ParityTrace>),
}

/// Everything fetched for one block, before decoding.
#[derive(Debug, Clone)]
pub struct BlockData {
    /// The block with its transactions.
    pub block: RawBlock,
    /// One receipt per transaction, in order.
    pub receipts: Vec<RawReceipt>,
    /// The call traces.
    pub traces: Traces,
}
