//! The Ethereum indexing benchmark (run by `scripts/bench-eth.sh`; ignored
//! in normal test runs): fills anvil with at least 5,000 blocks of mixed
//! activity, then measures in the same run a fetch-only pass (the same
//! JSON-RPC requests, answers parsed and dropped) and a full index, and
//! prints blocks/s, transfers/s, their ratio and the store's bytes per
//! transfer (and appends them to `$BENCH_ROWS` when `scripts/bench.sh`
//! collects rows).

mod common;

use std::time::Instant;

use chainsleuth_eth::{EthQuery, EthSource, TraceMode};
use chainsleuth_store::bench::bench_row;
use chainsleuth_sync::SyncOptions;
use common::*;
use futures::StreamExt;

/// Fetches blocks 0..=tip with the index's requests (block, receipts,
/// traces), parses the answers and drops them; returns the seconds taken
/// and the transactions seen.
async fn fetch_only(config: &chainsleuth_eth::SourceConfig, tip: u64, concurrency: usize) -> (f64, usize) {
    let source = EthSource::new(config.clone()).unwrap();
    let start = Instant::now();
    let mut fetched = futures::stream::iter(0..=tip).map(|h| source.fetch(h)).buffered(concurrency);
    let mut txs = 0;
    while let Some(block) = fetched.next().await {
        txs += block.unwrap().0.block.transactions.len();
    }
    (start.elapsed().as_secs_f64(), txs)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run scripts/bench-eth.sh"]
async fn bench_eth_index_against_fetch_only() {
    let blocks = env_or("BENCH_BLOCKS", 5_000);
    let per_block = env_or("BENCH_TXS_PER_BLOCK", 4);
    let concurrency = env_or("BENCH_FETCH_CONCURRENCY", 8);
    // anvil keeps only recent states for tracing unless told to persist more.
    let node = Anvil::start_with(40, &["--max-persisted-states", "20000"]).await;
    let accounts = node.accounts().await;
    let c = deploy(&node, &accounts).await;
    let fill = Instant::now();
    let mut gen = TxGen::new(42);
    let mut sent = 0;
    // One block at a time (anvil_mine would put the whole pool in one).
    while node.height().await < blocks as u64 {
        sent += node.send_all(&gen.take(&accounts, c, per_block)).await;
        node.mine().await;
    }
    let tip = node.height().await;
    eprintln!("filled {tip} blocks with {sent} transactions in {:.1}s", fill.elapsed().as_secs_f64());

    let config = source_config(&node.url, TraceMode::Debug, c.weth);
    let (first_fetch, txs) = fetch_only(&config, tip, concurrency).await;

    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let opts = SyncOptions { fetch_concurrency: concurrency, ..SyncOptions::default() };
    let start = Instant::now();
    let report = index(&store, config.clone(), &opts).await.unwrap();
    let index_secs = start.elapsed().as_secs_f64();
    assert_eq!(report.indexed.unwrap().height.get(), tip);
    let transfers = EthQuery::new(&store).status().unwrap().transfers;
    // Fetch-only again after the index, so that neither pass gets a warmer
    // node; the faster of the two is the baseline.
    let (second_fetch, _) = fetch_only(&config, tip, concurrency).await;
    let fetch_secs = first_fetch.min(second_fetch);

    let n = (tip + 1) as f64;
    println!();
    println!(
        "eth benchmark: {} blocks, {txs} transactions, {transfers} transfers, anvil, fetch concurrency {concurrency}",
        tip + 1
    );
    println!("| pass | seconds | blocks/s | transfers/s |");
    println!("|---|---:|---:|---:|");
    println!("| fetch only (same requests, parsed, dropped) | {fetch_secs:.2} | {:.0} | - |", n / fetch_secs);
    println!(
        "| index (fetch + decode + write) | {index_secs:.2} | {:.0} | {:.0} |",
        n / index_secs,
        transfers as f64 / index_secs
    );
    println!("| ratio index / fetch-only | | {:.2} | |", fetch_secs / index_secs);
    store.flush().unwrap();
    let size = store.approximate_size();
    let per_transfer = size as f64 / transfers.max(1) as f64;
    println!("store: {:.1} MB, {per_transfer:.0} bytes per transfer", size as f64 / 1e6);
    bench_row([
        &format!("eth: indexing rate ({} blocks, {transfers} transfers)", tip + 1),
        &format!("{:.0} blocks/s", n / index_secs),
        &format!("{:.0} blocks/s fetch-only", n / fetch_secs),
        &format!("{:.2}", fetch_secs / index_secs),
        ">= 0.8 of fetch-only (issue 10)",
    ]);
    bench_row(["eth: transfers indexed", &format!("{:.0} transfers/s", transfers as f64 / index_secs), "—", "—", "—"]);
    bench_row(["eth: store size", &format!("{per_transfer:.0} B/transfer"), "—", "—", "reported (issue 10)"]);
}
