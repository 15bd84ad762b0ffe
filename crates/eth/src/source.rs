//! The Ethereum block source: a node's JSON-RPC over HTTP.
//!
//! Per block: `eth_getBlockByNumber(n, true)`, then, by that block's hash so
//! that every answer describes the same block during a reorg,
//! `eth_getBlockReceipts` and the call traces (`debug_traceBlockByHash` with
//! `callTracer`, or parity `trace_block`) in one batch. Receipts fall back
//! to per-transaction `eth_getTransactionReceipt` when the node lacks the
//! block method or answers `[]`; a node without the trace method is indexed
//! without internal transfers, which the block records. Then the block is
//! decoded here, in the fetch pipeline, and the source adds what the
//! indexer needs from the node besides: genesis balances of the addresses
//! it touches, metadata of new tokens, and freezable tokens' `balanceOf`
//! of the holders the block touches, at this block.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, Bytes, B256, U256, U64};
use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_sync::{BlockSource, ChainBlock};
use serde::Deserialize;
use serde_json::json;

use crate::decode::{decode_block, DecodeConfig};
use crate::error::{FetchError, RpcError};
use crate::rpc::{Call, RpcClient};
use crate::schema::TokenMeta;
use crate::transfer::{DecodedBlock, TraceCoverage};
use crate::types::{BlockData, GethTrace, ParityTrace, RawBlock, RawReceipt, Traces};

/// Receipts asked per batch in the per-transaction fallback.
const RECEIPT_BATCH: usize = 200;

/// The selector of `balanceOf(address)`.
const BALANCE_OF: [u8; 4] = [0x70, 0xa0, 0x82, 0x31];

/// Where internal transfers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// geth's `debug_traceBlockByHash` with `callTracer` (geth, reth,
    /// erigon, anvil).
    #[default]
    Debug,
    /// parity's `trace_block` (erigon, reth, nethermind, anvil).
    Parity,
    /// No traces: internal transfers are not indexed.
    Off,
}

impl TraceMode {
    /// The mode's name, as accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            TraceMode::Debug => "debug",
            TraceMode::Parity => "parity",
            TraceMode::Off => "off",
        }
    }
}

/// A trace mode name that is not `debug`, `parity` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trace mode {0:?} (expected debug, parity or off)")]
pub struct ParseTraceModeError(pub String);

impl FromStr for TraceMode {
    type Err = ParseTraceModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "geth" => Ok(TraceMode::Debug),
            "parity" | "trace" => Ok(TraceMode::Parity),
            "off" | "none" => Ok(TraceMode::Off),
            _ => Err(ParseTraceModeError(s.to_owned())),
        }
    }
}

/// Where balances created by the genesis block come from.
#[derive(Debug, Clone, Default)]
pub enum GenesisBalances {
    /// `eth_getBalance(address, 0)` for each address when first seen: dev
    /// chains such as anvil's prefunded accounts (needs state at block 0).
    #[default]
    Probe,
    /// A genesis allocation (from a genesis file), credited at block 0.
    Alloc(Arc<Vec<(Address, U256)>>),
    /// None (the chain's genesis allocates nothing, or it is not wanted).
    Off,
}

/// How the source talks to the node.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The node's JSON-RPC URL (may hold credentials; never logged).
    pub url: String,
    /// Where internal transfers come from.
    pub traces: TraceMode,
    /// Where genesis balances come from.
    pub genesis: GenesisBalances,
    /// How logs are read.
    pub decode: DecodeConfig,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
    /// HTTP requests in flight at most.
    pub max_in_flight: usize,
}

impl SourceConfig {
    /// A configuration for `url` with defaults: debug traces, genesis
    /// balances probed, 30 s timeout, 16 requests in flight.
    pub fn new(url: impl Into<String>) -> Self {
        SourceConfig {
            url: url.into(),
            traces: TraceMode::Debug,
            genesis: GenesisBalances::Probe,
            decode: DecodeConfig::default(),
            timeout: Duration::from_secs(30),
            max_in_flight: 16,
        }
    }
}

