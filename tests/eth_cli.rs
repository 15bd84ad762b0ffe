//! End-to-end tests of the `chainsleuth` binary on Ethereum, against anvil:
//!
//! - SIGKILL at 20 random moments of a sync, restarting each time, ends in
//!   the same store as a clean run (`db digest --chain eth`). The chain is
//!   long enough (empty blocks between busy ones) that the first part of the
//!   sync runs in bulk mode (no WAL, a checkpoint every MB of blocks), so
//!   both write paths are killed.
//! - The read commands on that store: paged history against the node's
//!   balance, a token transfer's transfers, status, tags, and bad input
//!   (exit status 2, a clear message, nothing written).
//! - `index eth --follow` picks up newly mined blocks and stops with exit
//!   status 0 on SIGTERM.

mod common;
#[path = "../crates/eth/tests/common/mod.rs"]
mod eth_common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolCall;
use chainsleuth_eth::{store_path, SCHEMA};
use chainsleuth_store::{OpenMode, Store};
use common::{chainsleuth, run, run_err, run_ok};
use eth_common::{deploy, drain_pool, Anvil, Contracts, IToken, TxGen};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Held while a test measures or races the indexer's speed, so the other
/// test's load does not skew the timing.
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The crash test's chain: `BUSY` blocks of `TXS_PER_BLOCK` transactions
/// plus one carrying `NOTE_BYTES` of call data, each followed by `EMPTY`
/// empty blocks. The work is spread evenly over about 2,100 blocks (kill
/// moments are drawn from the share of the height left to index) and the
/// blocks weigh about 4 MB. A sync starting more than 1,000 blocks behind
/// runs in bulk mode (no WAL), here with a checkpoint every MB of blocks:
/// runs restarted from below about 1,100 are bulk, later ones not.
const BUSY: usize = 300;
const EMPTY: u64 = 6;
const TXS_PER_BLOCK: usize = 10;
const NOTE_BYTES: usize = 8 << 10;

fn digest_eth(data: &Path) -> String {
    run_ok(data, &["db", "digest", "--chain", "eth"]).trim().to_owned()
}

fn json_of(data: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&run_ok(data, args)).unwrap_or_else(|e| panic!("{args:?} printed no JSON: {e}"))
}

/// The durably indexed height (0 when nothing is indexed yet), read beside
/// a running indexer.
fn indexed_height(data: &Path) -> u64 {
    let path = store_path(data);
    if !path.exists() {
        return 0;
    }
    let store =
        Store::open(&path, &SCHEMA, OpenMode::ReadOnly).unwrap_or_else(|e| panic!("opening {}: {e:?}", path.display()));
    store.tip().unwrap().map_or(0, |t| t.height.get())
}

/// The eth tip that `status --json` shows, if any.
fn status_tip(data: &Path) -> Option<(u64, String)> {
    let out = run(data, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).ok()?;
    let tip = &status["eth"]["tip"];
    Some((tip["height"].as_u64()?, tip["hash"].as_str()?.to_owned()))
}

fn index_args<'a>(url: &'a str, weth: &'a str) -> [&'a str; 6] {
    ["index", "eth", "--rpc", url, "--weth", weth]
}

fn spawn(data: &Path, args: &[&str]) -> Child {
    chainsleuth().arg("--data-dir").arg(data).args(args).spawn().expect("the binary starts")
}

/// A decimal amount as the JSON shows it.
fn amount(v: &Value) -> U256 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a decimal amount: {v}"))
}

/// Mines `blocks` blocks of `per_block` random transactions (ETH, tokens,
/// WETH, internal calls through the forwarder), then whatever is left over.
async fn busy_blocks(
    node: &Anvil,
    gen: &mut TxGen,
    accounts: &[Address],
    c: Contracts,
    blocks: usize,
    per_block: usize,
) {
    for _ in 0..blocks {
        node.send_all(&gen.take(accounts, c, per_block)).await;
        node.mine().await;
    }
    drain_pool(node, 5).await;
}

/// Fills `node` with the crash test's chain (see [`BUSY`]).
async fn fill_for_crash(node: &Anvil, accounts: &[Address], c: Contracts) {
    let mut gen = TxGen::new(31);
    for k in 0..BUSY {
        let mut txs = gen.take(accounts, c, TXS_PER_BLOCK);
        let (from, to) = (accounts[k % accounts.len()], accounts[(k + 1) % accounts.len()]);
        let note = Bytes::from(vec![0xab; NOTE_BYTES]);
        txs.push(json!({"from": from, "to": to, "value": "0x1", "data": note, "gas": "0x60000"}));
        assert_eq!(node.send_all(&txs).await, txs.len(), "anvil refused transactions");
        node.mine().await;
        empty_blocks(node, EMPTY).await;
    }
    drain_pool(node, 5).await;
}

