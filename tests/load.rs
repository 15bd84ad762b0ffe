//! Load: 200 concurrent clients, each on its own keep-alive connection,
//! ask for address pages and history pages (following `next_cursor`) of
//! random addresses for 30 s, over loopback, against a `chainsleuth serve`
//! whose Bitcoin worker indexes a chain that grows meanwhile (blocks are
//! appended to the node's block files every half second). Every answer must
//! be a 200. It prints requests/s, p50/p90/p99/max latency, the blocks the
//! worker indexed during the run, and how the stores were opened (kept
//! read-only handles reused, fresh opens and what they cost, from
//! `/metrics`).
//!
//! `CHAINSLEUTH_LOAD_SECS` changes the duration; `CHAINSLEUTH_LOAD_COMPARE=1`
//! runs the same load again with `[serve] cache_stores = false` (a store
//! open per request) and prints its figures beside the first run's (and
//! appends both as rows to `$BENCH_ROWS` when `scripts/bench.sh` collects
//! rows).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::Network;
use chainsleuth_btc::sim::{build_chain, write_blocks_dir, BlkDirOptions, SimChain, SimConfig};
use chainsleuth_store::bench::bench_row;
use common::{append_blocks, run_ok, Http, Served};
use rand::{Rng, SeedableRng};
use serde_json::Value;

const CLIENTS: usize = 200;
/// Blocks on disk when the server starts; the rest is appended during the run.
const FIRST_BLOCKS: usize = 300;
const ALL_BLOCKS: u32 = 460;
/// Blocks appended each half second while the clients run.
const APPEND_EVERY: Duration = Duration::from_millis(500);
const APPEND_BLOCKS: usize = 2;

/// What one run measured.
struct Run {
    requests: usize,
    errors: Vec<String>,
    latencies: Vec<Duration>,
    elapsed: Duration,
    blocks_indexed: u64,
    metrics: String,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The value of the sample `series` in a Prometheus text exposition, 0 if absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

impl Run {
    /// Answers per second and the p99 latency in milliseconds.
    fn rate_and_p99(&self) -> (f64, f64) {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        (self.requests as f64 / self.elapsed.as_secs_f64(), percentile(&sorted, 0.99).as_secs_f64() * 1e3)
    }