/// A fetched and decoded block with what the indexer needs beside it.
#[derive(Debug, Clone)]
pub struct EthBlock {
    /// The decoded block.
    pub decoded: DecodedBlock,
    /// Balances at genesis of addresses this block may see first (credited
    /// at height 0 by the indexer when an address is new to the store).
    pub genesis: Vec<(Address, U256)>,
    /// Metadata of the tokens the block touches.
    pub tokens: Vec<(Address, TokenMeta)>,
    /// `balanceOf` at this block of the freezable tokens' holders the
    /// block touches ([`DecodedBlock::checks`]): (token, holder, balance).
    pub balances: Vec<(Address, Address, U256)>,
    /// Whether internal transfers were read.
    pub traces: TraceCoverage,
    /// Serialized size in bytes, as the node reports it.
    pub size: usize,
}

impl ChainBlock for EthBlock {
    fn block_ref(&self) -> BlockRef {
        BlockRef { height: Height::new(self.decoded.number), hash: BlockHash(self.decoded.hash.0) }
    }
    fn parent_hash(&self) -> BlockHash {
        BlockHash(self.decoded.parent_hash.0)
    }
    fn tx_count(&self) -> usize {
        self.decoded.txs.len()
    }
    fn size_bytes(&self) -> usize {
        self.size
    }
}

#[derive(Deserialize)]
struct RawHeader {
    number: U64,
    hash: B256,
}

/// The node's finalized height, shared between source (which reads it from
/// the node) and indexer (which prunes undo records up to it).
#[derive(Debug, Default, Clone)]
pub struct Finalized(Arc<AtomicU64>);

impl Finalized {
    /// The finalized height, if the node has told one.
    pub fn get(&self) -> Option<u64> {
        self.0.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Records the node's finalized height.
    pub fn set(&self, height: u64) {
        self.0.store(height.saturating_add(1), Ordering::Relaxed);
    }
}

/// Ethereum blocks from a node's JSON-RPC. A clone is another handle on
/// the same client and caches.
#[derive(Debug, Clone)]
pub struct EthSource(Arc<Shared>);

/// What the handles of one source share.
#[derive(Debug)]
struct Shared {
    rpc: RpcClient,
    traces: TraceMode,
    genesis: GenesisBalances,
    decode: DecodeConfig,
    traces_missing: AtomicBool,
    block_receipts_missing: AtomicBool,
    balances_at_genesis: Mutex<HashMap<Address, U256>>,
    tokens: Mutex<HashMap<Address, TokenMeta>>,
    finalized: Finalized,
}

fn hex_height(height: u64) -> String {
    format!("{height:#x}")
}

fn rpc_err(what: String) -> impl FnOnce(RpcError) -> FetchError {
    move |source| FetchError::Rpc { what, source }
}

impl EthSource {
    /// A source for `config`.
    ///
    /// # Errors
    /// [`RpcError::Setup`] when the URL is not valid.
    pub fn new(config: SourceConfig) -> Result<Self, RpcError> {
        Ok(EthSource(Arc::new(Shared {
            rpc: RpcClient::new(&config.url, config.timeout, config.max_in_flight)?,
            traces: config.traces,
            genesis: config.genesis,
            decode: config.decode,
            traces_missing: AtomicBool::new(false),
            block_receipts_missing: AtomicBool::new(false),
            balances_at_genesis: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            finalized: Finalized::default(),
        })))
    }

    /// The node's finalized height, as last seen by [`BlockSource::tip`].
    pub fn finalized(&self) -> Finalized {
        self.0.finalized.clone()
    }

    /// Tells the source of tokens whose metadata the store already holds,
    /// so they are not asked again.
    pub fn preload_tokens(&self, known: impl IntoIterator<Item = (Address, TokenMeta)>) {
        let mut tokens = self.0.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.extend(known);
    }

    /// Whether the node turned out to lack the configured trace method.
    pub fn traces_missing(&self) -> bool {
        self.0.traces_missing.load(Ordering::Relaxed)
    }

    /// The trace mode in use.
    pub fn trace_mode(&self) -> TraceMode {
        self.0.traces
    }

    /// Fetches a block's data (block, receipts, traces) without decoding
    /// transfers: the requests [`BlockSource::block_at`] makes, parsed.
    ///
    /// # Errors
    /// [`FetchError`].
    pub async fn fetch(&self, height: u64) -> Result<(BlockData, TraceCoverage), FetchError> {
        let block: Option<RawBlock> = self
            .0
            .rpc
            .call(Call::new("eth_getBlockByNumber", json!([hex_height(height), true])))
            .await
            .map_err(rpc_err(format!("eth_getBlockByNumber({height})")))?;
        let block = block.ok_or(FetchError::NoBlock { height })?;
        if block.number.to::<u64>() != height {
            return Err(FetchError::Inconsistent {
                height,
                hash: format!("{:#x}", block.hash),
                reason: format!("the node answered block {}", block.number),
            });
        }
        let (receipts, traces, coverage) = self.receipts_and_traces(&block).await?;
        Ok((BlockData { block, receipts, traces }, coverage))
    }