/// Mines `n` empty blocks.
async fn empty_blocks(node: &Anvil, n: u64) {
    let _: Value = node.call("anvil_mine", json!([format!("{n:#x}")])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sync_then_restart_matches_a_clean_run_and_the_cli_reads_it() {
    let started = Instant::now();
    let node = Anvil::start(20).await;
    let accounts = node.accounts().await;
    let c = deploy(&node, &accounts).await;
    fill_for_crash(&node, &accounts, c).await;
    let tip = node.height().await;
    assert!(tip > 2_000, "tip {tip}: too short for a long bulk phase");
    eprintln!("anvil filled to {tip} in {:?}", started.elapsed());

    let work = tempfile::tempdir().unwrap();
    let weth = c.weth.to_string();
    let mut args = index_args(&node.url, &weth).to_vec();
    args.extend(["--bulk-checkpoint-mb", "1"]);
    let timing = TIMING.lock().await;

    let clean = work.path().join("clean");
    let t0 = Instant::now();
    run_ok(&clean, &args);
    let clean_run = t0.elapsed();
    let want = digest_eth(&clean);
    assert_eq!(status_tip(&clean).map(|t| t.0), Some(tip));
    eprintln!("clean index of {tip} blocks in {clean_run:?}");

    let seed: u64 = std::env::var("ETH_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xe7c0);
    eprintln!("kill moments from seed {seed} (set ETH_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let crashed = work.path().join("crashed");
    // Kills that landed while the indexer ran, in bulk mode and not.
    let (mut bulk_kills, mut wal_kills) = (0, 0);
    let mut starts = Vec::new();
    let t0 = Instant::now();
    let mut share = 0.5;
    let mut last_done = 0;
    for round in 0..20 {
        let done = indexed_height(&crashed);
        // A run killed before its first durable checkpoint made no progress:
        // give the next one more time, so that the sync still moves on.
        share = if round == 0 || done > last_done { 0.5 } else { (share * 1.5_f64).min(1.5) };
        last_done = done;
        starts.push(done);
        let mut child = KillOnDrop(spawn(&crashed, &args));
        // A random moment within a share of the time the remaining work took
        // in the clean run: the kills spread over the whole sync instead of
        // piling up at its end, and a run rarely finishes first even when the
        // machine is less loaded now than during the clean run.
        let remaining = 1.0 - done as f64 / tip as f64;
        let window = (clean_run.as_millis() as f64 * remaining * share) as u64;
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..=window.max(40))));
        if child.0.try_wait().unwrap().is_none() {
            // More than 1,000 blocks behind at the start, the run writes without WAL.
            if tip - done > 1_000 {
                bulk_kills += 1;
            } else {
                wal_kills += 1;
            }
        }
        // SIGKILL: no destructor, no flush, no signal handler runs.
        child.0.kill().unwrap();
        let status = child.0.wait().unwrap();
        assert!(status.code().is_none_or(|c| c == 0), "round {round} (seed {seed}): {status}");
    }
    drop(timing);
    eprintln!("20 kills in {:?}, runs starting at {starts:?}", t0.elapsed());
    eprintln!("{bulk_kills} kills in bulk mode and {wal_kills} with WAL landed while the indexer ran");
    let mid_sync = bulk_kills + wal_kills;
    assert!(mid_sync >= 15, "only {mid_sync} of 20 kills landed during a sync (seed {seed})");
    assert!(bulk_kills > 0 && wal_kills > 0, "{bulk_kills} kills in bulk mode, {wal_kills} with WAL (seed {seed})");

    run_ok(&crashed, &args);
    assert_eq!(digest_eth(&crashed), want, "seed {seed}");

    cli_reads_the_store(&node, &crashed, &accounts, c).await;
    eprintln!("whole test in {:?}", started.elapsed());
}

/// The read commands on an indexed store, and bad input.
async fn cli_reads_the_store(node: &Anvil, data: &Path, accounts: &[Address], c: Contracts) {
    let tip = node.height().await;

    // status: the node's tip, height and hash.
    let block: Value = node.call("eth_getBlockByNumber", json!([format!("{tip:#x}"), false])).await;
    assert_eq!(status_tip(data), Some((tip, block["hash"].as_str().unwrap().to_owned())));

    // A busy address's whole ETH history, paged with cursors.
    let busy = accounts[0].to_checksum(None);
    let whole = json_of(data, &["address", "eth", &busy, "--limit", "1000000", "--json"]);
    let all = whole["history"]["entries"].as_array().unwrap().clone();
    let summary = &whole["summary"]["assets"][0];
    assert_eq!(summary["asset"], "ETH");
    assert_eq!(summary["transfers"].as_u64(), Some(all.len() as u64));
    assert!(all.len() > 300, "only {} rows: not a busy address", all.len());
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = vec!["address", "eth", &busy, "--limit", "47", "--json"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c]);
        }
        let page = json_of(data, &args);
        let entries = page["history"]["entries"].as_array().unwrap();
        assert!(entries.len() <= 47);
        paged.extend(entries.iter().cloned());
        pages += 1;
        match page["history"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(pages > 5);
    assert_eq!(paged, all, "pages differ from the whole history");
    // Newest first; and every row exactly once: replaying them oldest first
    // reproduces each row's balance after it (a missing or repeated row
    // would break the chain).
    let key = |e: &Value| (e["block"].as_u64().unwrap(), e["tx_index"].as_u64().unwrap_or(u64::MAX));
    assert!(all.windows(2).all(|w| key(&w[0]) >= key(&w[1])), "history is not newest first");
    let mut balance = U256::ZERO;
    for e in all.iter().rev() {
        match e["direction"].as_str().unwrap() {
            "in" => balance += amount(&e["amount"]),
            "out" => balance -= amount(&e["amount"]),
            _ => {}
        }
        assert_eq!(amount(&e["balance_after"]), balance, "{e}");
    }
    let on_node = node.eth_balances(&accounts[..1], tip).await[0];
    assert_eq!(balance, on_node, "history of {busy} does not add up to eth_getBalance");
    assert_eq!(amount(&summary["balance"]), on_node);

    // A token transfer: its ERC-20 transfer (with the token's metadata) and its fee.
    let (hash, call, from, height) = find_token_transfer(node, c.token, tip).await;
    let tx = json_of(data, &["tx", "eth", &hash, "--json"]);
    assert_eq!((tx["block"].as_u64(), tx["success"].as_bool()), (Some(height), Some(true)), "{tx}");
    assert_eq!(tx["from"], from.to_checksum(None));
    let transfers = tx["transfers"].as_array().unwrap();
    let tokens: Vec<&Value> = transfers.iter().filter(|t| t["kind"] == "token").collect();
    assert_eq!(tokens.len(), 1, "{tx}");
    let t = tokens[0];
    assert_eq!(t["from"], from.to_checksum(None));
    assert_eq!(t["to"], call.to.to_checksum(None));
    assert_eq!(amount(&t["amount"]), call.value);
    assert_eq!(
        (&t["asset"], &t["symbol"], &t["decimals"]),
        (&json!(c.token.to_checksum(None)), &json!("TUSD"), &json!(6))
    );
    assert!(transfers.iter().any(|t| t["kind"] == "fee_burn" && t["from"] == from.to_checksum(None)), "{tx}");

    // Tags: after importing a list holding the address, `address eth` shows
    // the tag and where it came from.
    let list = data.join("seized.txt");
    std::fs::write(&list, format!("# seized wallets\n{}\n", busy.to_lowercase())).unwrap();
    let list_arg = list.to_str().unwrap();
    run_ok(
        data,
        &[
            "tags",
            "import",
            list_arg,
            "--format",
            "list",
            "--source",
            "case-17",
            "--category",
            "sanctioned",
            "--entity",
            "Seized Wallet",
        ],
    );
    let tagged = json_of(data, &["address", "eth", &busy, "--limit", "1", "--json"]);
    let tags = tagged["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 1, "{tagged}");
    let tag = &tags[0];
    assert_eq!(tag["source"], "case-17");
    assert_eq!(tag["display_address"], busy);
    assert_eq!((&tag["tag"]["category"], &tag["tag"]["entity"]), (&json!("sanctioned"), &json!("Seized Wallet")));
    let provenance = &tag["provenance"];
    assert_eq!(provenance["file"].as_str().map(|f| f.ends_with("seized.txt")), Some(true), "{tag}");
    assert_eq!((provenance["version"].as_u64(), provenance["record"].as_u64()), (Some(1), Some(2)), "{tag}");

    // Bad input: exit status 2 and a message naming it.
    let err = run_err(data, &["address", "eth", "0x12345", "--json"]);
    assert!(err.contains("0x12345") && err.contains("address"), "{err}");
    let unknown = format!("0x{}", "ab".repeat(32));
    let err = run_err(data, &["tx", "eth", &unknown]);
    assert!(err.contains(&unknown) && err.contains("not in the indexed blocks"), "{err}");
    let err = run_err(data, &["address", "eth", &busy, "--cursor", "nonsense"]);
    assert!(err.contains("nonsense"), "{err}");
    // An empty page's cursor would point at itself: paging would never end.
    let err = run_err(data, &["address", "eth", &busy, "--limit", "0"]);
    assert!(err.contains("--limit"), "{err}");

    // A node that is down: without --follow the default policy gives 6
    // attempts (5 retries, 0.2 s doubling: 6.2 s of backoff), then fails
    // naming the URL, and writes nothing.
    let before = digest_eth(data);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}");
    let t0 = Instant::now();
    let out = run(data, &index_args(&url, &c.weth.to_string()));
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("chainsleuth: ") && last.contains(&url) && last.contains("connection failed"), "{err}");
    assert_eq!(err.matches("retrying").count(), 5, "{err}");
    assert!(took >= Duration::from_secs(6) && took < Duration::from_secs(30), "gave up after {took:?}");
    assert_eq!(digest_eth(data), before, "a failed index changed the store");
}

