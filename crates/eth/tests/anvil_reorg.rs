//! A reorg made with anvil (snapshot, a first branch, revert, a longer
//! second branch): the index unwinds to the fork point and ends up with the
//! same digest as a clean index of the winning chain.

mod common;

use chainsleuth_eth::TraceMode;
use chainsleuth_sync::SyncOptions;
use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_ends_where_a_clean_index_of_the_winner_does() {
    let node = Anvil::start(20).await;
    let accounts = node.accounts().await;
    let c = deploy(&node, &accounts).await;
    workload(&node, &accounts, c, 6, 40, 1).await;
    let fork = node.height().await;
    let snapshot: Value = node.call("evm_snapshot", json!([])).await;
    workload(&node, &accounts[..12], c, 5, 40, 2).await;
    let losing_tip = node.height().await;

    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let opts = SyncOptions { fetch_concurrency: 4, ..SyncOptions::default() };
    let config = || source_config(&node.url, TraceMode::Debug, c.weth);
    index(&store, config(), &opts).await.unwrap();
    assert_eq!(store.tip().unwrap().unwrap().height.get(), losing_tip);

    let reverted: bool = node.call("evm_revert", json!([snapshot])).await;
    assert!(reverted);
    assert_eq!(node.height().await, fork);
    workload(&node, &accounts[8..], c, 7, 40, 3).await;
    let winning_tip = node.height().await;
    assert!(winning_tip > losing_tip);

    let report = index(&store, config(), &opts).await.unwrap();
    assert!(report.unwound >= losing_tip - fork, "unwound {}", report.unwound);
    assert_eq!(store.tip().unwrap().unwrap().height.get(), winning_tip);

    let clean_dir = tempfile::tempdir().unwrap();
    let clean = open_store(clean_dir.path());
    index(&clean, config(), &opts).await.unwrap();
    assert_eq!(store.digest().unwrap(), clean.digest().unwrap());
    assert_balances_match(&node, &store, &[c.token, c.weth], &[fork, winning_tip]).await;
}
