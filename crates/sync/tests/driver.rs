//! The sync loop against a chain held in memory and an indexer writing into
//! a real RocksDB store: catch-up, restart, reorgs of several depths, and a
//! reorg deeper than the kept undo records.

use std::sync::{Arc, Mutex};

use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_store::{tables, OpenMode, Schema, Store, StoreError};
use chainsleuth_sync::{run, BlockSource, ChainBlock, Indexer, SourceError, SyncError, SyncOptions, UndoPolicy};
use tokio::sync::watch;

#[derive(Debug, Clone)]
struct ToyBlock {
    height: u64,
    hash: BlockHash,
    parent: BlockHash,
    value: u64,
}

impl ChainBlock for ToyBlock {
    fn block_ref(&self) -> BlockRef {
        BlockRef { height: Height::new(self.height), hash: self.hash }
    }
    fn parent_hash(&self) -> BlockHash {
        self.parent
    }
    fn tx_count(&self) -> usize {
        1
    }
    fn size_bytes(&self) -> usize {
        80
    }
}

/// A chain of `len` blocks whose hashes depend on `branch` from `fork` on.
fn chain(len: u64, fork: u64, branch: u8) -> Vec<ToyBlock> {
    let mut blocks: Vec<ToyBlock> = Vec::new();
    for height in 0..len {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&height.to_be_bytes());
        hash[8] = if height > fork { branch } else { 0 };
        let parent = blocks.last().map_or(BlockHash::default(), |b| b.hash);
        blocks.push(ToyBlock { height, hash: BlockHash(hash), parent, value: height * 10 + u64::from(hash[8]) });
    }
    blocks
}

struct ToySource(Arc<Mutex<Vec<ToyBlock>>>);

#[derive(Debug, thiserror::Error)]
#[error("no block at height {0}")]
struct Missing(u64);

impl SourceError for Missing {
    fn is_retryable(&self) -> bool {
        false
    }
}

impl BlockSource for ToySource {
    type Block = ToyBlock;
    type Error = Missing;

    async fn tip(&self) -> Result<BlockRef, Missing> {
        Ok(self.0.lock().unwrap().last().expect("toy chains are never empty").block_ref())
    }
    async fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, Missing> {
        Ok(self.0.lock().unwrap().get(height.get() as usize).map(|b| b.hash))
    }
    async fn block_at(&self, height: Height) -> Result<ToyBlock, Missing> {
        self.0.lock().unwrap().get(height.get() as usize).cloned().ok_or(Missing(height.get()))
    }
    fn describe(&self) -> String {
        "toy chain".into()
    }
}

tables! {
    /// Block hash by height.
    ToyHashes("toy_hashes"): u64 => BlockHash;
    /// A running total of block values, overwritten by every block.
    ToyTotal("toy_total"): () => u64;
}

static SCHEMA: Schema = Schema { name: "toy", format: 1, tables: &["toy_hashes", "toy_total"], digest_excludes: &[] };

struct ToyIndexer(Arc<Store>);

impl Indexer for ToyIndexer {
    type Block = ToyBlock;
    type Error = StoreError;

    fn tip(&self) -> Result<Option<BlockRef>, StoreError> {
        self.0.tip()
    }
    fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, StoreError> {
        self.0.get::<ToyHashes>(&height.get())
    }
    fn execute(&mut self, block: &ToyBlock, undo: UndoPolicy) -> Result<(), StoreError> {
        let old_tip = self.0.tip()?;
        let old_total = self.0.get::<ToyTotal>(&())?;
        let mut batch = self.0.batch();
        batch.insert::<ToyHashes>(&block.height, &block.hash)?;
        batch.update::<ToyTotal>(&(), &(old_total.unwrap_or(0) + block.value), old_total.as_ref())?;
        batch.set_tip(block.block_ref(), old_tip)?;
        if undo.keep {
            batch.keep_undo(Height::new(block.height), undo.prune)?;
        }
        self.0.write(batch)
    }
    fn unwind(&mut self, height: Height) -> Result<bool, StoreError> {
        self.0.unwind_block(height)
    }
    fn set_bulk(&mut self, on: bool) -> Result<(), StoreError> {
        self.0.set_bulk(on)
    }
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.0.checkpoint()
    }
}

async fn sync(store: &Arc<Store>, source: &ToySource, opts: &SyncOptions) -> Result<(), SyncError> {
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _) = watch::channel(Default::default());
    run(source, ToyIndexer(store.clone()), opts, shutdown, progress).await.map(drop)
}

