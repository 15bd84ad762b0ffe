//! `chainsleuth trace` on Ethereum, against anvil: a seized wallet's ETH
//! peeled through two hops to a cash-out network and to an untagged exchange
//! deposit address that later sweeps into the exchange's tagged hot wallet,
//! and its USDT-shaped stablecoin (issuer freezes, constructor mint) sent to
//! another deposit address, to a holder the issuer froze and to one it can
//! still freeze. Every model must agree on this case: the deposit addresses
//! are reached through their inferred tag, the cash-out network directly,
//! the rest is held, and holders are flagged freezable or already frozen.

mod common;
#[path = "../crates/eth/tests/common/mod.rs"]
mod eth_common;

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use common::run_ok;
use eth_common::Anvil;
use serde_json::{json, Value};

sol! {
    interface ITether {
        function transfer(address to, uint256 value) external returns (bool);
        function addBlackList(address user) external;
    }
}

const ETHER: u64 = 1_000_000_000_000_000_000;
const FINNEY: u64 = ETHER / 1_000;
const USDT: u64 = 1_000_000;

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(ETHER)
}

/// Sends one transaction (automine mines it in its own block) and checks it succeeded.
async fn send(node: &Anvil, from: Address, to: Address, value: U256, data: Vec<u8>) {
    let tx = json!({"from": from, "to": to, "value": value, "data": Bytes::from(data), "gas": "0x30000"});
    let hash: alloy::primitives::B256 = node.call("eth_sendTransaction", json!([tx])).await;
    for _ in 0..200 {
        let receipt: Value = node.call("eth_getTransactionReceipt", json!([hash])).await;
        if let Some(status) = receipt["status"].as_str() {
            assert_eq!(status, "0x1", "transaction {hash} from {from} failed");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("transaction {hash} was not mined");
}

fn fresh(n: u8) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xc5;
    bytes[19] = n;
    Address::from(bytes)
}

fn tag(data: &std::path::Path, dir: &std::path::Path, source: &str, category: &str, entity: &str, who: &[Address]) {
    let file = dir.join(format!("{source}.txt"));
    std::fs::write(&file, who.iter().map(|a| format!("{a}\n")).collect::<String>()).unwrap();
    let args = [
        "tags",
        "import",
        file.to_str().unwrap(),
        "--format",
        "list",
        "--source",
        source,
        "--category",
        category,
        "--entity",
        entity,
        "--chain",
        "eth",
    ];
    run_ok(data, &args);
}

fn report(data: &std::path::Path, args: &[&str]) -> Value {
    let out = run_ok(data, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

fn amount(v: &Value) -> U256 {
    v.as_str().unwrap_or_else(|| panic!("amounts are decimal strings on Ethereum: {v}")).parse().unwrap()
}

fn by_address(list: &Value, who: Address) -> &Value {
    let who = who.to_string();
    list.as_array()
        .unwrap()
        .iter()
        .find(|o| o["address"].as_str().unwrap().eq_ignore_ascii_case(&who))
        .unwrap_or_else(|| panic!("{who} not in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_and_stablecoin_case_reaches_deposit_addresses_and_flags_freezable_holders() {
    let node = Anvil::start(2).await;
    let funder = node.accounts().await[0];
    let [seized, peel1, peel2, deposit, deposit2, exchange, courier, frozen, holder] =
        [1u8, 2, 3, 4, 5, 6, 7, 8, 9].map(fresh);
    for who in [seized, peel1, peel2, deposit, deposit2, exchange, courier, frozen, holder] {
        let _: Value = node.call("anvil_impersonateAccount", json!([who])).await;
    }
    let supply = (U256::from(1_000_000u64) * U256::from(USDT), "Tether-like USD".to_string(), "USDTL".to_string());
    let token = node.deploy(funder, "TetherLike", supply.abi_encode_params()).await;
    let transfer = |to: Address, units: u64| ITether::transferCall { to, value: U256::from(units * USDT) }.abi_encode();

    // ETH: the seized wallet is funded, then peeled.
    send(&node, funder, seized, eth(20), Vec::new()).await;
    send(&node, seized, peel1, eth(10), Vec::new()).await;
    send(&node, peel1, peel2, eth(9), Vec::new()).await;
    send(&node, peel1, courier, U256::from(500 * FINNEY), Vec::new()).await;
    send(&node, peel2, deposit, eth(5), Vec::new()).await;
    send(&node, deposit, exchange, U256::from(4_995 * FINNEY), Vec::new()).await;
    send(&node, funder, exchange, eth(100), Vec::new()).await;
    // The stablecoin: to a second deposit address (swept), a frozen holder and a free one.
    send(&node, funder, token, U256::ZERO, transfer(seized, 1_000)).await;
    send(&node, seized, token, U256::ZERO, transfer(deposit2, 400)).await;
    send(&node, funder, deposit2, eth(1), Vec::new()).await;
    send(&node, deposit2, token, U256::ZERO, transfer(exchange, 400)).await;
    send(&node, seized, token, U256::ZERO, transfer(frozen, 300)).await;
    send(&node, seized, token, U256::ZERO, transfer(holder, 300)).await;
    send(&node, funder, token, U256::ZERO, ITether::addBlackListCall { user: frozen }.abi_encode()).await;

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let token_text = token.to_string();
    run_ok(&data, &["index", "eth", "--rpc", &node.url, "--freezable-token", &token_text]);
    tag(&data, work.path(), "case-seized", "seized", "Seized platform wallet", &[seized]);
    tag(&data, work.path(), "case-exchanges", "exchange_licensed", "Bank Exchange", &[exchange]);
    tag(&data, work.path(), "case-cashout", "cash_out_network", "Courier Network", &[courier]);
    let config = work.path().join("case.toml");
    std::fs::write(&config, format!("[trace]\nfreezable_tokens = [\"{token_text}\"]\n")).unwrap();
    let config = config.to_str().unwrap();

    // ETH, every model: the same amounts reach the deposit address (through
    // its inferred tag) and the courier; the rest is held or paid as gas.
    let seed = format!("eth:{seized}");
    let r = report(&data, &["--config", config, "trace", "--seed", &seed, "--format", "json"]);
    assert_eq!(r["chain"], "eth");
    assert_eq!(r["asset"], "ETH");
    for model in ["poison", "haircut", "fifo", "lifo"] {
        let m = &r["models"][model];
        let t = &m["totals"];
        assert_eq!(amount(&t["seeded"]), eth(20), "{model}");
        let via_deposit = by_address(&m["offramps"], deposit);
        assert_eq!(amount(&via_deposit["amount"]), eth(5), "{model}: {via_deposit}");
        assert_eq!(via_deposit["entity"], "Bank Exchange");
        assert_eq!(via_deposit["inferred"]["rule"], "deposit_address");
        assert!(via_deposit["inferred"]["via"].as_str().unwrap().eq_ignore_ascii_case(&exchange.to_string()));
        assert_eq!(via_deposit["min_hops"], 3);
        let cash = by_address(&m["offramps"], courier);
        assert_eq!(amount(&cash["amount"]), U256::from(500 * FINNEY), "{model}");
        assert_eq!(cash["category"], "cash_out_network");
        let ended: U256 = ["reached", "held", "fees", "dust", "horizon", "mixers"].iter().map(|b| amount(&t[*b])).sum();
        assert_eq!(ended, eth(20), "{model}: everything is accounted for");
        assert!(amount(&t["fees"]) > U256::ZERO, "{model}: the tainted senders paid gas");
        for h in m["holders"].as_array().unwrap() {
            assert_eq!(h["freezable"], false, "plain ETH in a private wallet cannot be frozen: {h}");
        }
    }

    // The stablecoin: the deposit address is reached, the frozen holder is
    // flagged with the issuer's transaction, the other is freezable.
    let r = report(&data, &["--config", config, "trace", "--seed", &seed, "--asset", &token_text, "--format", "json"]);
    for model in ["poison", "haircut", "fifo", "lifo"] {
        let m = &r["models"][model];
        assert_eq!(amount(&m["totals"]["seeded"]), U256::from(1_000 * USDT), "{model}");
        let via_deposit = by_address(&m["offramps"], deposit2);
        assert_eq!(amount(&via_deposit["amount"]), U256::from(400 * USDT), "{model}");
        assert_eq!(via_deposit["inferred"]["rule"], "deposit_address");
        let f = by_address(&m["holders"], frozen);
        assert_eq!(amount(&f["amount"]), U256::from(300 * USDT));
        assert_eq!(f["freezable"], false, "already frozen: {f}");
        assert!(f["frozen"].as_str().unwrap().starts_with("0x"), "{f}");
        let h = by_address(&m["holders"], holder);
        assert_eq!(amount(&h["amount"]), U256::from(300 * USDT));
        assert_eq!(h["freezable"], true, "{h}");
        assert!(h["reason"].as_str().unwrap().contains("issuer"), "{h}");
    }
    let table =
        run_ok(&data, &["--config", config, "trace", "--seed", &seed, "--asset", &token_text, "--format", "table"]);
    assert!(table.contains("USDTL") && table.contains("already frozen"), "{table}");

    // Backward from the second peel hop: all it received came from the
    // seized wallet; poison counts the whole 10 ETH peel1 received from it,
    // haircut the 9 ETH share that moved on.
    let peel = peel2.to_string();
    let r = report(&data, &["trace", "--direction", "backward", "--seed", &format!("eth:{peel}"), "--format", "json"]);
    for (model, from_seized) in [("poison", eth(10)), ("haircut", eth(9))] {
        let m = &r["models"][model];
        assert_eq!(amount(&m["totals"]["seeded"]), eth(9), "{model}");
        let source = by_address(&m["offramps"], seized);
        assert_eq!(amount(&source["amount"]), from_seized, "{model}: {source}");
        assert_eq!(source["category"], "seized");
    }
    let e = report(&data, &["exposure", "eth", &peel, "--direction", "received", "--json"]);
    let rows = e["exposure"]["rows"].as_array().unwrap();
    assert_eq!((rows.len(), rows[0]["category"].as_str()), (1, Some("seized")), "{e}");
    assert_eq!(amount(&rows[0]["indirect"]), eth(9), "one hop back is peel1, two is the seized wallet: {e}");
    assert_eq!(amount(&e["exposure"]["untagged"]), U256::ZERO);

    // Bad input: exit status 2 and a message naming what was wrong.
    let never = "0x00000000000000000000000000000000000000aa";
    for (bad, expect) in [
        (vec!["trace", "--seed", &seed, "--asset", never], "never seen"),
        (vec!["trace", "--seed", "eth:0x12345"], "0x12345"),
        (vec!["trace", "--seed", &format!("eth:{never}")], "no transfers"),
        (vec!["trace", "--seed", &seed, "--from-block", "5", "--to-block", "900"], "beyond the indexed tip"),
    ] {
        let err = common::run_err(&data, &bad);
        assert!(err.contains(expect), "{bad:?}: {err}");
    }
}
