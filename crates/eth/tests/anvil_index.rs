//! Indexing a busy anvil chain: thousands of transactions among 60
//! accounts, checked against the node's own balances at several heights
//! (fees, internal calls, tokens, WETH), with both trace forms giving the
//! same index (the second written without undo records below the tip),
//! reverted internal sends and ERC-721 transfers left out, and the queries
//! reading it back.

mod common;

use alloy::primitives::{Address, U256};
use chainsleuth_eth::{Asset, EthQuery, TraceMode};
use chainsleuth_sync::SyncOptions;
use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_balances_equal_the_nodes_at_every_checked_height() {
    let node = Anvil::start(60).await;
    let accounts = node.accounts().await;
    assert_eq!(accounts.len(), 60);
    let c = deploy(&node, &accounts).await;
    let sent = workload(&node, &accounts, c, 24, 100, 7).await;
    assert!(sent >= 2_000, "only {sent} transactions accepted");
    let tip = node.height().await;

    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let opts = SyncOptions { fetch_concurrency: 4, ..SyncOptions::default() };
    let report = index(&store, source_config(&node.url, TraceMode::Debug, c.weth), &opts).await.unwrap();
    assert_eq!(report.indexed.unwrap().height.get(), tip);
    assert!(report.txs >= 2_000);

    let heights = [0, 3, 6, tip / 2, tip - 1, tip];
    let checks = assert_balances_match(&node, &store, &[c.token, c.weth], &heights).await;
    assert!(checks > 1_000, "{checks} checks");

    let query = EthQuery::new(&store);
    let status = query.status().unwrap();
    assert_eq!(status.internal_transfers.as_deref(), Some("indexed"));
    assert!(status.addresses >= 60 && status.transfers > 4_000, "{status:?}");
    // The ERC-721 contract is no fungible asset; token and WETH are, with
    // their metadata.
    let tokens = query.all_tokens().unwrap();
    assert!(tokens.iter().all(|(t, _)| *t != c.nft), "ERC-721 transfers must not be indexed");
    let token_meta = tokens.iter().find(|(t, _)| *t == c.token).unwrap();
    assert_eq!((token_meta.1.symbol.as_deref(), token_meta.1.decimals), (Some("TUSD"), Some(6)));
    assert!(tokens.iter().any(|(t, m)| *t == c.weth && m.symbol.as_deref() == Some("WETH")));

    // Reverted inner sends leave no internal transfer behind; failed
    // transactions keep only their fee.
    let mut tried = 0;
    for height in 1..=tip {
        let block: Value = node.call("eth_getBlockByNumber", json!([format!("{height:#x}"), true])).await;
        for tx in block["transactions"].as_array().unwrap() {
            let input = tx["input"].as_str().unwrap();
            let hash = tx["hash"].as_str().unwrap();
            let view = query.tx_transfers(hash).unwrap().unwrap();
            let kinds: Vec<&str> = view.transfers.iter().map(|t| t.kind).collect();
            if input.starts_with(&selector("tryForward(address,uint256)")) {
                tried += 1;
                assert!(!kinds.contains(&"internal"), "{hash}: {kinds:?}");
            }
            if input.starts_with(&selector("forwardThenFail(address)")) {
                assert!(!view.success);
                assert!(kinds.iter().all(|k| k.starts_with("fee")), "{hash}: {kinds:?}");
            }
        }
    }
    assert!(tried > 10, "workload made {tried} tryForward calls");

    // Parity traces give exactly the same index; so does writing with no
    // undo record below the tip (undo window 1: no change is tracked).
    let parity_dir = tempfile::tempdir().unwrap();
    let parity = open_store(parity_dir.path());
    let untracked = SyncOptions { undo_depth: 1, ..opts.clone() };
    index(&parity, source_config(&node.url, TraceMode::Parity, c.weth), &untracked).await.unwrap();
    assert_eq!(parity.digest().unwrap(), store.digest().unwrap());

    // History pages: newest first, cursors continue where the last stopped.
    let holder = accounts[1].to_checksum(None);
    let all = query.history(&holder, "ETH", 100_000, None).unwrap();
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = query.history(&holder, "eth", 7, cursor.as_deref()).unwrap();
        paged.extend(page.entries);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, all.entries);
    assert!(all.entries.windows(2).all(|w| (w[0].block, w[0].tx_index) >= (w[1].block, w[1].tx_index)));
    assert_eq!(all.entries.last().unwrap().kind, "genesis");
    let summary = query.address_summary(&holder).unwrap().unwrap();
    let eth = &summary.assets[0];
    assert_eq!(eth.asset.asset, "ETH");
    assert_eq!(eth.balance, node.eth_balances(&accounts[1..2], tip).await[0].to_string());
    assert_eq!(eth.balance, all.entries[0].balance_after);
    let json = serde_json::to_value(&summary).unwrap();
    assert!(json["assets"][0]["balance"].is_string(), "amounts are decimal strings in JSON");
    assert!(query.address_summary("0x0000000000000000000000000000000000000bad").unwrap().is_none());
    assert_eq!(query.balance_at(Address::repeat_byte(0x42), Asset::Eth, tip).unwrap(), U256::ZERO);
}

fn selector(signature: &str) -> String {
    format!("0x{}", alloy::primitives::hex::encode(&alloy::primitives::keccak256(signature)[..4]))
}
