//! The Bitcoin indexing benchmark behind `scripts/bench-btc.sh`.
//!
//! Builds (or reuses from its cache directory) a simulated regtest chain as a
//! Bitcoin Core blocks directory, then measures in one run:
//!
//! - parse-only: every block read through `BlkDirSource::block_at` (read,
//!   de-xor, deserialize, txids via the merkle-root check), with the same
//!   fetch concurrency and runtime as the sync loop uses;
//! - indexing: the same directory through the real sync loop into a fresh
//!   store (bulk mode, final flush and compaction included);
//! - the store's size on disk per transaction, and per table;
//! - address-page latency (100 rows from random cursors) for the address
//!   with the longest history.
//!
//! Usage: `index_bench [--blocks N] [--txs-per-block N] [--seed N] [--cache DIR] [--workers N] [--pages N]
//! [--keep-store]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::Network;
use chainsleuth_btc::index::{open_read_only, query};
use chainsleuth_btc::sim::{simulate_to_dir, GroundTruth, Scenario, SimConfig};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_btc::BtcIndexer;
use chainsleuth_core::Height;
use chainsleuth_store::bench::{bench_row, cpu_seconds, dir_size};
use chainsleuth_sync::{run, BlockSource, SyncOptions};
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

/// The `chainsleuth` binary's allocator (src/main.rs), so that the benchmark measures what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    blocks: u32,
    txs_per_block: u32,
    seed: u64,
    cache: PathBuf,
    workers: usize,
    pages: usize,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        blocks: 2_000,
        txs_per_block: 110,
        seed: 1,
        cache: PathBuf::from("target/bench-data"),
        workers: 2,
        pages: 2_000,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep-store" {
            args.keep = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: {v:?} is not a number"));
        match flag.as_str() {
            "--blocks" => args.blocks = u32::try_from(number(&value)?).map_err(|_| "--blocks too large")?,
            "--txs-per-block" => {
                args.txs_per_block = u32::try_from(number(&value)?).map_err(|_| "--txs-per-block too large")?
            }
            "--seed" => args.seed = number(&value)?,
            "--cache" => args.cache = PathBuf::from(value),
            "--workers" => args.workers = number(&value)?.max(1) as usize,
            "--pages" => args.pages = number(&value)?.max(1) as usize,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// The blocks directory for `cfg`, built on first use and kept under `cache`.
fn chain_dir(cache: &Path, cfg: &SimConfig) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let dir = cache.join(format!("btc-sim-b{}-t{}-s{}", cfg.blocks, cfg.txs_per_block, cfg.seed));
    let done = dir.join("complete");
    if !done.exists() {
        eprintln!("building the chain into {} (cached for later runs)", dir.display());
        let started = Instant::now();
        let summary = simulate_to_dir(&dir, cfg, true)?;
        std::fs::write(&done, b"")?;
        eprintln!("built {} blocks, {} txs in {:.1?}", summary.blocks, summary.txs, started.elapsed());
    }
    Ok(dir)
}

struct Totals {
    blocks: u64,
    txs: u64,
    bytes: u64,
    elapsed: Duration,
    cpu: Option<f64>,
}

impl Totals {
    fn rate(&self, count: u64) -> f64 {
        count as f64 / self.elapsed.as_secs_f64()
    }
}

