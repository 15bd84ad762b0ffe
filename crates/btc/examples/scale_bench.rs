//! The Bitcoin scale benchmark behind `scripts/bench-btc-scale.sh`: how the cost of indexing grows with the chain.
//!
//! Builds (or reuses from its cache directory) a simulated regtest chain with mainnet-like shapes
//! ([`Shape::mainnet_like`]: address reuse, long-lived coins, exchange-like hot wallets, a growing population,
//! 1- to 100-input and output transactions; placeholder signatures so that tens of millions of transactions
//! build in minutes) as a Bitcoin Core blocks directory, then measures in one run:
//!
//! - parse-only: every block read through `BlkDirSource::block_at` as the sync loop fetches them, timed per tenth
//!   of the chain's transactions;
//! - indexing: the same directory through the real sync loop into a fresh store (bulk mode), timed per tenth, with
//!   the store's size on disk and the process's resident memory at each tenth, then the final flush and
//!   compaction;
//! - the store's size per table (SST files) and per transaction, and peak resident memory (`VmHWM`);
//! - per table, what RocksDB wrote to get there (flushes and compactions, from the events in the store's log):
//!   the write amplification that grows with the store and that compaction's share of the CPU follows;
//! - a projection to mainnet's 1.1 billion transactions: the per-tenth indexing rate fitted against the store's
//!   size as a power law, `ln(rate) = a + b ln(size)` (size = transactions so far times the final bytes per
//!   transaction, steadier than the size on disk mid-compaction), integrated over the chain; and, as the
//!   optimistic bound, the time if the last tenth's rate held.
//!
//! Usage: `scale_bench [--blocks N] [--txs-per-block N] [--seed N] [--cache DIR] [--workers N] [--build-only]
//! [--keep-store]`. With `BENCH_ROWS` naming a file, appends its headline figures to it as tab-separated rows
//! (see `scripts/bench.sh`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::Network;
use chainsleuth_btc::index::{open_read_only, store_path, DEFAULT_MEMORY_LIMIT};
use chainsleuth_btc::sim::{simulate_shaped_to_dir, Scenario, Shape, ShapedSummary, SimConfig};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_btc::BtcIndexer;
use chainsleuth_core::Height;
use chainsleuth_store::bench::{bench_row, cpu_seconds, dir_size, process_memory, written_by_table};
use chainsleuth_store::Store;
use chainsleuth_sync::{run, BlockSource, SyncOptions, SyncProgress};
use tokio::sync::watch;

/// The `chainsleuth` binary's allocator (src/main.rs), so that the benchmark measures what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bitcoin mainnet's transaction count the projection aims at.
const MAINNET_TXS: f64 = 1.1e9;

struct Args {
    blocks: u32,
    txs_per_block: u32,
    seed: u64,
    cache: PathBuf,
    workers: usize,
    build_only: bool,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        blocks: 1_000,
        txs_per_block: 2_000,
        seed: 1,
        cache: PathBuf::from("target/bench-data/btc-scale"),
        workers: 2,
        build_only: false,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--build-only" => args.build_only = true,
            "--keep-store" => args.keep = true,
            _ => {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: {v:?} is not a number"));
                let small = |v: &str| u32::try_from(number(v)?).map_err(|_| format!("{flag}: {v} is too large"));
                match flag.as_str() {
                    "--blocks" => args.blocks = small(&value)?,
                    "--txs-per-block" => args.txs_per_block = small(&value)?,
                    "--seed" => args.seed = number(&value)?,
                    "--cache" => args.cache = PathBuf::from(value),
                    "--workers" => args.workers = number(&value)?.max(1) as usize,
                    _ => return Err(format!("unknown flag {flag}")),
                }
            }
        }
    }
    Ok(args)
}

