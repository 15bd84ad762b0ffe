//! Readiness: `GET /readyz` (no token), and the worker reports behind it.
//!
//! The chain workers of `chainsleuth serve` report into [`Workers`]
//! (`state.workers`): indexed tip, node tip, blocks indexed, last error,
//! whether they run. `/readyz` answers 200 when the stores that exist (and
//! those a worker writes) open, every registered worker runs and each
//! worker's lag (node tip minus indexed tip) is within its bound; otherwise
//! 503, the body naming each check and which failed. Liveness is
//! `/healthz`, which asks nothing of the stores.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::ApiState;

/// How far back blocks/s looks.
const RATE_WINDOW: Duration = Duration::from_secs(30);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The chain workers of this process and what they last reported.
#[derive(Debug, Default)]
pub struct Workers {
    chains: Mutex<BTreeMap<&'static str, Arc<Mutex<WorkerState>>>>,
}

#[derive(Debug)]
struct WorkerState {
    max_lag: u64,
    running: bool,
    indexed_tip: Option<u64>,
    node_tip: Option<u64>,
    /// (when, blocks indexed since the process started), oldest first.
    samples: VecDeque<(Instant, u64)>,
    /// Blocks indexed by earlier runs of the worker (it restarts after errors).
    blocks_before: u64,
    blocks: u64,
    errors: u64,
    last_error: Option<String>,
}

/// What one worker last reported, as `/readyz` and `/metrics` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerView {
    /// `btc` or `eth`.
    pub chain: &'static str,
    /// Whether the worker is running now.
    pub running: bool,
    /// The indexed tip's height.
    pub indexed_tip: Option<u64>,
    /// The node's tip when last asked.
    pub node_tip: Option<u64>,
    /// Node tip minus indexed tip, when both are known.
    pub lag: Option<u64>,
    /// The lag readiness accepts.
    pub max_lag: u64,
    /// Blocks indexed per second over the last 30 seconds.
    pub blocks_per_second: f64,
    /// Blocks indexed since the process started.
    pub blocks: u64,
    /// Errors that stopped a run of the worker.
    pub errors: u64,
    /// The last of them.
    pub last_error: Option<String>,
}

impl Workers {
    /// Registers the worker of `chain`, whose lag must stay within
    /// `max_lag` blocks for readiness; it counts as not running until
    /// [`WorkerHandle::started`].
    pub fn register(&self, chain: &'static str, max_lag: u64) -> WorkerHandle {
        let state = WorkerState {
            max_lag,
            running: false,
            indexed_tip: None,
            node_tip: None,
            samples: VecDeque::new(),
            blocks_before: 0,
            blocks: 0,
            errors: 0,
            last_error: None,
        };
        let cell = Arc::new(Mutex::new(state));
        lock(&self.chains).insert(chain, cell.clone());
        WorkerHandle { cell }
    }

    /// Every registered worker's last report, by chain.
    pub fn snapshot(&self) -> Vec<WorkerView> {
        let now = Instant::now();
        lock(&self.chains)
            .iter()
            .map(|(chain, cell)| {
                let state = lock(cell);
                WorkerView {
                    chain,
                    running: state.running,
                    indexed_tip: state.indexed_tip,
                    node_tip: state.node_tip,
                    lag: state.node_tip.zip(state.indexed_tip).map(|(node, ours)| node.saturating_sub(ours)),
                    max_lag: state.max_lag,
                    blocks_per_second: rate(&state.samples, state.blocks, now),
                    blocks: state.blocks,
                    errors: state.errors,
                    last_error: state.last_error.clone(),
                }
            })
            .collect()
    }
}

/// Blocks per second since the oldest sample within the window (zero when
/// nothing was indexed in it).
fn rate(samples: &VecDeque<(Instant, u64)>, blocks: u64, now: Instant) -> f64 {
    let Some(&(since, base)) = samples.iter().find(|(at, _)| now.duration_since(*at) <= RATE_WINDOW) else {
        return 0.0;
    };
    let secs = now.duration_since(since).as_secs_f64().max(1.0);
    (blocks - base) as f64 / secs
}

/// A worker's side of [`Workers`]: it reports through this.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    cell: Arc<Mutex<WorkerState>>,
}

impl WorkerHandle {
    /// A run of the worker starts (its store is open).
    pub fn started(&self) {
        let mut state = lock(&self.cell);
        state.running = true;
        state.blocks_before = state.blocks;
    }

    /// Progress of the current run: the indexed tip, the node's tip, and
    /// the blocks this run has indexed.
    pub fn progress(&self, indexed_tip: Option<u64>, node_tip: Option<u64>, blocks_this_run: u64) {
        let now = Instant::now();
        let mut state = lock(&self.cell);
        state.indexed_tip = indexed_tip.or(state.indexed_tip);
        state.node_tip = node_tip.or(state.node_tip);
        state.blocks = state.blocks_before + blocks_this_run;
        let blocks = state.blocks;
        if state.samples.back().is_none_or(|(_, last)| *last != blocks) {
            state.samples.push_back((now, blocks));
        }
        // Keep one sample older than the window, as the base of the rate.
        while state.samples.len() > 2
            && state.samples.get(1).is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            state.samples.pop_front();
        }
    }

    /// The run ended with `error` (`None`: it stopped as asked).
    pub fn stopped(&self, error: Option<String>) {
        let mut state = lock(&self.cell);
        state.running = false;
        if let Some(error) = error {
            state.errors += 1;
            state.last_error = Some(error);
        }
    }
}