    fn report(&self, label: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let secs = self.elapsed.as_secs_f64();
        println!(
            "{label}: {} requests in {secs:.1} s = {:.0} req/s with {CLIENTS} clients; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors; the worker indexed {} blocks meanwhile",
            self.requests,
            self.requests as f64 / secs,
            percentile(&sorted, 0.50).as_secs_f64() * 1e3,
            percentile(&sorted, 0.90).as_secs_f64() * 1e3,
            percentile(&sorted, 0.99).as_secs_f64() * 1e3,
            sorted.last().unwrap().as_secs_f64() * 1e3,
            self.errors.len(),
            self.blocks_indexed,
        );
        for store in ["btc", "tags"] {
            let opens =
                sample(&self.metrics, &format!("chainsleuth_store_open_duration_seconds_count{{store=\"{store}\"}}"));
            let open_secs =
                sample(&self.metrics, &format!("chainsleuth_store_open_duration_seconds_sum{{store=\"{store}\"}}"));
            let reused = sample(&self.metrics, &format!("chainsleuth_store_handle_reused_total{{store=\"{store}\"}}"));
            let stale = sample(&self.metrics, &format!("chainsleuth_store_handle_stale_total{{store=\"{store}\"}}"));
            let mean = if opens > 0.0 { open_secs / opens * 1e3 } else { 0.0 };
            println!(
                "{label}: {store} store: {opens:.0} read-only opens ({:.1}/s, mean {mean:.2} ms, {open_secs:.1} s in all), {reused:.0} requests served by a kept handle, {stale:.0} by the kept one while a fresher one opened",
                opens / secs
            );
        }
    }
}

/// Addresses paid in the first `blocks` blocks, which the index has from the start.
fn addresses(chain: &SimChain, blocks: usize) -> Vec<String> {
    let mut found = BTreeSet::new();
    for block in &chain.blocks[..blocks] {
        for tx in &block.txdata {
            for out in &tx.output {
                if let Ok(address) = bitcoin::Address::from_script(&out.script_pubkey, Network::Regtest) {
                    found.insert(address.to_string());
                }
            }
        }
    }
    found.into_iter().collect()
}

/// One client: address pages and history pages until `deadline`.
async fn client(
    addr: String,
    token: String,
    addresses: Arc<Vec<String>>,
    seed: u64,
    deadline: Instant,
) -> (usize, Vec<Duration>, Vec<String>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut http = Http::connect(&addr).await;
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    let mut next: Option<String> = None;
    while Instant::now() < deadline {
        let path = match next.take() {
            Some(path) => path,
            None => {
                let address = &addresses[rng.gen_range(0..addresses.len())];
                if rng.gen_bool(0.5) {
                    format!("/v1/btc/address/{address}?limit=10")
                } else {
                    format!("/v1/btc/address/{address}/history?limit=5")
                }
            }
        };
        let started = Instant::now();
        let (status, body) = http.get(&path, Some(&token)).await;
        latencies.push(started.elapsed());
        if status != 200 {
            errors.push(format!("{path}: {status} {body}"));
            continue;
        }
        // Follow a history page's cursor now and then (the page after it).
        if path.contains("/history") && rng.gen_bool(0.5) {
            let page: Value = serde_json::from_str(&body).unwrap_or_default();
            if let Some(cursor) = page["next_cursor"].as_str() {
                let base = path.split('?').next().unwrap_or_default();
                next = Some(format!("{base}?limit=5&cursor={cursor}"));
            }
        }
    }
    (latencies.len(), latencies, errors)
}

/// Serves a fresh data directory with `extra` in `[serve]`, lets the worker
/// index the first blocks, then runs the clients for `secs` while blocks
/// are appended.
async fn run_load(work: &Path, chain: &SimChain, secs: u64, extra: &str) -> Run {
    let node = work.join("node");
    write_blocks_dir(&node, &chain.blocks[..FIRST_BLOCKS], &BlkDirOptions::default()).unwrap();
    let data = work.join("data");
    let config = work.join("chainsleuth.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\
             [btc]\nnetwork = \"regtest\"\nblocks_dir = {node:?}\npoll_interval = \"100ms\"\n\
             [serve]\nrate_limit = 0\nbtc_max_lag = 0\nshutdown_grace = \"20s\"\n{extra}\n"
        ),
    )
    .unwrap();
    let token = run_ok(&data, &["tokens", "create", "--role", "read", "--name", "load"]).trim().to_owned();
    let mut served = Served::start(&config);
    let mut http = Http::connect(&served.addr).await;
    let ready_by = Instant::now() + Duration::from_secs(120);
    while http.get("/readyz", None).await.0 != 200 {
        assert!(Instant::now() < ready_by, "not ready:\n{}", served.log.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tip_before = FIRST_BLOCKS as u64 - 1;

    let addresses = Arc::new(addresses(chain, FIRST_BLOCKS));
    let stop_appending = Arc::new(AtomicBool::new(false));
    let appender = {
        let (stop, node, blocks) = (stop_appending.clone(), node.clone(), chain.blocks.clone());
        std::thread::spawn(move || {
            let mut next = FIRST_BLOCKS;
            while !stop.load(Ordering::Relaxed) && next < blocks.len() {
                std::thread::sleep(APPEND_EVERY);
                let end = (next + APPEND_BLOCKS).min(blocks.len());
                append_blocks(&node, &blocks[next..end]);
                next = end;
            }
        })
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(served.addr.clone(), token.clone(), addresses.clone(), i as u64, deadline)))
        .collect();
    let mut run = Run {
        requests: 0,
        errors: Vec::new(),
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
        blocks_indexed: 0,
        metrics: String::new(),
    };
    for joined in clients {
        let (requests, latencies, errors) = joined.await.unwrap();
        run.requests += requests;
        run.latencies.extend(latencies);
        run.errors.extend(errors);
    }
    run.elapsed = started.elapsed();
    stop_appending.store(true, Ordering::Relaxed);
    appender.join().unwrap();

    let (_, metrics) = http.get("/metrics", Some(&token)).await;
    run.blocks_indexed = sample(&metrics, "chainsleuth_indexed_tip{chain=\"btc\"}") as u64 - tip_before;
    run.metrics = metrics;
    drop(http);
    let exit = served.terminate(Duration::from_secs(60));
    assert!(exit.success(), "serve exited with {exit}:\n{}", served.log.lock().unwrap());
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_query_while_the_worker_indexes() {
    let secs = std::env::var("CHAINSLEUTH_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let chain = build_chain(&SimConfig { blocks: ALL_BLOCKS, seed: 44, txs_per_block: 20, ..SimConfig::default() });
    let work = tempfile::tempdir().unwrap();
    let kept = run_load(work.path(), &chain, secs, "").await;
    kept.report("kept handles");
    assert!(kept.errors.is_empty(), "{} errors, the first: {:?}", kept.errors.len(), kept.errors.first());
    assert!(kept.requests > CLIENTS, "only {} requests", kept.requests);
    assert!(kept.blocks_indexed > 0, "the worker indexed nothing during the run");

    if std::env::var_os("CHAINSLEUTH_LOAD_COMPARE").is_some() {
        let work = tempfile::tempdir().unwrap();
        let fresh = run_load(work.path(), &chain, secs, "cache_stores = false").await;
        fresh.report("an open per request");
        assert!(fresh.errors.is_empty(), "{} errors, the first: {:?}", fresh.errors.len(), fresh.errors.first());
        let ((rate, p99), (base_rate, base_p99)) = (kept.rate_and_p99(), fresh.rate_and_p99());
        bench_row([
            &format!("load: answers/s, {CLIENTS} clients while indexing, {secs} s"),
            &format!("{rate:.0} /s"),
            &format!("{base_rate:.0} /s opening the store per request"),
            &format!("{:.0}", rate / base_rate),
            "no errors (asserted; issue 8)",
        ]);
        bench_row([
            "load: p99 latency",
            &format!("{p99:.0} ms"),
            &format!("{base_p99:.0} ms opening the store per request"),
            &format!("{:.3}", p99 / base_p99),
            "reported (issue 8)",
        ]);
    }
}