/// The blocks directory for `cfg` and `shape`, built on first use and kept under `cache` (keyed by every
/// parameter), with its summary.
fn chain_dir(
    cache: &Path,
    cfg: &SimConfig,
    shape: &Shape,
) -> Result<(PathBuf, ShapedSummary), Box<dyn std::error::Error>> {
    let key = format!(
        "b{}-t{}-s{}-hold{}x{}-hot{}x{}-new{}-ph{}",
        cfg.blocks,
        cfg.txs_per_block,
        cfg.seed,
        shape.hold_share,
        shape.hold_max_blocks,
        shape.hot_wallets,
        shape.hot_share,
        shape.new_users_per_block,
        u8::from(shape.placeholder_keys)
    );
    let dir = cache.join(key);
    let done = dir.join("complete");
    if !done.exists() {
        eprintln!("building the chain into {} (cached for later runs)", dir.display());
        let started = Instant::now();
        let mut last = Instant::now();
        let summary = simulate_shaped_to_dir(&dir, cfg, shape, |height, txs| {
            if last.elapsed() > Duration::from_secs(20) {
                last = Instant::now();
                let rate = txs as f64 / started.elapsed().as_secs_f64();
                eprintln!("  height {height}/{}, {txs} txs, {rate:.0} tx/s", cfg.blocks);
            }
        })?;
        let secs = started.elapsed().as_secs_f64();
        std::fs::write(&done, format!("built in {secs:.1} s ({:.0} tx/s)\n", summary.txs as f64 / secs))?;
        eprintln!(
            "built {} blocks, {} txs in {secs:.1} s ({:.0} tx/s)",
            summary.blocks,
            summary.txs,
            summary.txs as f64 / secs
        );
    }
    let summary = serde_json::from_slice(&std::fs::read(dir.join("summary.json"))?)?;
    Ok((dir, summary))
}

/// One tenth of a pass over the chain: when it ended, transactions done by then, store size and memory then.
#[derive(Clone, Copy, Default)]
struct Mark {
    at: Duration,
    /// CPU seconds of the process since the pass started.
    cpu: f64,
    txs: u64,
    store: u64,
    rss: u64,
    /// Level-0 files of all tables and the bytes compaction still has to rewrite ([`Store::compaction_debt`]).
    debt: (u64, u64),
}

/// Rate of each tenth between successive marks: transactions per second and per CPU second.
fn tenth_rates(marks: &[Mark]) -> (Vec<f64>, Vec<f64>) {
    let mut prev = Mark::default();
    marks
        .iter()
        .map(|m| {
            let txs = (m.txs - prev.txs) as f64;
            let rates = (txs / (m.at - prev.at).as_secs_f64().max(1e-9), txs / (m.cpu - prev.cpu).max(0.01));
            prev = *m;
            rates
        })
        .unzip()
}

/// CPU seconds of this process so far (0 where unknown).
fn cpu_now() -> f64 {
    cpu_seconds().unwrap_or(0.0)
}

/// Reads every block the way the sync loop fetches them, keeping `inflight` requests going; marks each tenth of
/// `total` transactions.
async fn parse_only(
    source: &BlkDirSource,
    tip: Height,
    inflight: usize,
    total: u64,
) -> Result<Vec<Mark>, Box<dyn std::error::Error>> {
    let (started, cpu) = (Instant::now(), cpu_now());
    let mut marks = Vec::with_capacity(10);
    let (mut pending, mut next, mut txs) = (VecDeque::new(), 0u64, 0u64);
    loop {
        while pending.len() < inflight && next <= tip.get() {
            let source = source.clone();
            let height = Height::new(next);
            pending.push_back(tokio::spawn(async move { source.block_at(height).await }));
            next += 1;
        }
        let Some(task) = pending.pop_front() else { break };
        txs += task.await??.block.txdata.len() as u64;
        while marks.len() < 10 && txs * 10 >= total * (marks.len() as u64 + 1) {
            marks.push(Mark { at: started.elapsed(), cpu: cpu_now() - cpu, txs, ..Mark::default() });
        }
    }
    Ok(marks)
}

