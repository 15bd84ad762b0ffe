//! A USDT-shaped and a USDC-shaped token on anvil: a constructor credit
//! without an event, `Issue` and `Redeem`, `DestroyedBlackFunds`, and
//! freezes and releases of both shapes. Every holder's indexed balance
//! equals the token's `balanceOf` at several heights, the frozen holders are
//! exactly those the contracts call blacklisted (with the freezing
//! transaction as evidence), and a reorg takes freezes back out.

mod common;

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use chainsleuth_core::{AccountGraph, AssetId};
use chainsleuth_eth::{Asset, EthGraph, EthQuery, SourceConfig, TraceMode};
use chainsleuth_store::Store;
use chainsleuth_sync::SyncOptions;
use common::*;
use serde_json::{json, Value};

sol! {
    interface ITether {
        function transfer(address to, uint256 value) external returns (bool);
        function issue(uint256 amount) external;
        function redeem(uint256 amount) external;
        function addBlackList(address user) external;
        function removeBlackList(address user) external;
        function destroyBlackFunds(address user) external;
        function isBlackListed(address who) external view returns (bool);
    }
    interface IUsdc {
        function transfer(address to, uint256 value) external returns (bool);
        function blacklist(address account) external;
        function unBlacklist(address account) external;
        function isBlacklisted(address who) external view returns (bool);
    }
}

/// Sends a call (automine on) and waits until it is mined; returns its hash.
async fn send(node: &Anvil, from: Address, to: Address, data: Vec<u8>) -> B256 {
    let tx = json!({"from": from, "to": to, "data": Bytes::from(data), "gas": "0x100000"});
    let receipt = node.send_mined(&tx).await;
    receipt["transactionHash"].as_str().unwrap().parse().unwrap()
}

/// Whether `token` says `who` is frozen, at the node's tip.
async fn blacklisted(node: &Anvil, token: Address, data: Vec<u8>) -> bool {
    let answer: Bytes = node.call("eth_call", json!([{"to": token, "data": Bytes::from(data)}, "latest"])).await;
    bool::abi_decode(&answer).unwrap()
}

fn config(node: &Anvil, tokens: [Address; 2]) -> SourceConfig {
    let mut config = SourceConfig::new(&node.url);
    config.traces = TraceMode::Debug;
    config.timeout = Duration::from_secs(10);
    config.decode.freezable.extend(tokens);
    config
}

/// Checks every holder's indexed balance of `token` against `balanceOf` at each of `heights`.
async fn assert_token_balances(node: &Anvil, store: &Store, token: Address, holders: &[Address], heights: &[u64]) {
    let query = EthQuery::new(store);
    for &height in heights {
        let want = node.token_balances(token, holders, height).await;
        for (holder, want) in holders.iter().zip(want) {
            let got = query.balance_at(*holder, Asset::Token(token), height).unwrap();
            assert_eq!(got, want, "balance of {holder} in {token} at block {height}");
        }
    }
}

/// The holders `graph` reports frozen in `asset`, with the evidence.
fn frozen(graph: &EthGraph<'_>, asset: AssetId, holders: &[Address]) -> Vec<(Address, String)> {
    let mut out = Vec::new();
    for holder in holders {
        let Some(id) = graph.address_id(&format!("{holder:#x}")).unwrap() else { continue };
        if let Some(hash) = graph.frozen(id, asset).unwrap() {
            out.push((*holder, hash));
        }
    }
    out
}