/// One readiness check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// `btc_store`, `btc_worker`, `btc_lag`, `tags_store`, ...
    pub check: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub message: String,
}

/// The body of `/readyz`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    /// The names of the checks that failed.
    pub failed: Vec<String>,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

fn check(name: String, result: Result<String, String>) -> Check {
    match result {
        Ok(message) => Check { check: name, ok: true, message },
        Err(message) => Check { check: name, ok: false, message },
    }
}

/// Runs the checks (opening stores: call it on a blocking thread).
fn readiness(state: &ApiState) -> Readiness {
    let workers = state.workers.snapshot();
    let has_worker = |chain: &str| workers.iter().any(|w| w.chain == chain);
    let data_dir = &state.data_dir;
    let mut checks = Vec::new();
    let store_check = |opened: Result<(), crate::ApiError>| match opened {
        Ok(()) => Ok("opens".to_owned()),
        Err(err) => Err(err.message),
    };
    if has_worker("btc") || chainsleuth_btc::index::store_path(data_dir).exists() {
        checks.push(check("btc_store".into(), store_check(crate::stores::open_btc(data_dir).map(drop))));
    }
    if has_worker("eth") || chainsleuth_eth::store_path(data_dir).exists() {
        checks.push(check("eth_store".into(), store_check(crate::stores::open_eth(data_dir).map(drop))));
    }
    if chainsleuth_tags::TagStore::path_in(data_dir).exists() {
        checks.push(check("tags_store".into(), store_check(crate::stores::open_tags(data_dir).map(drop))));
    }
    for w in &workers {
        let running = if w.running {
            Ok("running".to_owned())
        } else {
            Err(match &w.last_error {
                Some(error) => format!("not running; last error: {error}"),
                None => "not running".to_owned(),
            })
        };
        checks.push(check(format!("{}_worker", w.chain), running));
        let lag = match (w.lag, w.indexed_tip, w.node_tip) {
            (Some(lag), Some(ours), Some(node)) if lag <= w.max_lag => {
                Ok(format!("{lag} blocks behind the node (indexed {ours}, node {node}; at most {} allowed)", w.max_lag))
            }
            (Some(lag), Some(ours), Some(node)) => Err(format!(
                "{lag} blocks behind the node (indexed {ours}, node {node}); at most {} allowed",
                w.max_lag
            )),
            _ => Err("unknown: the worker has not yet reached the node and the store".to_owned()),
        };
        checks.push(check(format!("{}_lag", w.chain), lag));
    }
    let failed: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| c.check.clone()).collect();
    Readiness { ready: failed.is_empty(), failed, checks }
}

/// `GET /readyz`.
#[utoipa::path(get, path = "/readyz", security(), tag = "service",
    responses(
        (status = 200, description = "Ready: the stores open, the workers run and are within their lag", body = Readiness),
        (status = 503, description = "Not ready: `failed` names the checks that failed", body = Readiness),
    ))]
pub async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Readiness>) {
    let readiness = tokio::task::spawn_blocking(move || readiness(&state)).await.unwrap_or_else(|err| Readiness {
        ready: false,
        failed: vec!["checks".to_owned()],
        checks: vec![Check { check: "checks".to_owned(), ok: false, message: format!("the checks failed: {err}") }],
    });
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(readiness))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_and_rate_come_from_the_reports() {
        let workers = Workers::default();
        let btc = workers.register("btc", 2);
        assert!(!workers.snapshot()[0].running);
        btc.started();
        btc.progress(Some(10), Some(15), 10);
        let view = &workers.snapshot()[0];
        assert_eq!((view.running, view.lag, view.blocks), (true, Some(5), 10));
        btc.stopped(Some("node refused".into()));
        btc.started();
        btc.progress(Some(15), None, 5);
        let view = &workers.snapshot()[0];
        assert_eq!((view.lag, view.node_tip, view.blocks, view.errors), (Some(0), Some(15), 15, 1));
        assert_eq!(view.last_error.as_deref(), Some("node refused"));
    }

    #[test]
    fn the_rate_counts_only_the_window() {
        let now = Instant::now();
        let samples: VecDeque<_> = [(now - Duration::from_secs(100), 0), (now - Duration::from_secs(20), 100)].into();
        assert!((rate(&samples, 300, now) - 10.0).abs() < 0.01);
        let old: VecDeque<_> = [(now - Duration::from_secs(100), 0)].into();
        assert_eq!(rate(&old, 0, now), 0.0);
    }
}