/// Marks each tenth of `total` transactions the sync loop publishes on `progress`, with the store's size and
/// compaction debt then; says each on stderr as it comes, so that an interrupted run still tells its curve.
async fn watch_tenths(
    mut progress: watch::Receiver<SyncProgress>,
    total: u64,
    store: Arc<Store>,
    started: Instant,
    cpu: f64,
) -> Vec<Mark> {
    let mut marks = Vec::with_capacity(10);
    while marks.len() < 10 && progress.changed().await.is_ok() {
        let txs = progress.borrow_and_update().txs;
        while marks.len() < 10 && txs * 10 >= total * (marks.len() as u64 + 1) {
            let (at, cpu, rss) = (started.elapsed(), cpu_now() - cpu, process_memory("VmRSS"));
            let mark = Mark { at, cpu, txs, store: dir_size(store.path()), rss, debt: store.compaction_debt() };
            let rate = (txs - marks.last().map_or(0, |m: &Mark| m.txs)) as f64
                / (mark.at - marks.last().map_or(Duration::ZERO, |m: &Mark| m.at)).as_secs_f64().max(1e-9);
            eprintln!(
                "  tenth {} indexed at {:.1} s: {rate:.0} tx/s, store {} MB, {} level-0 files, {} MB to compact",
                marks.len() + 1,
                mark.at.as_secs_f64(),
                mark.store >> 20,
                mark.debt.0,
                mark.debt.1 >> 20
            );
            marks.push(mark);
        }
    }
    marks
}

/// Least-squares fit of `y = a + b x`.
fn fit_line(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - b * mx, b)
}

