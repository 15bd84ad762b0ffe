//! The watchlist end to end: a simulated Bitcoin chain indexed block by
//! block into a real store while the watcher runs, the API over loopback,
//! and a webhook receiver on loopback that fails each delivery's first
//! attempt. Alerts must match the watched address's transactions exactly
//! (the simulator's ground truth and the index's history), each delivered
//! once with a valid signature after a retry; a watcher restart must not
//! repeat alerts or deliveries and must resume a delivery left pending; an
//! unwound block's alerts must be retracted, with a retraction delivered.
//! On Ethereum (anvil, indexed by the eth crate's test helpers), transfers
//! into and out of a watched account must add up to the node's balance change.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use bitcoin::Network;
use chainsleuth_api::watch::{self, Watch, WatchOptions};
use chainsleuth_api::{ApiState, Role, Token};
use chainsleuth_btc::sim::{build_chain, SimChain, SimConfig};
use chainsleuth_btc::{BtcBlock, BtcIndexer};
use chainsleuth_core::Height;
use chainsleuth_sync::{Indexer, UndoPolicy};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::task::JoinHandle;

const ADMIN: &str = "admin-secret-0123456789abcdef";
const READER: &str = "read-secret-0123456789abcdef";

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    event: String,
    signature: String,
    body: Bytes,
    answered: u16,
}

