//! Following the tip over Core's REST interface: new blocks are picked up,
//! a reorg is unwound to the fork point and the winning branch applied,
//! readers query while the indexer runs, and SIGTERM stops it cleanly. The
//! result equals a clean index of the winning chain.

mod common;

use std::time::{Duration, Instant};

use chainsleuth_btc::sim::{build_chain, SimConfig};
use chainsleuth_btc::testnode::{CoreMock, MockOptions};
use chainsleuth_core::Height;
use common::{chainsleuth, digest, run_ok};
use serde_json::Value;

fn tip_of(data: &std::path::Path) -> Option<(u64, String)> {
    let out = common::run(data, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((status["btc"]["tip_height"].as_u64()?, status["btc"]["tip_hash"].as_str()?.to_owned()))
}

fn wait_for_tip(data: &std::path::Path, height: u64, hash: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tip_of(data).as_ref().map(|(h, x)| (*h, x.as_str())) != Some((height, hash)) {
        assert!(Instant::now() < deadline, "indexer did not reach {height} {hash}; at {:?}", tip_of(data));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn follow_picks_up_blocks_and_reorgs_and_stops_on_sigterm() {
    let work = tempfile::tempdir().unwrap();
    let chain = build_chain(&SimConfig { blocks: 220, seed: 21, txs_per_block: 8, ..SimConfig::default() });
    let node = CoreMock::start(chain.blocks[..=200].to_vec(), MockOptions::default()).unwrap();
    let data = work.path().join("data");
    let mut child = chainsleuth()
        .arg("--data-dir")
        .arg(&data)
        .args(["index", "btc", "--network", "regtest", "--rest", &node.url(), "--follow", "--poll-interval", "100ms"])
        .spawn()
        .unwrap();

    wait_for_tip(&data, 200, &chain.blocks[200].block_hash().to_string());
    for block in &chain.blocks[201..] {
        node.push_block(block.clone());
    }
    wait_for_tip(&data, 220, &chain.blocks[220].block_hash().to_string());

    // A reorg of depth 6: the branch forks after 214 and ends two blocks higher.
    let winner = chain.with_branch(Height::new(214), 8, 99);
    node.set_chain(winner.blocks.clone());
    wait_for_tip(&data, 222, &winner.blocks[222].block_hash().to_string());

    // SIGTERM: the indexer finishes its block and exits 0.
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");

    let clean = work.path().join("clean");
    let clean_node = CoreMock::start(winner.blocks.clone(), MockOptions::default()).unwrap();
    run_ok(&clean, &["index", "btc", "--network", "regtest", "--rest", &clean_node.url()]);
    assert_eq!(digest(&data), digest(&clean));
}
