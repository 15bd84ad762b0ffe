//! Timings of the regtest chain builder at benchmark sizes; run with
//! `cargo test --release -p chainsleuth-btc --test sim_scale -- --ignored --nocapture`.

use std::time::Instant;

use chainsleuth_btc::sim::{build_chain, SimConfig};

fn timed(cfg: &SimConfig) {
    let start = Instant::now();
    let chain = build_chain(cfg);
    let elapsed = start.elapsed();
    let bytes: usize = chain.blocks.iter().map(|b| b.total_size()).sum();
    let busiest = chain.truth.addresses.values().map(|a| a.tx_count).max().unwrap_or(0);
    println!(
        "{} blocks x {} txs target: {} txs, {} addresses (busiest in {} txs), {:.1} MB in {:.2} s",
        cfg.blocks,
        cfg.txs_per_block,
        chain.tx_count(),
        chain.truth.addresses.len(),
        busiest,
        bytes as f64 / 1e6,
        elapsed.as_secs_f64()
    );
}

#[test]
#[ignore = "slow: a timing, not a check"]
fn build_times_at_benchmark_sizes() {
    timed(&SimConfig { blocks: 2_000, ..SimConfig::default() });
    timed(&SimConfig { blocks: 2_000, txs_per_block: 100, ..SimConfig::default() });
    timed(&SimConfig { blocks: 2_100, txs_per_block: 100, ..SimConfig::default() });
}
