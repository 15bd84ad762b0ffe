//! The watchlist: addresses (and Bitcoin clusters) an analyst wants to
//! hear about, an alert stored once for each movement of funds into or out
//! of one of them in a newly indexed block, and signed webhook POSTs of
//! those alerts, retried with backoff. A reorg that removes a block marks
//! its alerts retracted and tells their hooks.
//!
//! [`Watch`] is the shared handle: the API's `/v1/watchlist` and
//! `/v1/alerts` routes (admin writes, read listings) and the watcher task,
//! [`run`], which `chainsleuth serve` spawns. Everything lives in the watch
//! store, `<data-dir>/watch` (key layout in `SCHEMA.md` beside this file);
//! the chain stores are only read. This module does not index chains or
//! follow nodes: it looks at what the chain workers have indexed.

mod deliver;
mod routes;
mod scan;
mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch::Receiver;
use tokio::sync::Notify;

pub use deliver::{signature, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};
pub(crate) use routes::routes;
pub use store::{DeliveryState, Event};

/// The chains a watch item can be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchChain {
    /// Bitcoin: addresses and clusters.
    Btc,
    /// Ethereum: addresses (ETH and tokens).
    Eth,
}

impl WatchChain {
    /// Both chains.
    pub const ALL: [WatchChain; 2] = [WatchChain::Btc, WatchChain::Eth];

    /// `btc` or `eth`.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchChain::Btc => "btc",
            WatchChain::Eth => "eth",
        }
    }

    /// The chain's byte in the watch store's keys.
    fn code(self) -> u8 {
        match self {
            WatchChain::Btc => 1,
            WatchChain::Eth => 2,
        }
    }
}

/// Which way funds moved, seen from the watched address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlowDirection {
    /// Paid to it.
    In,
    /// Spent or sent from it (Ethereum fees included).
    Out,
}

impl FlowDirection {
    /// `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowDirection::In => "in",
            FlowDirection::Out => "out",
        }
    }
}

/// A stored alert: one watched address's movement in one direction of one
/// asset in one transaction (amounts of several transfers summed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// Its id: alerts are numbered from 1 in the order they are stored.
    pub id: u64,
    /// The chain.
    pub chain: WatchChain,
    /// The block's height.
    pub height: u64,
    /// The block's hash as explorers show it.
    pub block_hash: String,
    /// The transaction; `None` for Ethereum block-level transfers
    /// (withdrawals, rewards).
    pub txid: Option<String>,
    /// The address that received or sent (a member, for a watched cluster).
    pub address: String,
    /// Into or out of the address.
    pub direction: FlowDirection,
    /// `BTC`, `ETH` or the token contract.
    pub asset: String,
    /// The amount in base units (satoshi, wei, token units), decimal.
    pub amount: String,
    /// The watch items it matched.
    pub watch_ids: Vec<u64>,
    /// When it was stored, Unix seconds.
    pub created_at: u64,
    /// Whether a reorg removed its block.
    pub retracted: bool,
    /// When it was retracted, Unix seconds.
    pub retracted_at: Option<u64>,
}

/// How the watcher polls and delivers.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The wait between passes once the scan has caught up.
    pub poll: Duration,
    /// Blocks scanned per chain in one pass (one blocking task).
    pub blocks_per_pass: u64,
    /// The timeout of one webhook POST.
    pub timeout: Duration,
    /// The wait after the first failed attempt; it doubles after each.
    pub backoff_base: Duration,
    /// The longest wait between attempts.
    pub backoff_cap: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
}

impl Default for WatchOptions {
    /// Polls every second, 200 blocks a pass; 10 s per POST, retried after
    /// 5 s, 10 s, ... up to 10 minutes apart, 12 attempts in all (about an hour).
    fn default() -> Self {
        WatchOptions {
            poll: Duration::from_secs(1),
            blocks_per_pass: 200,
            timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(600),
            max_attempts: 12,
        }
    }
}

/// Counters for the metrics endpoint, since the process started.
#[derive(Debug, Default)]
pub struct WatchCounters {
    /// Alerts stored.
    pub alerts: AtomicU64,
    /// Alerts retracted after reorgs.
    pub retracted: AtomicU64,
    /// Deliveries a hook accepted (2xx).
    pub deliveries_ok: AtomicU64,
    /// Deliveries given up.
    pub deliveries_failed: AtomicU64,
    /// Attempts that failed (each retry counts).
    pub delivery_attempts_failed: AtomicU64,
    /// Passes that failed (the log has why); the next pass retries.
    pub scan_errors: AtomicU64,
}