fn clean_digest(blocks: Vec<ToyBlock>) -> [u8; 32] {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(sync(&store, &ToySource(Arc::new(Mutex::new(blocks))), &SyncOptions::default())).unwrap();
    store.digest().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorgs_of_depth_1_6_and_100_match_a_clean_index_of_the_winner() {
    for depth in [1u64, 6, 100] {
        let len = 400;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap());
        let live = Arc::new(Mutex::new(chain(len, u64::MAX, 0)));
        let opts = SyncOptions { chunk: 64, ..SyncOptions::default() };
        sync(&store, &ToySource(live.clone()), &opts).await.unwrap();
        assert_eq!(store.tip().unwrap().unwrap().height, Height::new(len - 1));

        let fork = len - 1 - depth;
        let winner = chain(len + 2, fork, 7);
        *live.lock().unwrap() = winner.clone();
        sync(&store, &ToySource(live.clone()), &opts).await.unwrap();
        let want = tokio::task::spawn_blocking(move || clean_digest(winner)).await.unwrap();
        assert_eq!(store.digest().unwrap(), want, "reorg of depth {depth}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_below_the_undo_window_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap());
    let live = Arc::new(Mutex::new(chain(100, u64::MAX, 0)));
    let opts = SyncOptions { undo_depth: 10, ..SyncOptions::default() };
    sync(&store, &ToySource(live.clone()), &opts).await.unwrap();
    let before = store.digest().unwrap();

    *live.lock().unwrap() = chain(120, 50, 9);
    let err = sync(&store, &ToySource(live), &opts).await.unwrap_err();
    assert!(matches!(err, SyncError::ForkBelowUndo { .. }), "{err}");
    assert_eq!(store.digest().unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_at_then_resume_reaches_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap());
    let blocks = chain(300, u64::MAX, 0);
    let source = ToySource(Arc::new(Mutex::new(blocks.clone())));
    let partial = SyncOptions { stop_at: Some(Height::new(123)), ..SyncOptions::default() };
    sync(&store, &source, &partial).await.unwrap();
    assert_eq!(store.tip().unwrap().unwrap().height, Height::new(123));
    sync(&store, &source, &SyncOptions::default()).await.unwrap();
    let want = tokio::task::spawn_blocking(move || clean_digest(blocks)).await.unwrap();
    assert_eq!(store.digest().unwrap(), want);
}

/// Each switch of bulk mode, with the tip height it came at.
type Switches = Arc<Mutex<Vec<(bool, Option<u64>)>>>;

/// A [`ToyIndexer`] that records its bulk mode [`Switches`].
struct BulkLog(ToyIndexer, Switches);

impl Indexer for BulkLog {
    type Block = ToyBlock;
    type Error = StoreError;

    fn tip(&self) -> Result<Option<BlockRef>, StoreError> {
        self.0.tip()
    }
    fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, StoreError> {
        self.0.hash_at(height)
    }
    fn execute(&mut self, block: &ToyBlock, undo: UndoPolicy) -> Result<(), StoreError> {
        self.0.execute(block, undo)
    }
    fn unwind(&mut self, height: Height) -> Result<bool, StoreError> {
        self.0.unwind(height)
    }
    fn set_bulk(&mut self, on: bool) -> Result<(), StoreError> {
        let tip = self.0.tip()?.map(|tip| tip.height.get());
        self.1.lock().unwrap().push((on, tip));
        self.0.set_bulk(on)
    }
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.0.checkpoint()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_mode_lasts_from_far_behind_until_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let source = ToySource(Arc::new(Mutex::new(chain(400, u64::MAX, 0))));
    // Past block 300 fewer than 100 blocks are left: bulk mode carries on through the last chunks all the same.
    let opts = SyncOptions { chunk: 64, bulk_threshold: 100, ..SyncOptions::default() };
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _) = watch::channel(Default::default());
    run(&source, BulkLog(ToyIndexer(store.clone()), log.clone()), &opts, shutdown, progress).await.unwrap();
    assert_eq!(*log.lock().unwrap(), [(true, None), (false, Some(399))]);

    // Near the tip, bulk mode is not entered at all.
    log.lock().unwrap().clear();
    *source.0.lock().unwrap() = chain(450, u64::MAX, 0);
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _) = watch::channel(Default::default());
    run(&source, BulkLog(ToyIndexer(store.clone()), log.clone()), &opts, shutdown, progress).await.unwrap();
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    assert_eq!(store.tip().unwrap().unwrap().height, Height::new(449));
}
