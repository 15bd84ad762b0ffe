//! The loop itself: catch up with the source, unwind on reorgs, follow.

use std::time::Duration;

use chainsleuth_core::{BlockRef, Height};
use futures::StreamExt;
use tokio::sync::watch;

use crate::error::SyncError;
use crate::retry::RetryPolicy;
use crate::traits::{BlockSource, ChainBlock, Indexer, UndoPolicy};

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Keep following the tip after catching up, until shutdown.
    pub follow: bool,
    /// How often to ask the source for a new tip while following.
    pub poll_interval: Duration,
    /// Blocks fetched in parallel (and buffered in order) ahead of the writer.
    pub fetch_concurrency: usize,
    /// Blocks fetched per round before the source's tip is asked again.
    pub chunk: u64,
    /// Undo records are kept for blocks this close to the source's tip.
    pub undo_depth: u64,
    /// Bulk mode starts when more than this many blocks behind and lasts
    /// until the index has caught up.
    pub bulk_threshold: u64,
    /// In bulk mode, make the index durable after this many bytes of blocks,
    /// so that a crash loses at most about this much work.
    pub bulk_checkpoint_bytes: u64,
    /// Retries of source faults.
    pub retry: RetryPolicy,
    /// Stop after indexing this height (tests, partial indexes).
    pub stop_at: Option<Height>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            follow: false,
            poll_interval: Duration::from_secs(10),
            fetch_concurrency: 8,
            chunk: 2_000,
            undo_depth: 300,
            bulk_threshold: 1_000,
            bulk_checkpoint_bytes: 256 << 20,
            retry: RetryPolicy::default(),
            stop_at: None,
        }
    }
}

/// Where the loop is, published after every block for progress displays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// The indexed tip.
    pub indexed: Option<BlockRef>,
    /// The source's tip when last asked.
    pub source_tip: Option<Height>,
    /// Blocks indexed by this run.
    pub blocks: u64,
    /// Transactions indexed by this run.
    pub txs: u64,
    /// Serialized block bytes indexed by this run.
    pub bytes: u64,
    /// Blocks unwound by reorgs in this run.
    pub unwound: u64,
    /// Whether the indexed tip has reached the source's tip.
    pub caught_up: bool,
}

/// What a finished run did.
pub type SyncReport = SyncProgress;

fn index_err<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
    height: Height,
) -> impl FnOnce(E) -> SyncError {
    move |err| SyncError::Index { what, height, source: Box::new(err) }
}

struct Loop<'a, S: BlockSource, I> {
    source: &'a S,
    indexer: I,
    opts: &'a SyncOptions,
    progress: watch::Sender<SyncProgress>,
    state: SyncProgress,
    bulk: bool,
    /// Block bytes written in bulk mode since the last checkpoint.
    unchecked_bytes: u64,
}