/// Why the watch store or a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watch store or a chain store failed.
    #[error("watch store")]
    Store(#[from] chainsleuth_store::StoreError),
    /// Reading the Bitcoin index failed.
    #[error("reading the btc index")]
    Btc(#[from] chainsleuth_btc::index::IndexError),
    /// Reading the Ethereum index failed.
    #[error("reading the eth index")]
    Eth(#[from] chainsleuth_eth::QueryError),
    /// A chain store's rows contradict each other.
    #[error("corrupt chain store: {0}")]
    Corrupt(String),
    /// A blocking task panicked or was cancelled.
    #[error("a watch task failed: {0}")]
    Task(String),
}

/// The watchlist's shared state: the data directory, the watch store
/// (opened on first use, then kept), options and counters.
#[derive(Debug)]
pub struct Watch {
    data_dir: PathBuf,
    options: WatchOptions,
    store: Mutex<Option<Arc<store::WatchStore>>>,
    counters: WatchCounters,
    /// The server's `/metrics`, bumped beside the counters when set.
    metrics: Option<Arc<crate::Metrics>>,
    /// Woken when a pass queues deliveries.
    wake: Notify,
}

/// How far the watcher has scanned one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanPosition {
    /// The chain.
    pub chain: WatchChain,
    /// The first height it watches (set on first sight of the chain).
    pub start: Option<u64>,
    /// The last block scanned.
    pub height: Option<u64>,
}

impl Watch {
    /// The watchlist of `data_dir` with the default options; opens nothing yet.
    pub fn new(data_dir: impl Into<PathBuf>) -> Watch {
        Watch {
            data_dir: data_dir.into(),
            options: WatchOptions::default(),
            store: Mutex::new(None),
            counters: WatchCounters::default(),
            metrics: None,
            wake: Notify::new(),
        }
    }

    /// The same with `options`.
    pub fn with_options(mut self, options: WatchOptions) -> Watch {
        self.options = options;
        self
    }

    /// The same, counting alerts and deliveries in `metrics` too.
    pub fn with_metrics(mut self, metrics: Arc<crate::Metrics>) -> Watch {
        self.metrics = Some(metrics);
        self
    }

    /// Counts a delivery attempt's outcome in the server's metrics:
    /// `delivered`, `failed` (to be retried) or `abandoned`.
    fn count_delivery(&self, outcome: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.alert_delivery(outcome);
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The counters since the process started.
    pub fn counters(&self) -> &WatchCounters {
        &self.counters
    }

    /// The watch store, opened (and created) on first use.
    fn store(&self) -> Result<Arc<store::WatchStore>, WatchError> {
        let mut slot = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let store = Arc::new(store::WatchStore::open(&self.data_dir)?);
        *slot = Some(store.clone());
        Ok(store)
    }

    /// How far each chain has been scanned (reads the store; call it off
    /// the async threads).
    ///
    /// # Errors
    /// The watch store fails.
    pub fn positions(&self) -> Result<Vec<ScanPosition>, WatchError> {
        let store = self.store()?;
        WatchChain::ALL
            .into_iter()
            .map(|chain| {
                Ok(ScanPosition {
                    chain,
                    start: store.start(chain)?,
                    height: store.last_scanned(chain)?.map(|(height, _)| height),
                })
            })
            .collect()
    }
}

/// Waits `wait`, or less if `stop` turns true or `wake` fires; true once stopped.
async fn pause(stop: &mut Receiver<bool>, wait: Duration, wake: Option<&Notify>) -> bool {
    if *stop.borrow() {
        return true;
    }
    let woken = async {
        match wake {
            Some(wake) => wake.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = woken => {}
        changed = stop.changed() => if changed.is_err() { return true },
    }
    *stop.borrow()
}

/// Scans both chains until `stop`: each pass on a blocking thread.
async fn scan_loop(watch: Arc<Watch>, mut stop: Receiver<bool>) {
    loop {
        let mut caught_up = true;
        for chain in WatchChain::ALL {
            let task = watch.clone();
            let outcome = tokio::task::spawn_blocking(move || scan::pass(&task, chain, task.options.blocks_per_pass))
                .await
                .map_err(|err| WatchError::Task(err.to_string()))
                .and_then(|outcome| outcome);
            match outcome {
                Ok(outcome) => {
                    let counters = &watch.counters;
                    counters.alerts.fetch_add(outcome.alerts as u64, Ordering::Relaxed);
                    if let Some(metrics) = &watch.metrics {
                        (0..outcome.alerts).for_each(|_| metrics.alert_stored());
                    }
                    counters.retracted.fetch_add(outcome.retracted as u64, Ordering::Relaxed);
                    if outcome.deliveries > 0 {
                        watch.wake.notify_one();
                    }
                    caught_up &= outcome.caught_up;
                }
                Err(err) => {
                    watch.counters.scan_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(chain = chain.as_str(), error = %chainsleuth_tags::error_chain(&err), "watch: scan failed; retrying");
                }
            }
        }
        let wait = if caught_up { watch.options.poll } else { Duration::ZERO };
        if pause(&mut stop, wait, None).await {
            return;
        }
    }
}

/// Attempts the due deliveries until `stop`; an attempt in flight finishes.
async fn deliver_loop(watch: Arc<Watch>, mut stop: Receiver<bool>) {
    const BATCH: usize = 64;
    let client = deliver::client(&watch.options);
    loop {
        let task = watch.clone();
        let due =
            tokio::task::spawn_blocking(move || task.store()?.due(store::now_ms(), BATCH).map_err(WatchError::from))
                .await
                .map_err(|err| WatchError::Task(err.to_string()))
                .and_then(|due| due);
        let mut full = false;
        match due {
            Ok(due) => {
                full = due.len() == BATCH;
                for (key, delivery) in due {
                    if let Err(err) = deliver::attempt(&watch, &client, key, delivery).await {
                        tracing::warn!(error = %chainsleuth_tags::error_chain(&err), "watch: saving a delivery failed");
                    }
                    if *stop.borrow() {
                        return;
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %chainsleuth_tags::error_chain(&err), "watch: reading deliveries failed")
            }
        }
        let wait = if full { Duration::ZERO } else { watch.options.poll };
        if pause(&mut stop, wait, Some(&watch.wake)).await {
            return;
        }
    }
}

/// The watcher: scans each chain's newly indexed blocks for watched
/// addresses, stores alerts, retracts those of blocks a reorg removed, and
/// delivers them to their webhooks, until `stop` turns true (or its sender
/// is dropped). A pass or a delivery in hand finishes first; everything is
/// in the store, so the next run resumes where this one stopped. Errors are
/// logged and retried on the next pass.
pub async fn run(watch: Arc<Watch>, stop: Receiver<bool>) {
    tokio::join!(scan_loop(watch.clone(), stop.clone()), deliver_loop(watch, stop));
}
