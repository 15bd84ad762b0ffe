//! `chainsleuth serve`: one long-lived process that runs, until SIGTERM or
//! Ctrl-C, the chain workers of the config's `[btc]` and `[eth]` sections
//! (each the single writer of its store, following the node's tip), the
//! scheduled imports of `[[tags.source]]`, the watchlist's watcher, and the
//! HTTP API behind bearer tokens with `/healthz`, `/readyz` and `/metrics`.
//!
//! On a signal it stops taking requests, lets those in flight finish, lets
//! each worker finish the block in hand and flush its store, and exits 0;
//! whatever is still running when the `[serve] shutdown_grace` is over is
//! dropped (a worker between blocks: every block is one atomic batch).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use chainsleuth_api::jobs::JobSettings;
use chainsleuth_api::tokens::TokenFile;
use chainsleuth_api::{ApiState, Limits, MetricsAuth, SessionSettings, Settings, WorkerHandle};
use chainsleuth_sync::SyncProgress;
use chainsleuth_tags::{SyncOutcome, TagStore, TagsConfig};
use clap::Args;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::de_duration;
use crate::Context;

/// Where `serve` listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long requests in flight and workers get to finish after a signal.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often the tag schedule is looked at.
const DEFAULT_TAG_SYNC_INTERVAL: Duration = Duration::from_secs(60);
/// The Bitcoin lag (blocks) `/readyz` accepts by default.
const DEFAULT_BTC_MAX_LAG: u64 = 2;
/// The Ethereum lag (blocks) `/readyz` accepts by default.
const DEFAULT_ETH_MAX_LAG: u64 = 10;
/// The first wait before a failed worker starts again; it doubles up to
/// [`MAX_RESTART_DELAY`].
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(5);
/// The longest wait before a failed worker starts again.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(300);

/// Arguments of `chainsleuth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

/// The `[serve]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port to listen on (`--listen` overrides).
    pub listen: Option<SocketAddr>,
    /// Requests per second each token may make on average (50 by
    /// default; 0 turns the limit off).
    pub rate_limit: Option<f64>,
    /// Requests a token may make in a burst above the average (100).
    pub rate_burst: Option<u32>,
    /// The largest request body in bytes (16 MiB by default).
    pub max_body_bytes: Option<usize>,
    /// How long a request may take before it is answered 503 (`60s`).
    #[serde(default, deserialize_with = "de_duration")]
    pub request_timeout: Option<Duration>,
    /// Origins whose pages may call the API from a browser (CORS); none
    /// by default, and then no CORS headers are sent.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Mark the web session cookie `Secure` (set it behind HTTPS).
    #[serde(default)]
    pub secure_cookies: bool,
    /// How long a web session lasts (`12h` by default).
    #[serde(default, deserialize_with = "de_duration")]
    pub session_ttl: Option<Duration>,
    /// Run the chain workers of `[btc]` and `[eth]` when they name a
    /// source (default true; false serves what other processes index).
    pub workers: Option<bool>,
    /// Run the scheduled imports of `[[tags.source]]` (default true).
    pub tag_sync: Option<bool>,
    /// How often the tag schedule is looked at (`60s` by default).
    #[serde(default, deserialize_with = "de_duration")]
    pub tag_sync_interval: Option<Duration>,
    /// Run the watchlist's watcher (default true).
    pub watcher: Option<bool>,
    /// After a signal, how long requests in flight and workers get (`30s`).
    #[serde(default, deserialize_with = "de_duration")]
    pub shutdown_grace: Option<Duration>,
    /// The Bitcoin lag in blocks `/readyz` accepts (2 by default).
    pub btc_max_lag: Option<u64>,
    /// The Ethereum lag in blocks `/readyz` accepts (10 by default).
    pub eth_max_lag: Option<u64>,
    /// Who may read `/metrics`: `none`, `read` (the default), `trace`, `admin`.
    #[serde(default)]
    pub metrics_auth: MetricsAuth,
    /// Trace jobs (and exposure requests) running at once (2 by default).
    pub trace_jobs: Option<usize>,
    /// How long one trace job may run (`10m` by default).
    #[serde(default, deserialize_with = "de_duration")]
    pub trace_time_budget: Option<Duration>,
    /// How many coins and transfers one trace job may visit (200,000,000).
    pub trace_max_visited: Option<u64>,
    /// Keep read-only store handles between requests (default true; false
    /// opens the stores for every request, for comparison).
    pub cache_stores: Option<bool>,
}

