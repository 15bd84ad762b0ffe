//! The tracer's view of an indexed anvil chain: replaying an address's
//! transfers from genesis gives the node's balance at every block, in ETH
//! and in a token; `balance_before` agrees; a transaction's fees come before
//! its moves; names, ids and hashes round-trip and bad input is refused.

mod common;

use std::collections::HashMap;

use alloy::primitives::{Address, U256};
use chainsleuth_core::{AccountGraph, AddressId, AssetId, Height, TransferKind, TransferPos};
use chainsleuth_eth::{EthGraph, QueryError, TraceMode};
use chainsleuth_sync::SyncOptions;
use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_transfers_give_the_nodes_balance_at_every_block() {
    let node = Anvil::start(10).await;
    let accounts = node.accounts().await;
    let c = deploy(&node, &accounts).await;
    workload(&node, &accounts, c, 8, 30, 11).await;
    let tip = node.height().await;

    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let opts = SyncOptions { fetch_concurrency: 4, ..SyncOptions::default() };
    index(&store, source_config(&node.url, TraceMode::Debug, c.weth), &opts).await.unwrap();
    let graph = EthGraph::new(&store);
    assert_eq!(graph.tip().unwrap().unwrap().height.get(), tip);

    let token_text = format!("{:#x}", c.token);
    let token = graph.asset_id(&token_text).unwrap().expect("the token is indexed");
    assert_eq!(graph.asset_text(token).unwrap(), c.token.to_checksum(None));
    assert_eq!(graph.asset_id("eth").unwrap(), Some(AssetId::NATIVE));
    assert_eq!(graph.asset_text(AssetId::NATIVE).unwrap(), "ETH");

    // Every block's balance, from the node.
    let holders: Vec<Address> = accounts[..6].iter().copied().chain([c.weth, c.forwarder]).collect();
    let mut eth_at = Vec::new();
    let mut token_at = Vec::new();
    for height in 0..=tip {
        eth_at.push(node.eth_balances(&holders, height).await);
        token_at.push(node.token_balances(c.token, &holders, height).await);
    }

    let start = TransferPos::block_start(Height::GENESIS);
    let mut fees_seen = 0;
    for (n, holder) in holders.iter().enumerate() {
        let id = graph.address_id(&format!("{holder:#x}")).unwrap().expect("the holder is indexed");
        assert_eq!(graph.address_text(id).unwrap(), holder.to_checksum(None));
        for (asset, want) in [(AssetId::NATIVE, &eth_at), (token, &token_at)] {
            let list = graph.transfers(id, asset, start, Height::new(tip)).unwrap();
            assert!(list.windows(2).all(|w| w[0].pos < w[1].pos), "{holder}: transfers out of chain order");
            let mut balance = graph.balance_before(id, asset, start).unwrap();
            assert_eq!(balance, U256::ZERO);
            let mut rows = list.iter().peekable();
            for height in 0..=tip {
                let block_start = TransferPos::block_start(Height::new(height));
                assert_eq!(graph.balance_before(id, asset, block_start).unwrap(), balance, "{holder} before {height}");
                while let Some(t) = rows.next_if(|t| t.pos.height.get() == height) {
                    assert_eq!(graph.balance_before(id, asset, t.pos).unwrap(), balance, "{holder} at {:?}", t.pos);
                    assert!(t.from == Some(id) || t.to == Some(id), "{holder}: {t:?} is not its own");
                    match t.kind {
                        TransferKind::Credit => assert!(t.from.is_none() && t.to == Some(id)),
                        TransferKind::Debit => assert!(t.to.is_none() && t.from == Some(id)),
                        TransferKind::Fee => assert_eq!(asset, AssetId::NATIVE),
                        TransferKind::Move => {}
                    }
                    if t.to == Some(id) {
                        balance += t.amount;
                    }
                    if t.from == Some(id) {
                        balance -= t.amount;
                    }
                }
                assert_eq!(balance, want[height as usize][n], "{holder}: asset {asset:?} at block {height}");
                // A window of one block holds exactly that block's rows.
                let window = graph.transfers(id, asset, block_start, Height::new(height)).unwrap();
                assert!(window.iter().all(|t| t.pos.height.get() == height));
                assert_eq!(window.len(), list.iter().filter(|t| t.pos.height.get() == height).count());
            }
            assert!(rows.next().is_none());

            // Within a transaction, the sender's fees come first.
            let mut by_tx: HashMap<(u64, u32), Vec<TransferKind>> = HashMap::new();
            for t in &list {
                by_tx.entry((t.pos.height.get(), t.pos.tx_pos)).or_default().push(t.kind);
            }
            for kinds in by_tx.values() {
                let first_other = kinds.iter().position(|k| *k != TransferKind::Fee).unwrap_or(kinds.len());
                assert!(kinds[first_other..].iter().all(|k| *k != TransferKind::Fee), "{holder}: {kinds:?}");
                fees_seen += first_other;
            }
        }
    }
    assert!(fees_seen > 20, "{fees_seen} fee transfers checked");

    // Transaction hashes by position, as the node has them.
    let sender = graph.address_id(&format!("{:#x}", accounts[1])).unwrap().unwrap();
    let sent = graph.transfers(sender, AssetId::NATIVE, start, Height::new(tip)).unwrap();
    let fee = sent.iter().find(|t| t.kind == TransferKind::Fee && t.pos.height.get() > 1).unwrap();
    let block: Value = node.call("eth_getBlockByNumber", json!([format!("{:#x}", fee.pos.height.get()), false])).await;
    let want = block["transactions"][fee.pos.tx_pos as usize].as_str().unwrap();
    assert_eq!(graph.tx_hash(fee.pos).unwrap().as_deref(), Some(want));
    let genesis = sent.iter().find(|t| t.pos.height == Height::GENESIS).unwrap();
    assert_eq!(genesis.kind, TransferKind::Credit);
    assert_eq!(graph.tx_hash(genesis.pos).unwrap(), None);
    assert_eq!(graph.frozen(sender, token).unwrap(), None);

    // Bad input names itself; valid but unknown input is no error.
    let err = graph.address_id("0x12").unwrap_err();
    assert!(matches!(err, QueryError::BadAddress(_)) && err.to_string().contains("0x12"), "{err}");
    let err = graph.asset_id("BTC").unwrap_err();
    assert!(err.to_string().contains("BTC"), "{err}");
    assert_eq!(graph.address_id("0x00000000000000000000000000000000000000b0").unwrap(), None);
    assert_eq!(graph.asset_id("0x00000000000000000000000000000000000000b0").unwrap(), None);
    let err = graph.address_text(AddressId(1 << 40)).unwrap_err();
    assert!(err.to_string().contains(&(1u64 << 40).to_string()), "{err}");
    assert!(graph.asset_text(AssetId(999)).unwrap_err().to_string().contains("999"));
    let missing = TransferPos { height: Height::new(tip + 5), tx_pos: 0, ordinal: 0 };
    assert!(graph.tx_hash(missing).is_err());
}