/// Reads every block the way the sync loop fetches them, keeping `inflight` requests going.
async fn parse_only(source: &BlkDirSource, tip: Height, inflight: usize) -> Result<Totals, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut totals = Totals { blocks: 0, txs: 0, bytes: 0, elapsed: Duration::ZERO, cpu: None };
    let mut pending = std::collections::VecDeque::new();
    let mut next = 0u64;
    loop {
        while pending.len() < inflight && next <= tip.get() {
            let source = source.clone();
            let height = Height::new(next);
            pending.push_back(tokio::spawn(async move { source.block_at(height).await }));
            next += 1;
        }
        let Some(task) = pending.pop_front() else { break };
        let block = task.await??;
        totals.blocks += 1;
        totals.txs += block.block.txdata.len() as u64;
        totals.bytes += block.size as u64;
    }
    totals.elapsed = started.elapsed();
    Ok(totals)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let cfg = SimConfig {
        blocks: args.blocks,
        seed: args.seed,
        txs_per_block: args.txs_per_block,
        scenario: Scenario::Basic,
    };
    let chain = chain_dir(&args.cache, &cfg)?;
    let truth = GroundTruth::read_json(&chain.join("truth.json"))?;
    let config = BlkDirConfig { dir: chain.clone(), network: Network::Regtest, xor: XorMode::Auto };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.workers).enable_all().build()?;
    let opts = SyncOptions::default();

    // Parse-only baseline (a fresh source, so its file scan is timed too, as in indexing).
    let source = BlkDirSource::open(&config)?;
    let cpu_before = cpu_seconds();
    let mut parse = rt.block_on(async {
        let tip = source.tip().await?;
        parse_only(&source, tip.height, opts.fetch_concurrency).await
    })?;
    parse.cpu = cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);

    // Indexing through the sync loop into a fresh store.
    let store_dir = args.cache.join(format!("store-{}", std::process::id()));
    if store_dir.exists() {
        std::fs::remove_dir_all(&store_dir)?;
    }
    let source = BlkDirSource::open(&config)?;
    let indexer = BtcIndexer::open(&store_dir, Network::Regtest)?;
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _) = watch::channel(Default::default());
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let report = rt.block_on(run(&source, indexer, &opts, shutdown, progress))?;
    let index = Totals {
        blocks: report.blocks,
        txs: report.txs,
        bytes: report.bytes,
        elapsed: started.elapsed(),
        cpu: cpu_seconds().zip(cpu_before).map(|(after, before)| after - before),
    };
    let store_bytes = dir_size(&chainsleuth_btc::index::store_path(&store_dir));

    // Page latency for the address with the longest history.
    let store = Arc::new(open_read_only(&store_dir)?);
    let (address, figures) =
        truth.addresses.iter().max_by_key(|(_, t)| t.tx_count).ok_or("the chain has no addresses")?;
    let mut cursors: Vec<Option<String>> = vec![None];
    let mut cursor = None;
    loop {
        let page = query::address_history(&store, address, Network::Regtest, cursor.as_deref(), 100)?;
        match page.next_cursor {
            Some(next) => {
                cursors.push(Some(next.clone()));
                cursor = Some(next);
            }
            None => break,
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut latencies = Vec::with_capacity(args.pages);
    for _ in 0..args.pages {
        let cursor = &cursors[rng.gen_range(0..cursors.len())];
        let started = Instant::now();
        let page = query::address_history(&store, address, Network::Regtest, cursor.as_deref(), 100)?;
        latencies.push(started.elapsed());
        assert!(!page.rows.is_empty());
    }
    latencies.sort_unstable();
    let tables = store.table_sizes();
    drop(store);
    if args.keep {
        eprintln!("store kept at {}", store_dir.display());
    } else {
        std::fs::remove_dir_all(&store_dir)?;
    }

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mb = |t: &Totals| t.rate(t.bytes) / 1e6;
    println!(
        "chain: {} blocks, {} txs, {:.1} MB of blocks ({})",
        parse.blocks,
        parse.txs,
        parse.bytes as f64 / 1e6,
        chain.display()
    );
    println!("runtime: {} worker threads, fetch concurrency {}", args.workers, opts.fetch_concurrency);
    println!();
    println!("| measure | blocks/s | tx/s | MB/s | seconds | CPU seconds | tx per CPU second |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, t) in [("parse-only (read + deserialize + txid)", &parse), ("indexing (sync loop into RocksDB)", &index)]
    {
        let cpu = t.cpu.map_or("n/a".to_owned(), |c| format!("{c:.2}"));
        let per_cpu = t.cpu.map_or("n/a".to_owned(), |c| format!("{:.0}", t.txs as f64 / c.max(0.01)));
        println!(
            "| {name} | {:.0} | {:.0} | {:.1} | {:.2} | {cpu} | {per_cpu} |",
            t.rate(t.blocks),
            t.rate(t.txs),
            mb(t),
            t.elapsed.as_secs_f64()
        );
    }
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!("| indexing / parse-only (tx/s, wall clock) | {:.2} |", index.rate(index.txs) / parse.rate(parse.txs));
    if let (Some(index_cpu), Some(parse_cpu)) = (index.cpu, parse.cpu) {
        println!("| indexing / parse-only (tx per CPU second) | {:.2} |", parse_cpu / index_cpu.max(0.01));
    }
    println!("| store size | {:.1} MB |", store_bytes as f64 / 1e6);
    println!("| store bytes per tx | {:.0} |", store_bytes as f64 / index.txs.max(1) as f64);
    println!("| largest address history | {} rows ({} pages of 100) |", figures.tx_count, cursors.len());
    println!(
        "| page latency p50 (100 rows, {} random cursors) | {:.3} ms |",
        args.pages,
        ms(percentile(&latencies, 0.5))
    );
    println!("| page latency p99 | {:.3} ms |", ms(percentile(&latencies, 0.99)));
    let tx_rate = |t: &Totals| t.rate(t.txs);
    let per_tx = |bytes: u64| bytes as f64 / index.txs.max(1) as f64;
    bench_row([
        &format!("btc: indexing rate ({} txs)", index.txs),
        &format!("{:.0} tx/s", tx_rate(&index)),
        &format!("{:.0} tx/s parse-only", tx_rate(&parse)),
        &format!("{:.2}", tx_rate(&index) / tx_rate(&parse)),
        ">= 0.25 of parse-only (issue 10)",
    ]);
    if let (Some(index_cpu), Some(parse_cpu)) = (index.cpu, parse.cpu) {
        bench_row([
            "btc: indexing CPU cost",
            &format!("{:.0} tx per CPU s", index.txs as f64 / index_cpu.max(0.01)),
            &format!("{:.0} tx per CPU s parse-only", parse.txs as f64 / parse_cpu.max(0.01)),
            &format!("{:.2}", parse_cpu / index_cpu.max(0.01)),
            "—",
        ]);
    }
    bench_row([
        "btc: store size",
        &format!("{:.0} B/tx", per_tx(store_bytes)),
        &format!("{:.0} B/tx of raw blocks", per_tx(parse.bytes)),
        &format!("{:.2}", store_bytes as f64 / parse.bytes.max(1) as f64),
        "at most 150 B/tx (issue 10)",
    ]);
    let (p50, p99) = (ms(percentile(&latencies, 0.5)), ms(percentile(&latencies, 0.99)));
    bench_row([
        &format!("btc: address page p99 (100 rows, history of {})", figures.tx_count),
        &format!("{p99:.3} ms"),
        &format!("{p50:.3} ms p50"),
        &format!("{:.2}", p99 / p50),
        "—",
    ]);
    println!();
    println!("| table | MB | bytes per tx |");
    println!("|---|---:|---:|");
    for (name, bytes) in tables.iter().filter(|(_, bytes)| *bytes > 0) {
        println!("| {name} | {:.1} | {:.1} |", *bytes as f64 / 1e6, *bytes as f64 / index.txs.max(1) as f64);
    }
    Ok(())
}
