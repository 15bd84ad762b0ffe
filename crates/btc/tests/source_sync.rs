//! Each source driven by the real sync loop (parallel in-order fetches,
//! retries, reorg detection through `hash_at`) into an in-memory indexer
//! that keeps only the hash per height: what it ends with must be the
//! source's best chain, before and after a reorg.

mod source_util;

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bitcoin::{Block, Network};
use chainsleuth_btc::sim::{build_chain, write_blocks_dir, BlkDirOptions, SimChain, SimConfig};
use chainsleuth_btc::source::{
    BlkDirConfig, BlkDirSource, HttpOptions, RestConfig, RestSource, RpcAuth, RpcConfig, RpcSource, XorMode,
};
use chainsleuth_btc::testnode::{CoreMock, MockOptions};
use chainsleuth_btc::{to_core_hash, BtcBlock};
use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_sync::{BlockSource, ChainBlock, Indexer, RetryPolicy, SyncOptions, SyncProgress, UndoPolicy};
use tokio::sync::watch;

/// Hashes by height, shared so the test can look after the loop is done.
#[derive(Clone, Default)]
struct MemIndexer {
    hashes: Arc<Mutex<Vec<BlockHash>>>,
}

impl MemIndexer {
    fn hashes(&self) -> Vec<BlockHash> {
        self.hashes.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Indexer for MemIndexer {
    type Block = BtcBlock;
    type Error = Infallible;

    fn tip(&self) -> Result<Option<BlockRef>, Infallible> {
        let hashes = self.hashes();
        Ok(hashes.last().map(|hash| BlockRef { height: Height::new(hashes.len() as u64 - 1), hash: *hash }))
    }
    fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, Infallible> {
        Ok(self.hashes().get(height.get() as usize).copied())
    }
    fn execute(&mut self, block: &BtcBlock, _undo: UndoPolicy) -> Result<(), Infallible> {
        let mut hashes = self.hashes.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(block.height.get(), hashes.len() as u64, "blocks arrive in height order");
        hashes.push(block.block_ref().hash);
        Ok(())
    }
    fn unwind(&mut self, height: Height) -> Result<bool, Infallible> {
        let mut hashes = self.hashes.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(height.get() + 1, hashes.len() as u64, "unwinds the tip");
        hashes.pop();
        Ok(true)
    }
    fn set_bulk(&mut self, _on: bool) -> Result<(), Infallible> {
        Ok(())
    }
    fn checkpoint(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

async fn sync<S: BlockSource<Block = BtcBlock>>(source: &S, indexer: &MemIndexer) {
    let options = SyncOptions {
        retry: RetryPolicy {
            attempts: Some(6),
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        },
        chunk: 50,
        ..SyncOptions::default()
    };
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _seen) = watch::channel(SyncProgress::default());
    chainsleuth_sync::run(source, indexer.clone(), &options, shutdown, progress).await.expect("sync");
}

fn hashes(chain: &[Block]) -> Vec<BlockHash> {
    chain.iter().map(|b| to_core_hash(b.block_hash())).collect()
}

fn sim() -> SimChain {
    build_chain(&SimConfig { blocks: 140, seed: 5, txs_per_block: 4, ..SimConfig::default() })
}

fn http() -> HttpOptions {
    HttpOptions { request_timeout: Duration::from_secs(10), ..HttpOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_source_syncs_through_faults_and_a_reorg() {
    let chain = sim();
    let options = MockOptions { user_pass: Some(("u".into(), "p".into())), ..MockOptions::default() };
    let mock = CoreMock::start(chain.blocks.clone(), options).expect("start mock");
    let auth = RpcAuth::UserPass { user: "u".into(), password: "p".into() };
    let source = RpcSource::new(&RpcConfig { url: mock.url(), auth, http: http() }).expect("rpc source");
    let indexer = MemIndexer::default();
    mock.fail_next(3, 503);
    sync(&source, &indexer).await;
    assert_eq!(indexer.hashes(), hashes(&chain.blocks));

    let winner = chain.with_branch(Height::new(133), 10, 8);
    mock.set_chain(winner.blocks.clone());
    sync(&source, &indexer).await;
    assert_eq!(indexer.hashes(), hashes(&winner.blocks));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_source_syncs_through_faults_and_a_reorg() {
    let chain = sim();
    let mock = CoreMock::start(chain.blocks.clone(), MockOptions::default()).expect("start mock");
    let source = RestSource::new(&RestConfig { url: mock.url(), http: http() }).expect("rest source");
    let indexer = MemIndexer::default();
    mock.fail_next(2, 500);
    sync(&source, &indexer).await;
    assert_eq!(indexer.hashes(), hashes(&chain.blocks));

    let winner = chain.with_branch(Height::new(100), 45, 4);
    mock.set_chain(winner.blocks.clone());
    sync(&source, &indexer).await;
    assert_eq!(indexer.hashes(), hashes(&winner.blocks));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_dir_source_syncs_and_follows_a_reorg_written_later() {
    let chain = sim();
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = Some([9, 8, 7, 6, 5, 4, 3, 2]);
    let options = BlkDirOptions { max_file_size: 128 * 1024, xor_key: key, shuffle: true, stale: Vec::new() };
    let layout = write_blocks_dir(tmp.path(), &chain.blocks, &options).expect("write blocks dir");
    let config = BlkDirConfig { dir: tmp.path().to_owned(), network: Network::Regtest, xor: XorMode::Auto };
    let source = BlkDirSource::open(&config).expect("open");
    let indexer = MemIndexer::default();
    sync(&source, &indexer).await;
    assert_eq!(indexer.hashes(), hashes(&chain.blocks));

    // Core receives a heavier branch and appends it to its last file.
    let winner = chain.with_branch(Height::new(130), 12, 6);
    let branch: Vec<&Block> = winner.blocks[131..].iter().collect();
    let last = layout.files.last().expect("a blk file");
    source_util::append_blocks(last, &branch, Network::Regtest, key);
    sync(&source, &indexer).await;
    assert_eq!(indexer.hashes(), hashes(&winner.blocks));
}