/// A successful `transfer` call of `token`: its hash, decoded call,
/// sender and block.
async fn find_token_transfer(node: &Anvil, token: Address, tip: u64) -> (String, IToken::transferCall, Address, u64) {
    for height in (1..=tip).rev() {
        let block: Value = node.call("eth_getBlockByNumber", json!([format!("{height:#x}"), true])).await;
        for tx in block["transactions"].as_array().unwrap() {
            let to: Option<Address> = tx["to"].as_str().and_then(|t| t.parse().ok());
            let input: Bytes = serde_json::from_value(tx["input"].clone()).unwrap();
            if to != Some(token) || !input.starts_with(&IToken::transferCall::SELECTOR) {
                continue;
            }
            let hash = tx["hash"].as_str().unwrap().to_owned();
            let receipt: Value = node.call("eth_getTransactionReceipt", json!([hash])).await;
            if receipt["status"] == "0x1" {
                let call = IToken::transferCall::abi_decode(&input).unwrap();
                return (hash, call, tx["from"].as_str().unwrap().parse().unwrap(), height);
            }
        }
    }
    panic!("no successful token transfer on the chain")
}

/// Waits until `status --json` shows the node's tip (height and hash),
/// insisting that the follower keeps running.
async fn wait_for_node_tip(node: &Anvil, data: &Path, follower: &mut KillOnDrop) {
    let height = node.height().await;
    let block: Value = node.call("eth_getBlockByNumber", json!([format!("{height:#x}"), false])).await;
    let want = Some((height, block["hash"].as_str().unwrap().to_owned()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_tip(data) != want {
        assert!(follower.0.try_wait().unwrap().is_none(), "the follower exited");
        assert!(Instant::now() < deadline, "follower stuck at {:?}, node at {want:?}", status_tip(data));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_picks_up_new_blocks_and_stops_on_sigterm() {
    let node = Anvil::start(8).await;
    let accounts = node.accounts().await;
    let c = deploy(&node, &accounts).await;
    let mut gen = TxGen::new(77);
    busy_blocks(&node, &mut gen, &accounts, c, 5, 8).await;

    let _timing = TIMING.lock().await;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let weth = c.weth.to_string();
    let mut args = index_args(&node.url, &weth).to_vec();
    args.extend(["--follow", "--poll-interval", "100ms"]);
    let mut follower = KillOnDrop(spawn(&data, &args));
    wait_for_node_tip(&node, &data, &mut follower).await;

    // New blocks, busy and empty, while it follows.
    busy_blocks(&node, &mut gen, &accounts, c, 4, 8).await;
    empty_blocks(&node, 3).await;
    wait_for_node_tip(&node, &data, &mut follower).await;

    // SIGTERM: the follower finishes its block and exits 0.
    let pid = follower.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = follower.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");

    let clean = work.path().join("clean");
    run_ok(&clean, &index_args(&node.url, &weth));
    assert_eq!(digest_eth(&data), digest_eth(&clean));
}

/// A child process that is killed if the test panics before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