    async fn receipts_and_traces(
        &self,
        block: &RawBlock,
    ) -> Result<(Vec<RawReceipt>, Traces, TraceCoverage), FetchError> {
        let height = block.number.to::<u64>();
        let hash = format!("{:#x}", block.hash);
        let mut calls = Vec::new();
        let want_block_receipts =
            !block.transactions.is_empty() && !self.0.block_receipts_missing.load(Ordering::Relaxed);
        if want_block_receipts {
            calls.push(Call::new("eth_getBlockReceipts", json!([hash])));
        }
        let trace_call = match self.0.traces {
            _ if self.traces_missing() => None,
            TraceMode::Off => None,
            // A block without transactions has no call frames.
            TraceMode::Debug if block.transactions.is_empty() => None,
            TraceMode::Debug => Some(Call::new("debug_traceBlockByHash", json!([hash, {"tracer": "callTracer"}]))),
            // Parity traces also carry block and uncle rewards.
            TraceMode::Parity => Some(Call::new("trace_block", json!([hex_height(height)]))),
        };
        let tracing = trace_call.is_some();
        calls.extend(trace_call);
        let mut answers = self
            .0
            .rpc
            .batch(calls)
            .await
            .map_err(rpc_err(format!("receipts and traces of block {height} ({hash})")))?
            .into_iter();

        let mut receipts = None;
        if want_block_receipts {
            match answers.next() {
                Some(Ok(raw)) => {
                    let list: Vec<RawReceipt> = self
                        .0
                        .rpc
                        .decode("eth_getBlockReceipts", &raw)
                        .map_err(rpc_err(format!("receipts of block {height} ({hash})")))?;
                    // Some nodes answer [] for blocks they have not
                    // indexed receipts of; ask per transaction then.
                    if !list.is_empty() {
                        receipts = Some(list);
                    }
                }
                Some(Err(err)) if err.is_method_missing() => {
                    tracing::warn!(
                        node = self.0.rpc.redacted_url(),
                        "node lacks eth_getBlockReceipts; asking receipts per transaction"
                    );
                    self.0.block_receipts_missing.store(true, Ordering::Relaxed);
                }
                Some(Err(err)) => return Err(rpc_err(format!("eth_getBlockReceipts of block {height} ({hash})"))(err)),
                None => {}
            }
        }
        let receipts = match receipts {
            Some(list) => list,
            None => self.receipts_per_tx(block).await?,
        };
        for receipt in &receipts {
            if receipt.block_hash.is_some_and(|h| h != block.hash) {
                return Err(FetchError::Inconsistent {
                    height,
                    hash,
                    reason: "a receipt belongs to another block".into(),
                });
            }
        }
        if receipts.len() != block.transactions.len() {
            return Err(FetchError::Inconsistent {
                height,
                hash,
                reason: format!("{} receipts for {} transactions", receipts.len(), block.transactions.len()),
            });
        }

        let (traces, coverage) = match (tracing, answers.next()) {
            (true, Some(Ok(raw))) => match self.0.traces {
                TraceMode::Parity => {
                    let list: Vec<ParityTrace> = self
                        .0
                        .rpc
                        .decode("trace_block", &raw)
                        .map_err(rpc_err(format!("traces of block {height} ({hash})")))?;
                    if list.iter().any(|t| t.block_hash.is_some_and(|h| h != block.hash)) {
                        return Err(FetchError::Inconsistent {
                            height,
                            hash,
                            reason: "a trace belongs to another block".into(),
                        });
                    }
                    (Traces::Parity(list), TraceCoverage::Indexed)
                }
                _ => {
                    let list: Vec<GethTrace> = self
                        .0
                        .rpc
                        .decode("debug_traceBlockByHash", &raw)
                        .map_err(rpc_err(format!("traces of block {height} ({hash})")))?;
                    (Traces::Geth(list), TraceCoverage::Indexed)
                }
            },
            (true, Some(Err(err))) if err.is_method_missing() => {
                tracing::warn!(
                    node = self.0.rpc.redacted_url(),
                    mode = self.0.traces.as_str(),
                    "node lacks the trace method; indexing without internal transfers"
                );
                self.0.traces_missing.store(true, Ordering::Relaxed);
                (Traces::None, TraceCoverage::Unavailable)
            }
            (true, Some(Err(err))) => return Err(rpc_err(format!("traces of block {height} ({hash})"))(err)),
            _ if self.traces_missing() => (Traces::None, TraceCoverage::Unavailable),
            _ if self.0.traces == TraceMode::Off => (Traces::None, TraceCoverage::Off),
            // Debug mode and no transactions: nothing to trace.
            _ => (Traces::None, TraceCoverage::Indexed),
        };
        Ok((receipts, traces, coverage))
    }