async fn index_all(store: &Arc<Store>, node: &Anvil, tokens: [Address; 2]) {
    let opts = SyncOptions { fetch_concurrency: 4, ..SyncOptions::default() };
    index(store, config(node, tokens), &opts).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freezable_tokens_index_their_issuers_events_and_freezes() {
    let node = Anvil::start(12).await;
    let accounts = node.accounts().await;
    let owner = accounts[0];
    let holders: Vec<Address> = accounts[..11].to_vec();
    let h = |n: usize| holders[n];

    let supply = U256::from(1_000_000_000_000u64);
    let args = (supply, "Tether-like".to_string(), "TLIKE".to_string()).abi_encode_params();
    let tether = node.deploy(owner, "TetherLike", args).await;
    let deployed = node.height().await;
    let usdc = node.deploy(owner, "UsdcLike", U256::from(5_000_000u64).abi_encode()).await;
    let tokens = [tether, usdc];

    let t = |call: Vec<u8>| (tether, call);
    let mut script: Vec<(Address, (Address, Vec<u8>))> = Vec::new();
    script.push((owner, t(ITether::issueCall { amount: U256::from(500_000_000_000u64) }.abi_encode())));
    for n in 1..=10 {
        let value = U256::from(10_000_000u64 * n as u64);
        script.push((owner, t(ITether::transferCall { to: h(n), value }.abi_encode())));
    }
    for (from, to, value) in [(1, 2, 1_000_000u64), (4, 6, 2_500_000), (9, 3, 7_000_000), (2, 10, 500)] {
        script.push((h(from), t(ITether::transferCall { to: h(to), value: U256::from(value) }.abi_encode())));
    }
    for (sender, (to, data)) in script {
        send(&node, sender, to, data).await;
    }
    let early = node.height().await;

    send(&node, owner, tether, ITether::redeemCall { amount: U256::from(100_000_000_000u64) }.abi_encode()).await;
    // One holder frozen, its funds destroyed, then released.
    send(&node, owner, tether, ITether::addBlackListCall { user: h(3) }.abi_encode()).await;
    send(&node, owner, tether, ITether::destroyBlackFundsCall { user: h(3) }.abi_encode()).await;
    send(&node, owner, tether, ITether::removeBlackListCall { user: h(3) }.abi_encode()).await;
    // One left frozen.
    let freeze5 = send(&node, owner, tether, ITether::addBlackListCall { user: h(5) }.abi_encode()).await;
    // One frozen and released, then moving funds again.
    send(&node, owner, tether, ITether::addBlackListCall { user: h(7) }.abi_encode()).await;
    send(&node, owner, tether, ITether::removeBlackListCall { user: h(7) }.abi_encode()).await;
    send(&node, h(7), tether, ITether::transferCall { to: h(8), value: U256::from(123u64) }.abi_encode()).await;
    let middle = node.height().await;
    // The USDC shape: holder in the indexed topic.
    send(&node, owner, usdc, IUsdc::transferCall { to: h(2), value: U256::from(1_000u64) }.abi_encode()).await;
    let freeze2 = send(&node, owner, usdc, IUsdc::blacklistCall { account: h(2) }.abi_encode()).await;
    send(&node, owner, usdc, IUsdc::blacklistCall { account: h(4) }.abi_encode()).await;
    send(&node, owner, usdc, IUsdc::unBlacklistCall { account: h(4) }.abi_encode()).await;
    let tip = node.height().await;

    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    index_all(&store, &node, tokens).await;
    assert_eq!(store.tip().unwrap().unwrap().height.get(), tip);
    let heights = [deployed - 1, deployed, early, middle, tip];
    assert_token_balances(&node, &store, tether, &holders, &heights).await;
    assert_token_balances(&node, &store, usdc, &holders, &heights).await;

    // The constructor's silent credit is a reconcile at the deployment
    // block; Issue, Redeem and DestroyedBlackFunds are mints and burns.
    let query = EthQuery::new(&store);
    let owner_rows = query.history(&format!("{owner:#x}"), &format!("{tether:#x}"), 1000, None).unwrap().entries;
    let credit = owner_rows.iter().find(|e| e.kind == "reconcile").expect("the constructor credit is reconciled");
    assert_eq!((credit.block, credit.tx_hash.as_deref(), credit.amount.as_str()), (deployed, None, "1000000000000"));
    assert!(owner_rows.iter().any(|e| e.kind == "mint" && e.amount == "500000000000"), "{owner_rows:?}");
    assert!(owner_rows.iter().any(|e| e.kind == "burn" && e.amount == "100000000000"), "{owner_rows:?}");
    assert_eq!(owner_rows.iter().filter(|e| e.kind == "reconcile").count(), 1, "events explain the rest");
    let h3_rows = query.history(&format!("{:#x}", h(3)), &format!("{tether:#x}"), 1000, None).unwrap().entries;
    assert_eq!((h3_rows[0].kind, h3_rows[0].balance_after.as_str()), ("burn", "0"));

    // Frozen: exactly whom the contracts call blacklisted, with the freeze.
    let graph = EthGraph::new(&store);
    let tether_id = graph.asset_id(&format!("{tether:#x}")).unwrap().unwrap();
    let usdc_id = graph.asset_id(&format!("{usdc:#x}")).unwrap().unwrap();
    assert_eq!(frozen(&graph, tether_id, &holders), vec![(h(5), format!("{freeze5:#x}"))]);
    assert_eq!(frozen(&graph, usdc_id, &holders), vec![(h(2), format!("{freeze2:#x}"))]);
    for holder in &holders {
        let id = graph.address_id(&format!("{holder:#x}")).unwrap().unwrap();
        let on_chain = blacklisted(&node, tether, ITether::isBlackListedCall { who: *holder }.abi_encode()).await;
        assert_eq!(graph.frozen(id, tether_id).unwrap().is_some(), on_chain, "{holder} in {tether}");
        let on_chain = blacklisted(&node, usdc, IUsdc::isBlacklistedCall { who: *holder }.abi_encode()).await;
        assert_eq!(graph.frozen(id, usdc_id).unwrap().is_some(), on_chain, "{holder} in {usdc}");
        assert_eq!(graph.frozen(id, AssetId::NATIVE).unwrap(), None);
    }

    // A reorg takes a branch's freezes and releases back out.
    let snapshot: Value = node.call("evm_snapshot", json!([])).await;
    let freeze8 = send(&node, owner, tether, ITether::addBlackListCall { user: h(8) }.abi_encode()).await;
    send(&node, owner, tether, ITether::removeBlackListCall { user: h(5) }.abi_encode()).await;
    index_all(&store, &node, tokens).await;
    let graph = EthGraph::new(&store);
    assert_eq!(frozen(&graph, tether_id, &holders), vec![(h(8), format!("{freeze8:#x}"))]);
    let reverted: bool = node.call("evm_revert", json!([snapshot])).await;
    assert!(reverted);
    let freeze9 = send(&node, owner, tether, ITether::addBlackListCall { user: h(9) }.abi_encode()).await;
    send(&node, owner, tether, ITether::issueCall { amount: U256::from(77u64) }.abi_encode()).await;
    send(&node, h(1), tether, ITether::transferCall { to: h(9), value: U256::from(1u64) }.abi_encode()).await;
    let winning_tip = node.height().await;
    index_all(&store, &node, tokens).await;
    let graph = EthGraph::new(&store);
    assert_eq!(
        frozen(&graph, tether_id, &holders),
        vec![(h(5), format!("{freeze5:#x}")), (h(9), format!("{freeze9:#x}"))]
    );
    assert_token_balances(&node, &store, tether, &holders, &[tip, winning_tip]).await;
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = open_store(clean_dir.path());
    index_all(&clean, &node, tokens).await;
    assert_eq!(store.digest().unwrap(), clean.digest().unwrap());
}