/// Runs `chainsleuth serve`: refuses to start without tokens, serves until
/// a signal, then lets the requests in flight finish.
pub fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let token_file = TokenFile::in_dir(&ctx.data_dir);
    if token_file.live().context("reading the API tokens")?.is_empty() {
        bail!(
            "no API tokens in {}: run `chainsleuth tokens create --role read --name NAME` first; refusing to serve without authentication",
            token_file.path().display()
        );
    }
    let listen = match args.listen.or(ctx.config.serve.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse()?,
    };
    let state = ApiState::open(&ctx.data_dir, api_settings(&ctx.config.serve))?;
    serve(ctx, state, listen)
}

/// The API's limits and session settings from `[serve]`.
fn api_settings(config: &ServeConfig) -> Settings {
    let defaults = Settings::default();
    Settings {
        limits: Limits {
            rate_per_second: config.rate_limit.unwrap_or(defaults.limits.rate_per_second),
            rate_burst: config.rate_burst.unwrap_or(defaults.limits.rate_burst),
            max_body_bytes: config.max_body_bytes.unwrap_or(defaults.limits.max_body_bytes),
            request_timeout: config.request_timeout.unwrap_or(defaults.limits.request_timeout),
            cors_origins: config.cors_origins.clone(),
        },
        sessions: SessionSettings {
            ttl: config.session_ttl.unwrap_or(defaults.sessions.ttl),
            secure_cookies: config.secure_cookies,
        },
        jobs: JobSettings {
            max_running: config.trace_jobs.unwrap_or(defaults.jobs.max_running).max(1),
            time_budget: config.trace_time_budget.unwrap_or(defaults.jobs.time_budget),
            max_visited: config.trace_max_visited.unwrap_or(defaults.jobs.max_visited),
        },
    }
}

/// Runs the workers, the tag schedule, the watcher and the API on `state`
/// until a signal, then stops them within the grace period.
fn serve(ctx: &Context, mut state: ApiState, listen: SocketAddr) -> anyhow::Result<()> {
    let config = &ctx.config.serve;
    let grace = config.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE);
    chainsleuth_api::set_store_caching(config.cache_stores.unwrap_or(true));
    state.metrics.set_auth(config.metrics_auth.role());
    let tags = if ctx.config.tags.is_empty() { None } else { Some(ctx.config.tags_config()?) };
    if let Some(tags) = &tags {
        state = state.with_tags_config(tags.clone());
    }
    state = state.with_case_config(crate::trace_cmd::case_config(ctx)?);
    let runtime = crate::runtime()?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        let local = listener.local_addr()?;
        let stop = crate::shutdown_on_signals();
        let mut tasks = Vec::new();
        if config.workers.unwrap_or(true) {
            tasks.extend(start_workers(ctx, &state, &stop)?);
        }
        if let Some(tags) = tags.filter(|tags| !tags.sources.is_empty() && config.tag_sync.unwrap_or(true)) {
            let every = config.tag_sync_interval.unwrap_or(DEFAULT_TAG_SYNC_INTERVAL);
            tasks.push(tokio::spawn(tag_schedule(state.clone(), tags, every, stop.clone())));
        }
        if config.watcher.unwrap_or(true) {
            tasks.push(tokio::spawn(chainsleuth_api::watch::run(state.watch.clone(), stop.clone())));
        }
        let jobs = state.jobs.clone();
        let shutdown = stopped(stop.clone());
        let mut http = tokio::spawn(chainsleuth_api::serve(listener, state, shutdown));
        eprintln!("listening on http://{local}");
        tracing::info!(data_dir = %ctx.data_dir.display(), "serving the API on http://{local}");
        tokio::select! {
            served = &mut http => {
                served.context("the API server")?.context("serving the API")?;
                anyhow::bail!("the API server stopped by itself");
            }
            () = stopped(stop.clone()) => {}
        }
        tracing::info!(grace = ?grace, "stopping: finishing requests in flight and the blocks in hand");
        let deadline = tokio::time::Instant::now() + grace;
        match tokio::time::timeout_at(deadline, http).await {
            Ok(served) => served.context("the API server")?.context("serving the API")?,
            Err(_) => tracing::warn!("requests still in flight after {grace:?}: dropping them"),
        }
        // Running trace jobs are cancelled; the next start marks them failed.
        if tokio::time::timeout_at(deadline, jobs.stop()).await.is_err() {
            tracing::warn!("trace jobs still running after {grace:?}: dropping them");
        }
        for task in tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("a worker was still busy after {grace:?}: dropping it between blocks");
            }
        }
        tracing::info!("stopped");
        anyhow::Ok(())
    });
    // Dropping the runtime would wait for every blocking task; the grace is over.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Starts the worker of each chain whose config section names a source.