    async fn receipts_per_tx(&self, block: &RawBlock) -> Result<Vec<RawReceipt>, FetchError> {
        let height = block.number.to::<u64>();
        let mut out = Vec::with_capacity(block.transactions.len());
        for chunk in block.transactions.chunks(RECEIPT_BATCH) {
            let calls = chunk.iter().map(|tx| Call::new("eth_getTransactionReceipt", json!([tx.hash]))).collect();
            let answers = self.0.rpc.batch(calls).await.map_err(rpc_err(format!("receipts of block {height}")))?;
            for (tx, answer) in chunk.iter().zip(answers) {
                let what = || format!("eth_getTransactionReceipt({:#x}) of block {height}", tx.hash);
                let raw = answer.map_err(|e| rpc_err(what())(e))?;
                let receipt: Option<RawReceipt> =
                    self.0.rpc.decode("eth_getTransactionReceipt", &raw).map_err(|e| rpc_err(what())(e))?;
                let receipt = receipt.ok_or_else(|| FetchError::Inconsistent {
                    height,
                    hash: format!("{:#x}", block.hash),
                    reason: format!("the node has no receipt for transaction {:#x}", tx.hash),
                })?;
                out.push(receipt);
            }
        }
        Ok(out)
    }

    /// Genesis balances of the block's addresses not asked before (probe
    /// mode), or the whole allocation at height 0 (alloc mode).
    async fn genesis_balances(&self, decoded: &DecodedBlock) -> Result<Vec<(Address, U256)>, FetchError> {
        match &self.0.genesis {
            GenesisBalances::Off => Ok(Vec::new()),
            GenesisBalances::Alloc(alloc) if decoded.number == 0 => Ok(alloc.as_ref().clone()),
            GenesisBalances::Alloc(_) => Ok(Vec::new()),
            GenesisBalances::Probe => {
                let addresses = decoded.addresses();
                let unknown: Vec<Address> = {
                    let cache = self.0.balances_at_genesis.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    addresses.iter().filter(|a| !cache.contains_key(*a)).copied().collect()
                };
                let mut probed = Vec::with_capacity(unknown.len());
                for chunk in unknown.chunks(RECEIPT_BATCH) {
                    let calls = chunk.iter().map(|a| Call::new("eth_getBalance", json!([a, "0x0"]))).collect();
                    let what = || {
                        format!(
                            "eth_getBalance at block 0 for the addresses of block {} \
                             (a node without state that old needs a genesis file or genesis off)",
                            decoded.number
                        )
                    };
                    let answers = self.0.rpc.batch(calls).await.map_err(|e| rpc_err(what())(e))?;
                    for (address, answer) in chunk.iter().zip(answers) {
                        let raw = answer.map_err(|e| rpc_err(what())(e))?;
                        let balance: U256 =
                            self.0.rpc.decode("eth_getBalance", &raw).map_err(|e| rpc_err(what())(e))?;
                        probed.push((*address, balance));
                    }
                }
                let mut cache = self.0.balances_at_genesis.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.extend(probed);
                Ok(addresses.iter().filter_map(|a| cache.get(a).filter(|b| !b.is_zero()).map(|b| (*a, *b))).collect())
            }
        }
    }