/// A webhook receiver: fails the first attempt of each delivery (and every
/// attempt while `down`), records every request.
#[derive(Clone, Default)]
struct Receiver {
    log: Arc<Mutex<Vec<Received>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    async fn start(&self) -> SocketAddr {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move { me.receive(&headers, body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn receive(&self, headers: &HeaderMap, body: Bytes) -> StatusCode {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let delivery = header(watch::DELIVERY_HEADER);
        let mut log = self.log.lock().unwrap();
        let first = !log.iter().any(|r| r.delivery == delivery);
        let status =
            if first || self.down.load(Ordering::SeqCst) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        log.push(Received {
            delivery,
            event: header(watch::EVENT_HEADER),
            signature: header(watch::SIGNATURE_HEADER),
            body,
            answered: status.as_u16(),
        });
        status
    }

    fn accepted(&self) -> Vec<Received> {
        self.log.lock().unwrap().iter().filter(|r| r.answered == 200).cloned().collect()
    }
}

/// A server and a watcher over one data directory.
struct Service {
    state: ApiState,
    base: String,
    http: reqwest::Client,
    stop_server: tokio::sync::oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    stop_watcher: tokio::sync::watch::Sender<bool>,
    watcher: JoinHandle<()>,
}

fn options() -> WatchOptions {
    WatchOptions {
        poll: Duration::from_millis(40),
        blocks_per_pass: 7,
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_millis(400),
        max_attempts: 1000,
    }
}

impl Service {
    async fn start(dir: &Path) -> Service {
        // After a restart the tokens are in the data directory's token file already.
        let mut state =
            ApiState::new(dir, vec![Token::new(Role::Admin, ADMIN).unwrap(), Token::new(Role::Read, READER).unwrap()]);
        state.watch = Arc::new(Watch::new(dir).with_options(options()).with_metrics(state.metrics.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(chainsleuth_api::serve(listener, state.clone(), async {
            stopped.await.ok();
        }));
        let (stop_watcher, stop) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(watch::run(state.watch.clone(), stop));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        Service { state, base, http, stop_server, server, stop_watcher, watcher }
    }

    async fn stop(self) {
        self.stop_watcher.send(true).unwrap();
        self.watcher.await.unwrap();
        self.stop_server.send(()).unwrap();
        self.server.await.unwrap().unwrap();
    }

    async fn call(&self, method: reqwest::Method, path: &str, secret: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, READER, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Every alert, paging 3 at a time.
    async fn alerts(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.get(&format!("/v1/alerts?limit=3{cursor}")).await;
            all.extend(page["alerts"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return all,
            }
        }
    }

    /// The last height scanned on chain `chain` (0 Bitcoin, 1 Ethereum).
    async fn scanned_on(&self, chain: usize) -> Option<u64> {
        let watch = self.state.watch.clone();
        let positions = tokio::task::spawn_blocking(move || watch.positions().unwrap()).await.unwrap();
        positions[chain].height
    }

    /// The last height scanned on Bitcoin.
    async fn scanned(&self) -> Option<u64> {
        self.scanned_on(0).await
    }

    /// Waits until Bitcoin is scanned to `height` and no delivery is pending.
    async fn settled(&self, height: u64) -> Vec<Value> {
        self.settled_on(0, height).await
    }

    /// Waits until chain `chain` is scanned to `height` and no delivery is pending.
    async fn settled_on(&self, chain: usize, height: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.scanned_on(chain).await == Some(height) {
                let alerts = self.alerts().await;
                let pending =
                    alerts.iter().flat_map(|a| a["deliveries"].as_array().unwrap()).any(|d| d["state"] == "pending");
                if !pending {
                    return alerts;
                }
            }
            assert!(Instant::now() < deadline, "the watcher did not settle at height {height}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Indexes `blocks` of `chain` (heights `from..`) one by one.
async fn index(indexer: &Arc<Mutex<BtcIndexer>>, chain: &SimChain, heights: std::ops::RangeInclusive<u64>) {
    for height in heights {
        let block = chain.blocks[height as usize].clone();
        let indexer = indexer.clone();
        tokio::task::spawn_blocking(move || {
            let block = BtcBlock::new(Height::new(height), block.clone(), block.total_size());
            indexer.lock().unwrap().execute(&block, UndoPolicy { keep: true, prune: None }).unwrap();
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

/// The address's history from the index, by txid: (height, received, sent).
async fn history(service: &Service, address: &str) -> BTreeMap<String, (u64, u64, u64)> {
    let page = service.get(&format!("/v1/btc/address/{address}?limit=10000")).await;
    assert!(page["history"]["next_cursor"].is_null());
    page["history"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let n = |field: &str| row[field].as_u64().unwrap();
            (row["txid"].as_str().unwrap().to_owned(), (n("height"), n("received"), n("sent")))
        })
        .collect()
}

/// The live alerts, folded the same way as [`history`]; each (txid,
/// direction) at most once.
fn live(alerts: &[Value], address: &str) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for alert in alerts.iter().filter(|a| a["retracted"] == false && a["address"] == address) {
        let txid = alert["txid"].as_str().unwrap().to_owned();
        let direction = alert["direction"].as_str().unwrap().to_owned();
        assert!(seen.insert((txid.clone(), direction.clone())), "alert twice: {alert}");
        let amount: u64 = alert["amount"].as_str().unwrap().parse().unwrap();
        let row = out.entry(txid).or_insert((alert["height"].as_u64().unwrap(), 0, 0));
        match direction.as_str() {
            "in" => row.1 += amount,
            "out" => row.2 += amount,
            other => panic!("direction {other}"),
        }
    }
    out
}

fn verify(secret: &str, received: &Received) {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&received.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(received.signature, expected, "signature of delivery {}", received.delivery);
}

/// Checks that every delivery of `alerts` was delivered once, after a
/// failed first attempt, with a valid signature and the alert as its body.
fn check_deliveries(alerts: &[Value], receiver: &Receiver, secret: &str) {
    let accepted = receiver.accepted();
    let mut by_delivery: HashMap<&str, Vec<&Received>> = HashMap::new();
    for received in &accepted {
        by_delivery.entry(received.delivery.as_str()).or_default().push(received);
        verify(secret, received);
    }
    let mut expected = 0;
    for alert in alerts {
        for delivery in alert["deliveries"].as_array().unwrap() {
            expected += 1;
            assert_eq!(delivery["state"], "delivered", "{alert}");
            assert!(delivery["attempts"].as_u64().unwrap() >= 2, "the first attempt fails: {delivery}");
            assert_eq!(delivery["last_status"], 200);
            let event = delivery["event"].as_str().unwrap();
            let id = format!("{}-{event}-{}", alert["id"], delivery["watch_id"]);
            let got = by_delivery.get(id.as_str()).unwrap_or_else(|| panic!("no accepted POST for {id}"));
            assert_eq!(got.len(), 1, "{id} delivered {} times", got.len());
            assert_eq!(got[0].event, event);
            let body: Value = serde_json::from_slice(&got[0].body).unwrap();
            assert_eq!(body["event"], event);
            assert_eq!(body["alert"]["id"], alert["id"]);
            assert_eq!(body["alert"]["txid"], alert["txid"]);
            assert_eq!(body["alert"]["retracted"], event == "retraction");
        }
    }
    assert_eq!(accepted.len(), expected, "an accepted POST for each delivery and no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_are_stored_once_delivered_signed_and_retracted_after_a_reorg() {
    let dir = tempfile::tempdir().unwrap();
    let chain = build_chain(&SimConfig { blocks: 150, seed: 21, txs_per_block: 6, ..SimConfig::default() });
    let tip = chain.truth.tip_height.get();
    // The busiest address that first appears after the coinbase-only start.
    let (address, truth) = chain.truth.addresses.iter().max_by_key(|(_, t)| t.tx_count).unwrap();
    let address = address.clone();
    assert!(truth.tx_count >= 4, "the chain needs an address with several transactions");
    let indexer = Arc::new(Mutex::new(BtcIndexer::open(dir.path(), Network::Regtest).unwrap()));
    let receiver = Receiver::default();
    let hook = format!("http://{}/hook", receiver.start().await);

    let service = Service::start(dir.path()).await;
    // Bad input: 4xx naming the field; writes need admin.
    let post = |body: Value, secret: &'static str| {
        let service = &service;
        async move { service.call(reqwest::Method::POST, "/v1/watchlist", secret, Some(body)).await }
    };
    let cases = [
        (json!({ "chain": "btc", "address": address, "webhook": { "url": hook } }), READER, 403, "Authorization"),
        (json!({ "chain": "doge", "address": address }), ADMIN, 400, "chain"),
        (json!({ "chain": "btc", "address": "bc1qnotanaddress" }), ADMIN, 400, "address"),
        (json!({ "chain": "btc" }), ADMIN, 400, "address"),
        (json!({ "chain": "eth", "address": "0x1234" }), ADMIN, 400, "address"),
        (json!({ "chain": "eth", "cluster": "12" }), ADMIN, 400, "cluster"),
        (
            json!({ "chain": "btc", "address": address, "webhook": { "url": "ftp://127.0.0.1/x" } }),
            ADMIN,
            400,
            "webhook.url",
        ),
        (json!({ "chain": "btc", "address": address, "webhook": { "url": "not a url" } }), ADMIN, 400, "webhook.url"),
        (json!({ "chain": "btc", "address": address, "colour": "red" }), ADMIN, 400, "body"),
    ];
    for (body, secret, status, field) in cases {
        let (got, answer) = post(body.clone(), secret).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["message"].as_str().unwrap().starts_with(&format!("{field}: ")), "{body}: {answer}");
    }
    let (status, created) =
        post(json!({ "chain": "btc", "address": address, "note": "suspect", "webhook": { "url": hook } }), ADMIN).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64, "256 bits in hex");
    let (status, other) =
        post(json!({ "chain": "eth", "address": "0x00000000000000000000000000000000000000aa" }), ADMIN).await;
    assert_eq!(status, 201, "{other}");
    let listing = service.get("/v1/watchlist").await;
    assert_eq!(listing["items"].as_array().unwrap().len(), 2, "{listing}");
    assert_eq!(listing["items"][0]["webhook"], json!({ "url": hook }));
    assert!(!listing.to_string().contains(&secret), "listings never show the secret");
    let (status, _) =
        service.call(reqwest::Method::DELETE, &format!("/v1/watchlist/{}", other["id"]), READER, None).await;
    assert_eq!(status, 403);
    let (status, _) =
        service.call(reqwest::Method::DELETE, &format!("/v1/watchlist/{}", other["id"]), ADMIN, None).await;
    assert_eq!(status, 204);
    // The address's cluster too, named by the address (no hook).
    let (status, cluster_item) =
        post(json!({ "chain": "btc", "cluster": address, "note": "its cluster" }), ADMIN).await;
    assert_eq!((status, cluster_item["cluster"].as_str()), (201, Some(address.as_str())), "{cluster_item}");
    let (status, body) = service.call(reqwest::Method::DELETE, "/v1/watchlist/999", ADMIN, None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_watch")));
    let (status, body) = service.call(reqwest::Method::GET, "/v1/alerts?cursor=x", READER, None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_cursor")));

    // The store exists but is empty: the watcher starts at height 0.
    let deadline = Instant::now() + Duration::from_secs(20);
    while service.state.watch.positions().unwrap()[0].start != Some(0) {
        assert!(Instant::now() < deadline, "the watcher never looked at the btc store");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Most of the chain, block by block while the watcher runs.
    let first_part = tip - 20;
    index(&indexer, &chain, 0..=first_part).await;
    let alerts = service.settled(first_part).await;
    assert!(!alerts.is_empty(), "the address moves funds before height {first_part}");
    assert_eq!(live(&alerts, &address), history(&service, &address).await);
    check_deliveries(&alerts, &receiver, &secret);
    let before = receiver.log.lock().unwrap().len();

    // A restart: nothing stored or sent twice.
    service.stop().await;
    let service = Service::start(dir.path()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(service.settled(first_part).await, alerts, "a restart changes no alert");
    assert_eq!(receiver.log.lock().unwrap().len(), before, "a restart sends nothing again");

    // Blocks indexed while the watcher is stopped, and the hook down when
    // it comes back: it resumes the scan, and stops again with deliveries
    // pending after failed attempts; the next run delivers them.
    service.stop().await;
    receiver.down.store(true, Ordering::SeqCst);
    let mid = tip - 5;
    index(&indexer, &chain, first_part + 1..=mid).await;
    let service = Service::start(dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = service.alerts().await;
        let fresh: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["height"].as_u64().unwrap() > first_part)
            .flat_map(|a| a["deliveries"].as_array().unwrap())
            .collect();
        if service.scanned().await == Some(mid)
            && !fresh.is_empty()
            && fresh.iter().all(|d| d["state"] == "pending" && d["attempts"].as_u64().unwrap() >= 2)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the address needs a movement in ({first_part}, {mid}], tried while the hook is down: {alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    service.stop().await;
    receiver.down.store(false, Ordering::SeqCst);
    let service = Service::start(dir.path()).await;
    index(&indexer, &chain, mid + 1..=tip).await;
    let alerts = service.settled(tip).await;
    let expected = history(&service, &address).await;
    assert_eq!(live(&alerts, &address), expected);
    check_deliveries(&alerts, &receiver, &secret);
    // The cluster item: every alert it matched is of a member of the
    // address's cluster, and the address's own alerts match both items.
    let cluster = service.get(&format!("/v1/btc/cluster/{address}?limit=10000")).await;
    let members: std::collections::BTreeSet<&str> =
        cluster["cluster"]["members"].as_array().unwrap().iter().map(|m| m["address"].as_str().unwrap()).collect();
    let matched = |alert: &Value, item: &Value| alert["watch_ids"].as_array().unwrap().contains(&item["id"]);
    let of_cluster: Vec<&Value> = alerts.iter().filter(|a| matched(a, &cluster_item)).collect();
    assert!(of_cluster.iter().all(|a| members.contains(a["address"].as_str().unwrap())), "{cluster}");
    let own: Vec<&Value> = alerts.iter().filter(|a| a["address"] == address.as_str()).collect();
    assert!(own.iter().all(|a| matched(a, &cluster_item) && matched(a, &created)));
    assert!(of_cluster.len() >= own.len());
    // Against the simulator's ground truth too.
    let totals = expected.values().fold((0, 0), |(r, s), (_, received, sent)| (r + received, s + sent));
    assert_eq!((expected.len() as u64, totals.0, totals.1), (truth.tx_count, truth.received.0, truth.sent.0));

    // A reorg: unwind down to the address's last transaction.
    let last = expected.values().map(|(height, _, _)| *height).max().unwrap();
    tokio::task::spawn_blocking({
        let indexer = indexer.clone();
        move || {
            let mut indexer = indexer.lock().unwrap();
            for height in (last..=tip).rev() {
                assert!(indexer.unwind(Height::new(height)).unwrap());
            }
        }
    })
    .await
    .unwrap();
    let alerts = service.settled(last - 1).await;
    let removed: Vec<&Value> =
        alerts.iter().filter(|a| a["height"].as_u64().unwrap() >= last && a["address"] == address.as_str()).collect();
    assert!(!removed.is_empty());
    assert!(removed.iter().all(|a| a["retracted"] == true && a["retracted_at"].is_u64()), "{removed:?}");
    for alert in &alerts {
        let gone = alert["height"].as_u64().unwrap() >= last;
        assert_eq!(alert["retracted"], gone, "cluster members' alerts too: {alert}");
    }
    assert_eq!(live(&alerts, &address), history(&service, &address).await);
    let retractions = receiver.accepted().into_iter().filter(|r| r.event == "retraction").count();
    assert_eq!(retractions, removed.len(), "one retraction per removed alert");
    check_deliveries(&alerts, &receiver, &secret);

    // The same blocks again: new alerts, the retracted ones stay retracted.
    index(&indexer, &chain, last..=tip).await;
    let alerts = service.settled(tip).await;
    assert_eq!(live(&alerts, &address), expected);
    assert_eq!(
        alerts.iter().filter(|a| a["retracted"] == true && a["address"] == address.as_str()).count(),
        removed.len()
    );
    check_deliveries(&alerts, &receiver, &secret);
    let counters = service.state.watch.counters();
    assert!(counters.alerts.load(Ordering::Relaxed) >= removed.len() as u64);
    assert!(counters.deliveries_ok.load(Ordering::Relaxed) > 0);
    service.stop().await;
}

#[path = "../../eth/tests/common/mod.rs"]
mod eth;

/// The same on Ethereum, against anvil: plain transfers into and out of a
/// watched account give one alert each (the outgoing one with its fee), the
/// amounts add up to the node's own balance change, each delivered signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ethereum_transfers_alert_once_each_with_fees() {
    use alloy::primitives::{B256, U256};
    use chainsleuth_eth::TraceMode;

    let node = eth::Anvil::start(4).await;
    let accounts = node.accounts().await;
    let watched = accounts[1];
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::default();
    let hook = format!("http://{}/hook", receiver.start().await);
    let service = Service::start(dir.path()).await;
    let lower = format!("{watched:#x}");
    let (status, created) = service
        .call(
            reqwest::Method::POST,
            "/v1/watchlist",
            ADMIN,
            Some(json!({ "chain": "eth", "address": lower, "webhook": { "url": hook } })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["address"], watched.to_checksum(None), "stored checksummed");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while service.state.watch.positions().unwrap()[1].start != Some(0) {
        assert!(Instant::now() < deadline, "the watcher never looked for an eth store");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let before: U256 = node.call("eth_getBalance", json!([watched, "latest"])).await;
    let sends = [(accounts[0], watched, 1_000_000_007u64), (accounts[2], watched, 3), (watched, accounts[3], 500)];
    let mut expected: BTreeMap<(String, &str), U256> = BTreeMap::new();
    for (from, to, value) in sends {
        let hash: B256 =
            node.call("eth_sendTransaction", json!([{ "from": from, "to": to, "value": U256::from(value) }])).await;
        let mut receipt = Value::Null;
        for _ in 0..200 {
            receipt = node.call("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let quantity =
            |field: &str| U256::from_str_radix(receipt[field].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        let tx = format!("{hash:#x}");
        if to == watched {
            expected.insert((tx, "in"), U256::from(value));
        } else {
            expected.insert((tx, "out"), U256::from(value) + quantity("gasUsed") * quantity("effectiveGasPrice"));
        }
    }
    let after: U256 = node.call("eth_getBalance", json!([watched, "latest"])).await;
    let tip = node.height().await;

    let store = eth::open_store(dir.path());
    let opts = chainsleuth_sync::SyncOptions::default();
    eth::index(&store, eth::source_config(&node.url, TraceMode::Debug, alloy::primitives::Address::ZERO), &opts)
        .await
        .unwrap();
    let alerts = service.settled_on(1, tip).await;
    let got: BTreeMap<(String, &str), U256> = alerts
        .iter()
        .map(|alert| {
            assert_eq!((alert["chain"].as_str(), alert["asset"].as_str()), (Some("eth"), Some("ETH")), "{alert}");
            assert_eq!(alert["address"], watched.to_checksum(None));
            let direction = if alert["direction"] == "in" { "in" } else { "out" };
            let amount = U256::from_str_radix(alert["amount"].as_str().unwrap(), 10).unwrap();
            ((alert["txid"].as_str().unwrap().to_owned(), direction), amount)
        })
        .collect();
    assert_eq!(got.len(), alerts.len(), "one alert per transaction and direction");
    assert_eq!(got, expected);
    let received: U256 = got.iter().filter(|((_, d), _)| *d == "in").map(|(_, a)| *a).sum();
    let sent: U256 = got.iter().filter(|((_, d), _)| *d == "out").map(|(_, a)| *a).sum();
    assert_eq!(before + received - sent, after, "the alerts account for the node's balance change");
    check_deliveries(&alerts, &receiver, &secret);
    service.stop().await;
}