fn start_workers(ctx: &Context, state: &ApiState, stop: &watch::Receiver<bool>) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    let config = &ctx.config;
    let btc = &config.btc;
    if btc.blocks_dir.is_some() || btc.rest.is_some() || btc.rpc.is_some() {
        let handle = state.workers.register("btc", config.serve.btc_max_lag.unwrap_or(DEFAULT_BTC_MAX_LAG));
        let mut args = crate::btc_cmd::IndexBtcArgs::default();
        args.sync.follow = true;
        let (data_dir, btc) = (ctx.data_dir.clone(), btc.clone());
        let run = move |stop, progress| {
            let (data_dir, args, btc) = (data_dir.clone(), args.clone(), btc.clone());
            async move { crate::btc_cmd::index(&data_dir, &args, &btc, stop, progress).await.map(drop) }
        };
        tasks.push(tokio::spawn(worker("btc", handle, stop.clone(), run)));
    }
    if config.eth.rpc.is_some() {
        let handle = state.workers.register("eth", config.serve.eth_max_lag.unwrap_or(DEFAULT_ETH_MAX_LAG));
        let mut args = crate::eth_cmd::IndexEthArgs::default().with_config(&config.eth)?;
        args.sync.follow = true;
        let data_dir = ctx.data_dir.clone();
        let run = move |stop, progress| {
            let (data_dir, args) = (data_dir.clone(), args.clone());
            async move { crate::eth_cmd::run_index(&data_dir, args, stop, progress).await }
        };
        tasks.push(tokio::spawn(worker("eth", handle, stop.clone(), run)));
    }
    Ok(tasks)
}

/// Runs one chain's worker until `stop`: each run follows the tip and
/// reports into `handle`; a run that fails is logged, reported, and started
/// again after a delay that doubles up to [`MAX_RESTART_DELAY`].
async fn worker<F, Fut>(chain: &'static str, handle: WorkerHandle, stop: watch::Receiver<bool>, mut run: F)
where
    F: FnMut(watch::Receiver<bool>, watch::Sender<SyncProgress>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut delay = FIRST_RESTART_DELAY;
    loop {
        let (progress, mut seen) = watch::channel(SyncProgress::default());
        let reporter = handle.clone();
        let forward = tokio::spawn(async move {
            while seen.changed().await.is_ok() {
                let p = seen.borrow_and_update().clone();
                reporter.progress(p.indexed.map(|t| t.height.get()), p.source_tip.map(|h| h.get()), p.blocks);
            }
        });
        handle.started();
        let result = run(stop.clone(), progress).await;
        forward.await.ok();
        match result {
            Ok(()) if *stop.borrow() => {
                handle.stopped(None);
                tracing::info!(chain, "worker stopped");
                return;
            }
            Ok(()) => handle.stopped(Some("the sync run ended without being asked to".to_owned())),
            Err(err) => {
                let error = format!("{err:#}");
                tracing::error!(chain, %error, "worker failed; starting it again in {delay:?}");
                handle.stopped(Some(error));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(stop.clone()) => return,
        }
        delay = (delay * 2).min(MAX_RESTART_DELAY);
    }
}

/// Every `every`, imports the tag sources that are due, holding the tag
/// import lock (one import at a time, uploaded or scheduled), and counts
/// the outcomes into the metrics.
async fn tag_schedule(state: ApiState, config: TagsConfig, every: Duration, stop: watch::Receiver<bool>) {
    let config = Arc::new(config);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(stop.clone()) => return,
        }
        let _one_at_a_time = state.tag_imports.lock().await;
        let (data_dir, config) = (state.data_dir.clone(), config.clone());
        let synced = tokio::task::spawn_blocking(move || sync_tags(&data_dir, &config)).await;
        match synced {
            Ok(Ok(reports)) => {
                for report in reports {
                    let outcome = match &report.outcome {
                        SyncOutcome::NotDue => continue,
                        SyncOutcome::NotModified => "not_modified",
                        SyncOutcome::Imported(import) if import.changed => "imported",
                        SyncOutcome::Imported(_) => "unchanged",
                        SyncOutcome::Failed { .. } => "failed",
                    };
                    tracing::info!(source = %report.source, outcome, "scheduled tag import");
                    state.metrics.tag_import(&report.source, outcome);
                }
            }
            Ok(Err(err)) => tracing::error!(error = format!("{err:#}"), "scheduled tag imports failed"),
            Err(err) => tracing::error!(error = %err, "scheduled tag imports panicked"),
        }
    }
}

/// Imports the due sources of `config` into the tag store of `data_dir`.
fn sync_tags(data_dir: &Path, config: &TagsConfig) -> anyhow::Result<Vec<chainsleuth_tags::SyncReport>> {
    let path = TagStore::path_in(data_dir);
    let store = TagStore::open(&path)
        .with_context(|| format!("opening tag store at {}", path.display()))?
        .with_network(config.network()?);
    Ok(store.sync_due_sources(config)?)
}