    /// `balanceOf` of the block's checked holders of freezable tokens, asked
    /// at this block by its hash (so that a reorg cannot mix two blocks).
    /// A node without the state of that block (not an archive node) fails
    /// the fetch rather than leaving a balance unchecked.
    async fn holder_balances(&self, decoded: &DecodedBlock) -> Result<Vec<(Address, Address, U256)>, FetchError> {
        let at = json!({ "blockHash": decoded.hash });
        let mut out = Vec::with_capacity(decoded.checks.len());
        for chunk in decoded.checks.chunks(RECEIPT_BATCH) {
            let calls = chunk
                .iter()
                .map(|(token, holder)| {
                    let mut data = BALANCE_OF.to_vec();
                    data.extend_from_slice(&[0; 12]);
                    data.extend_from_slice(holder.as_slice());
                    Call::new("eth_call", json!([{"to": token, "data": Bytes::from(data)}, at]))
                })
                .collect();
            let what =
                format!("balanceOf of freezable tokens' holders at block {} ({:#x})", decoded.number, decoded.hash);
            let answers = self.0.rpc.batch(calls).await.map_err(rpc_err(what))?;
            for ((token, holder), answer) in chunk.iter().zip(answers) {
                let what = || {
                    format!(
                        "balanceOf({holder:#x}) of freezable token {token:#x} at block {} ({:#x}; needs the node's \
                         state at that block)",
                        decoded.number, decoded.hash
                    )
                };
                let raw = answer.map_err(|e| rpc_err(what())(e))?;
                let bytes: Bytes = self.0.rpc.decode("eth_call", &raw).map_err(|e| rpc_err(what())(e))?;
                // A contract without balanceOf answers nothing: no check.
                if bytes.len() >= 32 {
                    out.push((*token, *holder, U256::from_be_slice(&bytes[..32])));
                }
            }
        }
        Ok(out)
    }

    /// Metadata of the block's tokens, asking the node (at this block) for
    /// the ones not known yet.
    async fn token_metadata(&self, decoded: &DecodedBlock) -> Result<Vec<(Address, TokenMeta)>, FetchError> {
        let tokens = decoded.tokens();
        let unknown: Vec<Address> = {
            let cache = self.0.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            tokens.iter().filter(|t| !cache.contains_key(*t)).copied().collect()
        };
        if !unknown.is_empty() {
            let at = hex_height(decoded.number);
            // decimals() and symbol() selectors.
            let calls = unknown
                .iter()
                .flat_map(|token| {
                    [
                        Call::new("eth_call", json!([{"to": token, "data": "0x313ce567"}, at])),
                        Call::new("eth_call", json!([{"to": token, "data": "0x95d89b41"}, at])),
                    ]
                })
                .collect();
            let what = format!("token metadata at block {}", decoded.number);
            let answers = self.0.rpc.batch(calls).await.map_err(rpc_err(what))?;
            let mut answers = answers.into_iter();
            let mut found = Vec::with_capacity(unknown.len());
            for token in unknown {
                let mut word = || -> Option<alloy::primitives::Bytes> {
                    // A contract that reverts or lacks the function answers
                    // with a node error: no metadata, not a failure.
                    let raw = answers.next()?.ok()?;
                    serde_json::from_str(raw.get()).ok()
                };
                let decimals = word().and_then(|b| decode_decimals(&b));
                let symbol = word().and_then(|b| decode_symbol(&b));
                found.push((token, TokenMeta { decimals, symbol }));
            }
            let mut cache = self.0.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            cache.extend(found);
        }
        let cache = self.0.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(tokens.iter().filter_map(|t| cache.get(t).map(|m| (*t, m.clone()))).collect())
    }
}

/// `decimals()`'s answer: a uint8 in one word.
fn decode_decimals(bytes: &[u8]) -> Option<u8> {
    if bytes.len() < 32 {
        return None;
    }
    let value = U256::from_be_slice(&bytes[..32]);
    u8::try_from(value).ok()
}

/// `symbol()`'s answer: an ABI string, or a bytes32 (older tokens such as MKR).
fn decode_symbol(bytes: &[u8]) -> Option<String> {
    let raw: Vec<u8> = if bytes.len() >= 64 && U256::from_be_slice(&bytes[..32]) == U256::from(32) {
        let len = usize::try_from(U256::from_be_slice(&bytes[32..64])).ok()?;
        bytes.get(64..64usize.checked_add(len)?)?.to_vec()
    } else if bytes.len() == 32 {
        bytes.iter().copied().take_while(|b| *b != 0).collect()
    } else {
        return None;
    };
    let text = String::from_utf8(raw).ok()?;
    let clean: String = text.chars().filter(|c| !c.is_control()).take(32).collect();
    (!clean.is_empty()).then_some(clean)
}

impl BlockSource for EthSource {
    type Block = EthBlock;
    type Error = FetchError;

