//! Helpers shared by the index tests: a block source over blocks held in
//! memory, a sync run into a fresh store, and a builder of hand-made chains
//! (no signatures: the indexer checks links and amounts, not scripts).

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Amount, Block, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use chainsleuth_btc::{to_core_hash, BtcBlock, BtcIndexer};
use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_sync::{run, BlockSource, SourceError, SyncOptions, SyncReport};
use tokio::sync::watch;

/// A block source over a chain held in memory; swap the chain to reorg.
#[derive(Clone)]
pub struct MemSource(pub Arc<Mutex<Vec<Block>>>);

#[derive(Debug, thiserror::Error)]
#[error("no block at height {0}")]
pub struct Missing(u64);

impl SourceError for Missing {
    fn is_retryable(&self) -> bool {
        false
    }
}

impl MemSource {
    pub fn new(blocks: Vec<Block>) -> MemSource {
        MemSource(Arc::new(Mutex::new(blocks)))
    }

    pub fn replace(&self, blocks: Vec<Block>) {
        *self.0.lock().unwrap() = blocks;
    }
}

impl BlockSource for MemSource {
    type Block = BtcBlock;
    type Error = Missing;

    async fn tip(&self) -> Result<BlockRef, Missing> {
        let blocks = self.0.lock().unwrap();
        let height = blocks.len() as u64 - 1;
        Ok(BlockRef { height: Height::new(height), hash: to_core_hash(blocks[height as usize].block_hash()) })
    }
    async fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, Missing> {
        Ok(self.0.lock().unwrap().get(height.get() as usize).map(|b| to_core_hash(b.block_hash())))
    }
    async fn block_at(&self, height: Height) -> Result<BtcBlock, Missing> {
        let block = self.0.lock().unwrap().get(height.get() as usize).cloned().ok_or(Missing(height.get()))?;
        let size = block.total_size();
        Ok(BtcBlock::new(height, block, size))
    }
    fn describe(&self) -> String {
        "blocks in memory".into()
    }
}

/// Runs the real sync loop from `source` into the store under `data_dir`.
pub fn sync<S: BlockSource<Block = BtcBlock>>(
    data_dir: &Path,
    source: &S,
    network: Network,
    opts: &SyncOptions,
) -> SyncReport {
    try_sync(data_dir, source, network, opts).expect("sync succeeds")
}

/// Like [`sync`], returning the loop's error.
pub fn try_sync<S: BlockSource<Block = BtcBlock>>(
    data_dir: &Path,
    source: &S,
    network: Network,
    opts: &SyncOptions,
) -> Result<SyncReport, chainsleuth_sync::SyncError> {
    let indexer = BtcIndexer::open(data_dir, network).expect("store opens");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _) = watch::channel(Default::default());
    rt.block_on(run(source, indexer, opts, shutdown, progress))
}

/// The block at `height` of a chain, as the sync loop hands it over.
pub fn btc_block(height: u64, block: &Block) -> BtcBlock {
    BtcBlock::new(Height::new(height), block.clone(), block.total_size())
}

/// A P2WPKH script whose key hash is `n` repeated.
pub fn p2wpkh(n: u8) -> ScriptBuf {
    let mut script = vec![0x00, 20];
    script.extend_from_slice(&[n; 20]);
    ScriptBuf::from_bytes(script)
}

/// A transaction spending `inputs` into `outputs` (script, sat).
pub fn tx(inputs: &[OutPoint], outputs: &[(ScriptBuf, u64)]) -> Transaction {
    Transaction {
        version: TxVersion::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|prev| TxIn {
                previous_output: *prev,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|(script, value)| TxOut { value: Amount::from_sat(*value), script_pubkey: script.clone() })
            .collect(),
    }
}

/// A coinbase of `height` paying `outputs`.
pub fn coinbase(height: u64, outputs: &[(ScriptBuf, u64)]) -> Transaction {
    let mut cb = tx(&[OutPoint::null()], outputs);
    let mut sig = vec![8u8];
    sig.extend_from_slice(&height.to_le_bytes());
    cb.input[0].script_sig = ScriptBuf::from_bytes(sig);
    cb
}

/// A hand-made chain on the regtest genesis block.
pub struct ChainBuilder {
    pub blocks: Vec<Block>,
}

impl Default for ChainBuilder {
    fn default() -> Self {
        ChainBuilder { blocks: vec![bitcoin::constants::genesis_block(Network::Regtest)] }
    }
}

impl ChainBuilder {
    /// Appends a block holding `txs` (the first must be a coinbase).
    pub fn push(&mut self, txs: Vec<Transaction>) -> &Block {
        let block = make_block(self.blocks.last().unwrap(), txs);
        self.blocks.push(block);
        self.blocks.last().unwrap()
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }
}

/// A block on `parent` holding `txs`, with a correct merkle root (no proof of work).
pub fn make_block(parent: &Block, txs: Vec<Transaction>) -> Block {
    let mut block = Block {
        header: Header {
            version: Version::TWO,
            prev_blockhash: parent.block_hash(),
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: parent.header.time + 600,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: txs,
    };
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    block
}
