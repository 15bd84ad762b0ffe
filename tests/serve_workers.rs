//! `chainsleuth serve` as the one long-lived process: with a config naming
//! a Bitcoin blocks directory and an anvil node it indexes both chains,
//! turns ready, shows the tips in `/v1/status` and `/metrics`, follows new
//! blocks, and on SIGTERM exits 0 with both stores flushed at their tips
//! (the Bitcoin store equal to a clean index of the same blocks). With a
//! node it cannot reach, `/readyz` answers 503 naming the failed check, and
//! SIGTERM still ends it within the grace period.

mod common;
#[path = "../crates/eth/tests/common/mod.rs"]
mod eth_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chainsleuth_btc::sim::{build_chain, write_blocks_dir, BlkDirOptions, SimConfig};
use common::{append_blocks, digest, run_ok, Http, Served};
use eth_common::Anvil;
use serde_json::Value;

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("chainsleuth.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Creates a read token in `data` and returns its secret.
fn read_token(data: &Path) -> String {
    run_ok(data, &["tokens", "create", "--role", "read", "--name", "ci"]).trim().to_owned()
}

/// Polls `GET path` until `done` holds for its status and JSON body (60 s
/// at most); returns the body.
async fn wait_for(http: &mut Http, path: &str, token: Option<&str>, done: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http.get(path, token).await;
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|err| panic!("{path}: {err}: {body}"));
        if done(status, &body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} did not get there; last answer {status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{metrics}"))
}

fn eth_tip(status: &Value) -> Option<u64> {
    status["eth"]["tip"]["height"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_indexes_both_chains_follows_reports_and_stops_flushed() {
    let work = tempfile::tempdir().unwrap();
    let chain = build_chain(&SimConfig { blocks: 70, seed: 12, txs_per_block: 6, ..SimConfig::default() });
    let btc_node = work.path().join("btc-node");
    write_blocks_dir(&btc_node, &chain.blocks[..=50], &BlkDirOptions::default()).unwrap();
    let eth_node = Anvil::start(4).await;
    for _ in 0..3 {
        eth_node.mine().await;
    }
    let data = work.path().join("data");
    let config = write_config(
        work.path(),
        &format!(
            "data_dir = {data:?}\n\
             [btc]\nnetwork = \"regtest\"\nblocks_dir = {btc_node:?}\npoll_interval = \"100ms\"\n\
             [eth]\nrpc = {:?}\npoll_interval = \"100ms\"\n\
             [serve]\nbtc_max_lag = 0\neth_max_lag = 0\nshutdown_grace = \"20s\"\n",
            eth_node.url
        ),
    );
    let token = read_token(&data);
    let mut served = Served::start(&config);
    let mut http = Http::connect(&served.addr).await;

    let ready = wait_for(&mut http, "/readyz", None, |status, _| status == 200).await;
    assert_eq!(ready["ready"], true, "{ready}");
    let checks: Vec<&str> = ready["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    for check in ["btc_store", "eth_store", "btc_worker", "btc_lag", "eth_worker", "eth_lag"] {
        assert!(checks.contains(&check), "{check} missing from {ready}");
    }
    let eth_height = eth_node.height().await;
    let status = wait_for(&mut http, "/v1/status", Some(&token), |code, body| {
        code == 200 && body["btc"]["tip_height"] == 50 && eth_tip(body) == Some(eth_height)
    })
    .await;
    assert_eq!(status["btc"]["tip_hash"], chain.blocks[50].block_hash().to_string());
    let btc_worker = status["workers"].as_array().unwrap().iter().find(|w| w["chain"] == "btc").unwrap();
    assert_eq!((btc_worker["indexed_tip"].as_u64(), btc_worker["node_tip"].as_u64()), (Some(50), Some(50)));
    assert_eq!((&btc_worker["lag"], &btc_worker["running"]), (&serde_json::json!(0), &serde_json::json!(true)));

    assert_eq!(http.get("/metrics", None).await.0, 401, "/metrics needs a read token by default");
    let (code, metrics) = http.get("/metrics", Some(&token)).await;
    assert_eq!(code, 200, "{metrics}");
    assert_eq!(sample(&metrics, "chainsleuth_indexed_tip{chain=\"btc\"}"), 50.0);
    assert_eq!(sample(&metrics, "chainsleuth_node_tip{chain=\"btc\"}"), 50.0);
    assert_eq!(sample(&metrics, "chainsleuth_lag_blocks{chain=\"btc\"}"), 0.0);
    assert_eq!(sample(&metrics, "chainsleuth_indexed_tip{chain=\"eth\"}"), eth_height as f64);
    assert_eq!(sample(&metrics, "chainsleuth_worker_up{chain=\"eth\"}"), 1.0);
    assert!(sample(&metrics, "chainsleuth_blocks_per_second{chain=\"btc\"}") > 0.0, "{metrics}");
    assert!(
        sample(&metrics, "chainsleuth_http_requests_total{route=\"/v1/status\",method=\"GET\",status=\"200\"}") >= 1.0
    );
    assert_eq!(
        sample(&metrics, "chainsleuth_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"401\"}"),
        1.0
    );
    assert!(
        !metrics.contains(&token) && !metrics.contains("route=\"/v1/btc/address/"),
        "no secrets and no raw paths in the labels"
    );

    // New blocks on both nodes: the workers follow.
    append_blocks(&btc_node, &chain.blocks[51..=70]);
    eth_node.mine().await;
    eth_node.mine().await;
    let eth_height = eth_node.height().await;
    wait_for(&mut http, "/v1/status", Some(&token), |code, body| {
        code == 200 && body["btc"]["tip_height"] == 70 && eth_tip(body) == Some(eth_height)
    })
    .await;
    let (_, metrics) = http.get("/metrics", Some(&token)).await;
    assert_eq!(sample(&metrics, "chainsleuth_indexed_tip{chain=\"btc\"}"), 70.0);

    drop(http);
    let exit = served.terminate(Duration::from_secs(30));
    assert!(exit.success(), "serve exited with {exit}:\n{}", served.log.lock().unwrap());

    // Reopened after the exit, both stores are at the tips they reached.
    let status: Value = serde_json::from_str(&run_ok(&data, &["status", "--json"])).unwrap();
    assert_eq!(status["btc"]["tip_height"], 70);
    assert_eq!(eth_tip(&status), Some(eth_height));
    let clean = work.path().join("clean");
    run_ok(&clean, &["index", "btc", "--network", "regtest", "--blocks-dir", btc_node.to_str().unwrap()]);
    assert_eq!(digest(&data), digest(&clean), "the served store equals a clean index of the same blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_failed_check_and_sigterm_ends_a_stuck_worker() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    // Port 1 refuses connections: the worker keeps retrying its node.
    let config = write_config(
        work.path(),
        &format!(
            "data_dir = {data:?}\n\
             [btc]\nnetwork = \"regtest\"\nrest = \"http://127.0.0.1:1/\"\n\
             [serve]\nmetrics_auth = \"none\"\nshutdown_grace = \"2s\"\n"
        ),
    );
    read_token(&data);
    let mut served = Served::start(&config);
    let mut http = Http::connect(&served.addr).await;
    // Once the worker has created its store, only the lag check fails.
    let body = wait_for(&mut http, "/readyz", None, |status, body| {
        status == 503 && body["failed"] == serde_json::json!(["btc_lag"])
    })
    .await;
    assert_eq!(body["ready"], false);
    let lag = body["checks"].as_array().unwrap().iter().find(|c| c["check"] == "btc_lag").unwrap();
    assert!(lag["message"].as_str().unwrap().contains("unknown"), "{lag}");

    let (code, metrics) = http.get("/metrics", None).await;
    assert_eq!(code, 200, "metrics_auth = none needs no token: {metrics}");
    assert_eq!(sample(&metrics, "chainsleuth_worker_up{chain=\"btc\"}"), 1.0);
    assert!(
        sample(&metrics, "chainsleuth_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"503\"}") >= 1.0
    );

    drop(http);
    let started = Instant::now();
    let exit = served.terminate(Duration::from_secs(20));
    assert!(exit.success(), "serve exited with {exit}:\n{}", served.log.lock().unwrap());
    assert!(started.elapsed() < Duration::from_secs(10), "the grace period bounds the stop: {:?}", started.elapsed());
}
