//! Crash safety: the indexer is killed with SIGKILL at 20 random moments of
//! a sync and restarted each time; the final store equals a clean run's,
//! byte for byte (`db digest`). The chain is long enough that the first part
//! of the sync runs in bulk mode (no WAL), so both write paths are killed.

mod common;

use std::time::{Duration, Instant};

use chainsleuth_btc::index::{open_read_only, query};
use common::{chain_on_disk, chainsleuth, digest, run_ok};
use rand::{Rng, SeedableRng};

/// The indexed tip's height, 0 when nothing is indexed yet.
fn indexed_height(data: &std::path::Path) -> u64 {
    let Ok(store) = open_read_only(data) else { return 0 };
    query::status(&store).unwrap().tip_height.map_or(0, |h| h.get())
}

#[test]
fn sigkill_at_random_moments_then_restart_reaches_the_clean_state() {
    let work = tempfile::tempdir().unwrap();
    let blocks = work.path().join("chain");
    chain_on_disk(&blocks, 3_000, 10, 5, None);
    // A checkpoint every MB of blocks: kills in the bulk phase (more than
    // 1,000 blocks behind, no WAL) lose only the work since the last one.
    let index_args =
        ["index", "btc", "--network", "regtest", "--bulk-checkpoint-mb", "1", "--blocks-dir", blocks.to_str().unwrap()];

    let clean = work.path().join("clean");
    let started = Instant::now();
    run_ok(&clean, &index_args);
    let clean_run = started.elapsed();
    let want = digest(&clean);

    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let crashed = work.path().join("crashed");
    let mut killed_mid_sync = 0;
    let mut durable = 0;
    let mut share = 0.5;
    for round in 0..20 {
        let mut child = chainsleuth().arg("--data-dir").arg(&crashed).args(index_args).spawn().unwrap();
        // A random moment within a share of the time the remaining work took
        // in the clean run: the kills spread over the whole sync instead of
        // piling up at its end, and a run rarely finishes first even when the
        // machine is less loaded now than during the clean run.
        let remaining = 1.0 - durable as f64 / 3_000.0;
        let window = (clean_run.as_millis() as f64 * remaining * share) as u64;
        let wait = Duration::from_millis(rng.gen_range(20..=window.max(40)));
        std::thread::sleep(wait);
        if child.try_wait().unwrap().is_none() {
            killed_mid_sync += 1;
        }
        // SIGKILL: no destructor, no flush, no signal handler runs.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(status.code().is_none_or(|c| c == 0), "round {round} (seed {seed}): {status}");
        // A run killed before its first durable checkpoint made no progress:
        // give the next one more time, so that the sync still moves on.
        let now = indexed_height(&crashed);
        share = if now > durable { 0.5 } else { (share * 1.5_f64).min(1.5) };
        durable = now;
    }
    assert!(killed_mid_sync >= 15, "only {killed_mid_sync} of 20 kills landed during a sync (seed {seed})");

    run_ok(&crashed, &index_args);
    assert_eq!(digest(&crashed), want, "seed {seed}");
}