impl<S, I> Loop<'_, S, I>
where
    S: BlockSource,
    I: Indexer<Block = S::Block>,
{
    fn source_err<E: std::error::Error + Send + Sync + 'static>(&self, what: String) -> impl FnOnce(E) -> SyncError {
        let source_name = self.source.describe();
        move |err| SyncError::Source { what, source_name, source: Box::new(err) }
    }

    fn publish(&self) {
        self.progress.send_replace(self.state.clone());
    }

    fn set_bulk(&mut self, on: bool) -> Result<(), SyncError> {
        if self.bulk != on {
            let height = self.state.indexed.map_or(Height::GENESIS, |t| t.height);
            tokio::task::block_in_place(|| self.indexer.set_bulk(on))
                .map_err(index_err("switching bulk mode", height))?;
            self.bulk = on;
            tracing::info!(bulk = on, %height, "bulk mode {}", if on { "on" } else { "off" });
        }
        Ok(())
    }

    /// Finds the highest height where source and index agree, and unwinds
    /// the index down to it.
    async fn unwind_to_fork(&mut self, tip: BlockRef) -> Result<(), SyncError> {
        let mut height = tip.height;
        loop {
            let ours = self.indexer.hash_at(height).map_err(index_err("reading the indexed chain", height))?;
            let theirs = self
                .opts
                .retry
                .run("hash", || self.source.hash_at(height))
                .await
                .map_err(self.source_err(format!("fetching the block hash at height {height}")))?;
            if ours.is_some() && ours == theirs {
                break;
            }
            height = height.prev().ok_or(SyncError::NoCommonAncestor)?;
        }
        let fork = height;
        if tip.height.blocks_above(fork) > self.opts.undo_depth {
            return Err(SyncError::ForkBelowUndo { height: fork.next() });
        }
        tracing::warn!(from = %tip.height, to = %fork, depth = tip.height.blocks_above(fork), "reorg: unwinding to the fork point");
        let mut at = tip.height;
        while at > fork {
            let unwound =
                tokio::task::block_in_place(|| self.indexer.unwind(at)).map_err(index_err("unwinding", at))?;
            if !unwound {
                return Err(SyncError::ForkBelowUndo { height: at });
            }
            self.state.unwound += 1;
            at = at.prev().expect("at > fork >= 0");
        }
        self.state.indexed = self.indexer.tip().map_err(index_err("reading the tip", fork))?;
        self.publish();
        Ok(())
    }

    /// One round: ask the tip, then index up to `chunk` blocks or unwind a
    /// reorg. Returns `true` once caught up (or at `stop_at`).
    async fn round(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<bool, SyncError> {
        let source_tip =
            self.opts.retry.run("tip", || self.source.tip()).await.map_err(self.source_err("asking the tip".into()))?;
        self.state.source_tip = Some(source_tip.height);
        let ours = self.indexer.tip().map_err(index_err("reading the tip", source_tip.height))?;
        self.state.indexed = ours;

        if let Some(ours) = ours {
            if self.opts.stop_at.is_some_and(|stop| ours.height >= stop) {
                return Ok(true);
            }
            if ours.height >= source_tip.height {
                let theirs = self
                    .opts
                    .retry
                    .run("hash", || self.source.hash_at(ours.height))
                    .await
                    .map_err(self.source_err(format!("fetching the block hash at height {}", ours.height)))?;
                if theirs == Some(ours.hash) {
                    return Ok(true);
                }
                self.unwind_to_fork(ours).await?;
                return Ok(false);
            }
        }

        let first = ours.map_or(Height::GENESIS, |t| t.height.next());
        let mut last = Height::new(source_tip.height.get().min(first.get() + self.opts.chunk - 1));
        if let Some(stop) = self.opts.stop_at {
            last = last.min(stop);
        }
        // Far behind, bulk mode; once in it, it lasts until caught up (`drive`
        // and `run` leave it), so that the compaction that ends it runs once,
        // after the initial sync, not as the last chunk starts.
        if source_tip.height.blocks_above(first) > self.opts.bulk_threshold {
            self.set_bulk(true)?;
        }

        let source = self.source;
        let retry = self.opts.retry;
        let mut blocks = futures::stream::iter(first.get()..=last.get())
            .map(|h| {
                let height = Height::new(h);
                async move { (height, retry.run("block", || source.block_at(height)).await) }
            })
            .buffered(self.opts.fetch_concurrency.max(1));

        let mut tip = ours;
        loop {
            let next = tokio::select! {
                next = blocks.next() => next,
                () = shutdown_requested(shutdown) => return Ok(true),
            };
            let Some((height, block)) = next else { break };
            let block = block.map_err(self.source_err(format!("fetching block {height}")))?;
            let block_ref = block.block_ref();
            if let Some(tip) = tip {
                if block.parent_hash() != tip.hash {
                    drop(blocks);
                    self.unwind_to_fork(tip).await?;
                    return Ok(false);
                }
            }
            let depth = source_tip.height.blocks_above(block_ref.height);
            let undo = UndoPolicy {
                keep: depth < self.opts.undo_depth,
                prune: block_ref.height.get().checked_sub(self.opts.undo_depth).map(Height::new),
            };
            tokio::task::block_in_place(|| self.indexer.execute(&block, undo))
                .map_err(index_err("indexing", height))?;
            tip = Some(block_ref);
            self.state.indexed = tip;
            self.state.blocks += 1;
            self.state.txs += block.tx_count() as u64;
            self.state.bytes += block.size_bytes() as u64;
            self.state.caught_up = block_ref.height >= source_tip.height;
            self.unchecked_bytes += block.size_bytes() as u64;
            if self.bulk && self.unchecked_bytes >= self.opts.bulk_checkpoint_bytes {
                self.unchecked_bytes = 0;
                tokio::task::block_in_place(|| self.indexer.checkpoint())
                    .map_err(index_err("checkpointing", height))?;
            }
            self.publish();
            if *shutdown.borrow() {
                return Ok(true);
            }
        }
        Ok(self.opts.stop_at.is_some_and(|stop| last >= stop))
    }
}

/// Indexes `source` with `indexer` until caught up, or (with
/// `opts.follow`) until `shutdown` turns `true`; publishes progress after
/// every block. Needs a multi-threaded tokio runtime: the indexer's writes
/// run on the calling worker thread while fetches go on in the others.
///
/// A block that does not extend the indexed tip starts a reorg: the loop
/// walks down to the highest height where source and index agree, unwinds
/// every block above it with its undo record, and carries on. On leaving,
/// bulk mode is switched off (flushing the store).
///
/// # Errors
/// [`SyncError`]: a source fault that retries did not cure, an indexer
/// error, or a reorg deeper than the kept undo records. The store stays at
/// its last good tip.
pub async fn run<S, I>(
    source: &S,
    indexer: I,
    opts: &SyncOptions,
    mut shutdown: watch::Receiver<bool>,
    progress: watch::Sender<SyncProgress>,
) -> Result<SyncReport, SyncError>
where
    S: BlockSource,
    I: Indexer<Block = S::Block>,
{
    let mut lp =
        Loop { source, indexer, opts, progress, state: SyncProgress::default(), bulk: false, unchecked_bytes: 0 };
    let result = drive(&mut lp, &mut shutdown).await;
    let leave_bulk = lp.set_bulk(false);
    result?;
    leave_bulk?;
    Ok(lp.state)
}

async fn drive<S, I>(lp: &mut Loop<'_, S, I>, shutdown: &mut watch::Receiver<bool>) -> Result<(), SyncError>
where
    S: BlockSource,
    I: Indexer<Block = S::Block>,
{
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let caught_up = lp.round(shutdown).await?;
        if !caught_up {
            continue;
        }
        lp.state.caught_up = true;
        lp.publish();
        if !lp.opts.follow || *shutdown.borrow() || lp.opts.stop_at.is_some() {
            return Ok(());
        }
        lp.set_bulk(false)?;
        tokio::select! {
            _ = tokio::time::sleep(lp.opts.poll_interval) => {}
            () = shutdown_requested(shutdown) => return Ok(()),
        }
    }
}

/// Resolves once `shutdown` turns `true`; never, if its sender is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