    async fn tip(&self) -> Result<BlockRef, FetchError> {
        let calls = vec![
            Call::new("eth_getBlockByNumber", json!(["latest", false])),
            Call::new("eth_getBlockByNumber", json!(["finalized", false])),
        ];
        let mut answers = self.0.rpc.batch(calls).await.map_err(rpc_err("the latest block".into()))?.into_iter();
        let latest =
            answers.next().ok_or(FetchError::NoBlock { height: 0 })?.map_err(rpc_err("the latest block".into()))?;
        let latest: RawHeader =
            self.0.rpc.decode("eth_getBlockByNumber", &latest).map_err(rpc_err("the latest block".into()))?;
        // Nodes before the merge know no "finalized": then nothing is pruned
        // early and the loop's undo window alone applies.
        if let Some(Ok(raw)) = answers.next() {
            if let Ok(Some(header)) = self.0.rpc.decode::<Option<RawHeader>>("eth_getBlockByNumber", &raw) {
                self.0.finalized.set(header.number.to::<u64>());
            }
        }
        Ok(BlockRef { height: Height::new(latest.number.to::<u64>()), hash: BlockHash(latest.hash.0) })
    }

    async fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, FetchError> {
        let header: Option<RawHeader> = self
            .0
            .rpc
            .call(Call::new("eth_getBlockByNumber", json!([hex_height(height.get()), false])))
            .await
            .map_err(rpc_err(format!("the block hash at height {height}")))?;
        Ok(header.map(|h| BlockHash(h.hash.0)))
    }

    async fn block_at(&self, height: Height) -> Result<EthBlock, FetchError> {
        // Parsing the answers and decoding the block take CPU: in a task of
        // its own, so that they go on while the sync loop writes blocks.
        let source = self.clone();
        let mut task = AbortOnDrop(tokio::spawn(async move { source.fetch_block(height).await }));
        match (&mut task.0).await {
            Ok(block) => block,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => Err(FetchError::Cancelled { height: height.get() }),
        }
    }

    fn describe(&self) -> String {
        format!("eth JSON-RPC at {}", self.0.rpc.redacted_url())
    }
}

/// A spawned task, aborted when its handle is dropped (a fetch the sync
/// loop no longer waits for, after a reorg or a shutdown).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EthSource {
    /// [`BlockSource::block_at`]'s work: fetch, decode, and what the
    /// indexer needs beside the block.
    async fn fetch_block(&self, height: Height) -> Result<EthBlock, FetchError> {
        let (data, traces) = self.fetch(height.get()).await?;
        let size = data.block.size.map_or(0, |s| s.to::<u64>() as usize);
        let decoded = decode_block(&data, &self.0.decode).map_err(|source| FetchError::Decode {
            height: height.get(),
            hash: format!("{:#x}", data.block.hash),
            source,
        })?;
        let (genesis, tokens, balances) = futures::try_join!(
            self.genesis_balances(&decoded),
            self.token_metadata(&decoded),
            self.holder_balances(&decoded)
        )?;
        Ok(EthBlock { decoded, genesis, tokens, balances, traces, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_decode_from_strings_and_bytes32() {
        let mut abi = vec![0u8; 96];
        abi[31] = 32;
        abi[63] = 4;
        abi[64..68].copy_from_slice(b"USDT");
        assert_eq!(decode_symbol(&abi).as_deref(), Some("USDT"));
        let mut b32 = [0u8; 32];
        b32[..3].copy_from_slice(b"MKR");
        assert_eq!(decode_symbol(&b32).as_deref(), Some("MKR"));
        assert_eq!(decode_symbol(&[]), None);
        let mut dec = [0u8; 32];
        dec[31] = 18;
        assert_eq!(decode_decimals(&dec), Some(18));
        dec[0] = 1;
        assert_eq!(decode_decimals(&dec), None);
    }

    #[test]
    fn trace_modes_parse() {
        assert_eq!("debug".parse(), Ok(TraceMode::Debug));
        assert_eq!("PARITY".parse(), Ok(TraceMode::Parity));
        assert_eq!("off".parse(), Ok(TraceMode::Off));
        assert!("x".parse::<TraceMode>().is_err());
    }
}