/// Hours to index `txs` transactions when the rate at store size `s` is `exp(a + b ln(s))` and the store grows by
/// `bytes_per_tx` per transaction; integrated in 1,000 steps.
fn projected_hours(a: f64, b: f64, bytes_per_tx: f64, txs: f64) -> f64 {
    let steps = 1_000;
    let step = txs / f64::from(steps);
    let seconds: f64 = (0..steps)
        .map(|i| {
            let size = (bytes_per_tx * step * (f64::from(i) + 0.5)).max(1.0);
            step / (a + b * size.ln()).exp()
        })
        .sum();
    seconds / 3600.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let cfg = SimConfig {
        blocks: args.blocks,
        seed: args.seed,
        txs_per_block: args.txs_per_block,
        scenario: Scenario::Basic,
    };
    let shape = Shape::mainnet_like(args.txs_per_block);
    let (chain, summary) = chain_dir(&args.cache, &cfg, &shape)?;
    if args.build_only {
        return Ok(());
    }
    let total = summary.txs;
    let config = BlkDirConfig { dir: chain.clone(), network: Network::Regtest, xor: XorMode::Auto };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.workers).enable_all().build()?;
    let opts = SyncOptions::default();

    // Parse-only baseline (a fresh source, so its file scan is timed too, as in indexing).
    let source = BlkDirSource::open(&config)?;
    let parse = rt.block_on(async {
        let tip = source.tip().await?;
        parse_only(&source, tip.height, opts.fetch_concurrency, total).await
    })?;
    let parse_secs = parse.last().map_or(0.0, |m| m.at.as_secs_f64());

    // Indexing through the sync loop into a fresh store.
    let store_dir = args.cache.join(format!("store-{}", std::process::id()));
    if store_dir.exists() {
        std::fs::remove_dir_all(&store_dir)?;
    }
    let source = BlkDirSource::open(&config)?;
    let indexer = BtcIndexer::open(&store_dir, Network::Regtest)?;
    let (_stop, shutdown) = watch::channel(false);
    let (progress, progress_rx) = watch::channel(Default::default());
    let (started, cpu) = (Instant::now(), cpu_now());
    let watcher = rt.spawn(watch_tenths(progress_rx, total, indexer.store().clone(), started, cpu));
    let report = rt.block_on(run(&source, indexer, &opts, shutdown, progress))?;
    let index_secs = started.elapsed().as_secs_f64();
    let index_cpu = cpu_now() - cpu;
    let marks = rt.block_on(watcher)?;
    let peak_rss = process_memory("VmHWM");
    let store_bytes = dir_size(&store_path(&store_dir));
    // Before the store is opened again, which starts a new log.
    let written = written_by_table(&store_path(&store_dir));
    let tables = open_read_only(&store_dir)?.table_sizes();
    if args.keep {
        eprintln!("store kept at {}", store_dir.display());
    } else {
        std::fs::remove_dir_all(&store_dir)?;
    }

    let (parse_rates, parse_cpu_rates) = tenth_rates(&parse);
    let (index_rates, index_cpu_rates) = tenth_rates(&marks);
    let parse_cpu = parse.last().map_or(0.0, |m| m.cpu);
    let parse_rate = total as f64 / parse_secs;
    let index_rate = report.txs as f64 / index_secs;
    let bytes_per_tx = store_bytes as f64 / report.txs.max(1) as f64;
    let gb = |b: u64| b as f64 / 1e9;
    println!(
        "chain: {} blocks, {} txs, {:.2} GB of blocks, {} addresses, {} coins held long at the tip, busiest address {} txs ({})",
        summary.blocks,
        summary.txs,
        gb(summary.bytes),
        summary.addresses,
        summary.held_coins,
        summary.busiest.first().map_or(0, |b| b.1),
        chain.display()
    );
    println!("runtime: {} worker threads, fetch concurrency {}", args.workers, opts.fetch_concurrency);
    println!();
    println!(
        "| tenth | txs to | parse-only tx/s | indexing tx/s | ratio | indexing tx per CPU s | ratio per CPU s | \
         store GB at end | store B/tx | RSS GB | level-0 files | GB to compact |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, mark) in marks.iter().enumerate() {
        let (p, x) = (parse_rates.get(i).copied().unwrap_or(f64::NAN), index_rates[i]);
        let (pc, xc) = (parse_cpu_rates.get(i).copied().unwrap_or(f64::NAN), index_cpu_rates[i]);
        println!(
            "| {} | {} | {p:.0} | {x:.0} | {:.3} | {xc:.0} | {:.3} | {:.2} | {:.0} | {:.2} | {} | {:.2} |",
            i + 1,
            mark.txs,
            x / p,
            xc / pc,
            gb(mark.store),
            mark.store as f64 / mark.txs.max(1) as f64,
            gb(mark.rss),
            mark.debt.0,
            gb(mark.debt.1)
        );
    }
    let last_mark = marks.last().copied().unwrap_or_default();
    let first_last = index_rates.last().copied().unwrap_or(0.0) / index_rates.first().copied().unwrap_or(1.0);
    let first_last_cpu =
        index_cpu_rates.last().copied().unwrap_or(0.0) / index_cpu_rates.first().copied().unwrap_or(1.0);

    // Projection: ln(rate) against ln(store size) over the tenths after the first (warm-up), extrapolated.
    let points: Vec<(f64, f64)> = marks
        .iter()
        .zip(&index_rates)
        .skip(1)
        .map(|(m, r)| ((m.txs as f64 * bytes_per_tx).ln(), r.max(1e-9).ln()))
        .collect();
    let (a, b) = fit_line(&points);
    let mainnet_store = bytes_per_tx * MAINNET_TXS;
    let rate_at_mainnet = (a + b * mainnet_store.ln()).exp();
    let hours = projected_hours(a, b, bytes_per_tx, MAINNET_TXS);
    let flat_hours = MAINNET_TXS / index_rates.last().copied().unwrap_or(index_rate) / 3600.0;

    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!("| parse-only (whole chain) | {parse_rate:.0} tx/s in {parse_secs:.1} s |");
    println!(
        "| indexing (whole chain, final flush and compaction included) | {index_rate:.0} tx/s in {index_secs:.1} s |"
    );
    println!("| final flush and compaction | {:.1} s |", index_secs - last_mark.at.as_secs_f64());
    println!("| indexing / parse-only | {:.3} |", index_rate / parse_rate);
    println!("| indexing / parse-only (tx per CPU second) | {:.3} |", parse_cpu / index_cpu.max(0.01));
    println!("| last tenth / first tenth (indexing) | {first_last:.3} |");
    println!("| last tenth / first tenth (indexing, tx per CPU second) | {first_last_cpu:.3} |");
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    println!(
        "| peak RSS (VmHWM, parse-only and indexing; the indexer's bound is {:.0} GiB) | {:.2} GB = {:.2} GiB |",
        gib(DEFAULT_MEMORY_LIMIT),
        gb(peak_rss),
        gib(peak_rss)
    );
    println!("| store | {:.2} GB, {bytes_per_tx:.0} B/tx |", gb(store_bytes));
    println!("| power-law fit over tenths 2-10 | rate = {:.0} x (store GB)^{b:.3} tx/s |", (a + b * 1e9f64.ln()).exp());
    println!("| projected store at 1.1e9 txs (B/tx held) | {:.0} GB |", mainnet_store / 1e9);
    println!("| projected rate at 1.1e9 txs | {rate_at_mainnet:.0} tx/s |");
    println!("| projected time to index 1.1e9 txs (fit integrated) | {hours:.1} h |");
    println!("| time at the last tenth's rate, if it stayed flat | {flat_hours:.1} h |");
    println!();
    println!("| table | MB | bytes per tx | MB written by flushes | MB written by compactions | written / size |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mb = |bytes: u64| bytes as f64 / 1e6;
    let (mut all_flushed, mut all_compacted) = (0, 0);
    for (name, bytes) in tables.iter().filter(|(_, bytes)| *bytes > 0) {
        let (flushed, compacted) =
            written.iter().find(|w| w.table == *name).map_or((0, 0), |w| (w.flushed, w.compacted));
        (all_flushed, all_compacted) = (all_flushed + flushed, all_compacted + compacted);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            mb(*bytes),
            *bytes as f64 / report.txs.max(1) as f64,
            mb(flushed),
            mb(compacted),
            (flushed + compacted) as f64 / *bytes as f64
        );
    }
    println!(
        "| all | {:.1} | {bytes_per_tx:.1} | {:.1} | {:.1} | {:.1} |",
        mb(store_bytes),
        mb(all_flushed),
        mb(all_compacted),
        (all_flushed + all_compacted) as f64 / store_bytes as f64
    );
    println!(
        "\nprojection assumption: ln(indexing rate) of each tenth is a linear function of ln(store size) (a power \
         law, least squares over tenths 2-10, the first left out as warm-up), the store keeps {bytes_per_tx:.0} B/tx \
         up to mainnet's size, on this machine (2 cores, shared); the flat figure is the optimistic bound."
    );

    let size = format!("{:.1}M tx", total as f64 / 1e6);
    bench_row([
        &format!("btc-scale: indexing rate, {size}"),
        &format!("{:.1}k tx/s", index_rate / 1e3),
        &format!("{:.0}k tx/s parse-only", parse_rate / 1e3),
        &format!("{:.3}", index_rate / parse_rate),
        ">= 0.25 of parse-only",
    ]);
    bench_row([
        &format!("btc-scale: last tenth / first tenth, {size}"),
        &format!("{:.1}k tx/s", index_rates.last().copied().unwrap_or(0.0) / 1e3),
        &format!("{:.1}k tx/s first tenth", index_rates.first().copied().unwrap_or(0.0) / 1e3),
        &format!("{first_last:.3}"),
        ">= 0.8",
    ]);
    bench_row([&format!("btc-scale: store, {size}"), &format!("{bytes_per_tx:.0} B/tx"), "", "", "<= 150 B/tx"]);
    bench_row([
        &format!("btc-scale: bytes written by flushes and compactions, {size}"),
        &format!("{:.2} GB", gb(all_flushed + all_compacted)),
        &format!("{:.2} GB store", gb(store_bytes)),
        &format!("{:.1}", (all_flushed + all_compacted) as f64 / store_bytes as f64),
        "",
    ]);
    bench_row([
        &format!("btc-scale: peak RSS, {size}"),
        &format!("{:.2} GiB", gib(peak_rss)),
        &format!("{:.0} GiB bound", gib(DEFAULT_MEMORY_LIMIT)),
        &format!("{:.2}", peak_rss as f64 / DEFAULT_MEMORY_LIMIT as f64),
        "under the bound (default 4 GiB)",
    ]);
    bench_row([
        &format!("btc-scale: projected mainnet (1.1e9 tx) indexing, from {size}"),
        &format!("{hours:.1} h"),
        &format!("{flat_hours:.1} h at the last tenth's rate"),
        "",
        "",
    ]);
    Ok(())
}
