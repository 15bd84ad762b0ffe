//! The API answers what the CLI answers: `chainsleuth serve` and the CLI's
//! `--json` over the same data directory give equal bodies for an address
//! page (summary, history page, own and inferred tags), every history page,
//! a transaction, a cluster, an address's tags, the tag sources and an
//! entity: on Bitcoin indexed from simulated Core block files, and on
//! Ethereum indexed from anvil. The API's address page adds one field, the
//! btc `cluster`, checked against `cluster btc`. On Ethereum, history paging
//! goes on while `index eth` adds blocks between pages, and returns every
//! row of the first snapshot exactly once.

mod common;
#[path = "../crates/eth/tests/common/mod.rs"]
mod eth_common;

use std::path::Path;

use alloy::primitives::{Address, U256};
use common::{chain_on_disk, http_get, run_ok, serve};
use eth_common::Anvil;
use serde_json::{json, Value};

fn cli_json(data: &Path, args: &[&str]) -> Value {
    let out = run_ok(data, args);
    serde_json::from_str(&out).unwrap_or_else(|err| panic!("{args:?}: {err}\n{out}"))
}

fn api(addr: &str, path: &str, secret: &str) -> Value {
    let (status, body) = http_get(addr, path, secret);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The address page of the API is the CLI's plus the fields in `extra`.
fn assert_page_matches(api_page: &Value, cli_page: &Value, extra: &[&str], what: &str) {
    let mut api_page = api_page.clone();
    for field in extra {
        assert!(api_page.as_object_mut().unwrap().remove(*field).is_some(), "{what}: the API's page lacks {field}");
    }
    assert_eq!(&api_page, cli_page, "{what}");
}

fn tag_list(data: &Path, name: &str, category: &str, entity: &str, chain: &str, addresses: &[String]) {
    let file = data.with_extension(format!("{name}.txt"));
    std::fs::write(&file, addresses.iter().map(|a| format!("{a}\n")).collect::<String>()).unwrap();
    let file = file.to_str().unwrap();
    let mut args = vec!["tags", "import", file, "--format", "list", "--source", name, "--category", category];
    args.extend(["--entity", entity, "--chain", chain]);
    if chain == "btc" {
        args.extend(["--btc-network", "regtest"]);
    }
    run_ok(data, &args);
}

#[test]
fn btc_bodies_equal_the_cli_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (blocks, data) = (dir.path().join("blocks"), dir.path().join("data"));
    let chain = chain_on_disk(&blocks, 140, 6, 17, None);
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", blocks.to_str().unwrap()]);

    // Tag one member of a multi-address cluster, so another member inherits it.
    let mut by_count: Vec<(&String, u64)> = chain.truth.addresses.iter().map(|(a, t)| (a, t.tx_count)).collect();
    by_count.sort_by_key(|(a, n)| (std::cmp::Reverse(*n), (*a).clone()));
    let (tagged, mate) = by_count
        .iter()
        .take(60)
        .find_map(|(address, _)| {
            let cluster = cli_json(&data, &["cluster", "btc", address, "--json"]);
            let members = cluster["cluster"]["members"].as_array()?.clone();
            let mate = members.iter().filter_map(|m| m["address"].as_str()).find(|m| m != address)?.to_owned();
            Some(((*address).clone(), mate))
        })
        .expect("some address of the busiest 60 shares a cluster");
    tag_list(&data, "desk", "exchange", "Sim Exchange", "btc", std::slice::from_ref(&tagged));
    let secret = run_ok(&data, &["tokens", "create", "--role", "read", "--name", "api-cli"]).trim().to_owned();
    let server = serve(&data);
    let addr = server.addr.as_str();

    for address in [&tagged, &mate, by_count[0].0] {
        let cli = cli_json(&data, &["address", "btc", address, "--limit", "3", "--json"]);
        let page = api(addr, &format!("/v1/btc/address/{address}?limit=3"), &secret);
        assert_page_matches(&page, &cli, &["cluster"], address);
        let cluster = cli_json(&data, &["cluster", "btc", address, "--limit", "1", "--json"]);
        assert_eq!(page["cluster"], json!({"id": cluster["cluster"]["id"], "size": cluster["cluster"]["size"]}));
        let tags = cli_json(&data, &["tags", "show", "btc", address, "--btc-network", "regtest", "--json"]);
        assert_eq!(page["tags"], tags, "{address}: tags");

        // Every history page, through the cursors.
        let mut cursor: Option<String> = None;
        loop {
            let mut args = vec!["address", "btc", address, "--limit", "2", "--json"];
            let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
            if let Some(cursor) = &cursor {
                args.extend(["--cursor", cursor]);
            }
            let cli = cli_json(&data, &args)["history"].clone();
            let history = api(addr, &format!("/v1/btc/address/{address}/history?limit=2{query}"), &secret);
            assert_eq!(history, cli, "{address} history at {cursor:?}");
            match history["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    let page = api(addr, &format!("/v1/btc/address/{mate}"), &secret);
    assert_eq!(page["inferred_tag"]["entity"], "Sim Exchange", "{page}");

    let txid = chain.blocks[120].txdata[1].compute_txid().to_string();
    assert_eq!(api(addr, &format!("/v1/btc/tx/{txid}"), &secret), cli_json(&data, &["tx", "btc", &txid, "--json"]));
    let cluster = api(addr, &format!("/v1/btc/cluster/{tagged}?limit=5"), &secret);
    assert_eq!(cluster, cli_json(&data, &["cluster", "btc", &tagged, "--limit", "5", "--json"]));
    assert_eq!(cluster["label"]["entity"], "Sim Exchange");
    assert_eq!(api(addr, "/v1/tags/sources", &secret), cli_json(&data, &["tags", "sources", "--json"]));
    let entity = api(addr, "/v1/entities/sim%20exchange", &secret);
    assert_eq!(entity, cli_json(&data, &["entity", "sim exchange", "--json"]));
    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");
}

/// A fresh address for anvil to impersonate.
fn fresh(n: u8) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xa9;
    bytes[19] = n;
    Address::from(bytes)
}

fn transfer(from: Address, to: Address, wei: U256) -> Value {
    json!({"from": from, "to": to, "value": wei, "gas": "0x5208"})
}

/// Sends `tx` and waits until it is mined: the next transfer may spend
/// what this one paid.
async fn send(node: &Anvil, tx: &Value) {
    node.send_mined(tx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_bodies_equal_the_cli_answers_and_history_pages_survive_new_blocks() {
    const ETHER: u64 = 1_000_000_000_000_000_000;
    let node = Anvil::start(2).await;
    let funder = node.accounts().await[0];
    let [deposit, exchange, busy] = [1u8, 2, 3].map(fresh);
    for who in [deposit, exchange, busy] {
        let _: Value = node.call("anvil_impersonateAccount", json!([who])).await;
    }
    let ether = |n: u64| U256::from(n) * U256::from(ETHER);
    // One at a time: each spends what an earlier one paid (automine mines each).
    let mut txs = vec![transfer(funder, deposit, ether(5)), transfer(funder, busy, ether(100))];
    // The deposit address sweeps (nearly) all it got to the exchange.
    txs.push(transfer(deposit, exchange, ether(5) - U256::from(ETHER / 200)));
    txs.extend((0..9).map(|i| transfer(busy, funder, ether(1) + U256::from(i))));
    for tx in &txs {
        send(&node, tx).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    run_ok(&data, &["index", "eth", "--rpc", &node.url]);
    tag_list(&data, "exchanges", "exchange", "Anvil Exchange", "eth", &[exchange.to_string()]);
    let secret = run_ok(&data, &["tokens", "create", "--role", "read", "--name", "api-cli"]).trim().to_owned();
    let server = serve(&data);
    let addr = server.addr.as_str();

    for who in [deposit, exchange, busy] {
        let who = who.to_string();
        let cli = cli_json(&data, &["address", "eth", &who, "--limit", "4", "--json"]);
        let page = api(addr, &format!("/v1/eth/address/{who}?limit=4"), &secret);
        assert_page_matches(&page, &cli, &[], &who);
    }
    let page = api(addr, &format!("/v1/eth/address/{deposit}"), &secret);
    assert_eq!(page["inferred_tag"]["entity"], "Anvil Exchange", "the deposit address inherits: {page}");
    let hash = page["history"]["entries"][0]["tx_hash"].as_str().unwrap().to_owned();
    assert_eq!(api(addr, &format!("/v1/eth/tx/{hash}"), &secret), cli_json(&data, &["tx", "eth", &hash, "--json"]));

    // Page through busy's history while more of its transfers are indexed.
    let tip = node.height().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut rounds = 0;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page = api(addr, &format!("/v1/eth/address/{busy}/history?limit=3{query}"), &secret);
        seen.extend(page["entries"].as_array().unwrap().iter().cloned());
        send(&node, &transfer(busy, funder, ether(1))).await;
        run_ok(&data, &["index", "eth", "--rpc", &node.url]);
        rounds += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(rounds >= 3, "{rounds} pages");
    let all = api(addr, &format!("/v1/eth/address/{busy}/history?limit=1000"), &secret);
    let all = all["entries"].as_array().unwrap();
    let (before, after): (Vec<Value>, Vec<Value>) =
        all.iter().cloned().partition(|row| row["block"].as_u64().unwrap() <= tip);
    assert!(after.len() >= rounds, "the transfers sent between pages are indexed: {}", after.len());
    assert_eq!(seen, before, "every row of the first snapshot once, in order");
    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");
}
