//! The API over real HTTP on loopback against real stores on disk: a
//! simulated Bitcoin chain indexed in-process and one imported tag list.
//! Auth, every endpoint, cursor paging to the end against the chain's ground
//! truth, the JSON errors of bad input, and a graceful stop.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use bitcoin::Network;
use chainsleuth_api::{ApiState, Role, Token};
use chainsleuth_btc::sim::{build_chain, SimChain, SimConfig};
use chainsleuth_btc::{BtcBlock, BtcIndexer};
use chainsleuth_sync::{Indexer, UndoPolicy};
use chainsleuth_tags::{Defaults, Format, ImportOptions, TagStore};
use reqwest::StatusCode;
use serde_json::Value;

const SECRET: &str = "read-secret-0123456789abcdef";
const ENTITY: &str = "Loopback Exchange";

/// Indexes a simulated chain into `dir` and returns it.
fn index_chain(dir: &Path) -> SimChain {
    let chain = build_chain(&SimConfig { blocks: 40, seed: 11, txs_per_block: 8, ..SimConfig::default() });
    let mut indexer = BtcIndexer::open(dir, Network::Regtest).unwrap();
    for (height, block) in chain.blocks.iter().enumerate() {
        let block = BtcBlock::new(chainsleuth_core::Height::new(height as u64), block.clone(), block.total_size());
        indexer.execute(&block, UndoPolicy { keep: true, prune: None }).unwrap();
    }
    chain
}

/// Tags `address` as an exchange of [`ENTITY`].
fn import_tag(dir: &Path, address: &str) {
    let list = dir.join("exchange.txt");
    std::fs::write(&list, format!("{address}\n")).unwrap();
    let store = TagStore::open(&TagStore::path_in(dir)).unwrap().with_network(Network::Regtest);
    let defaults =
        Defaults { category: Some("exchange".parse().unwrap()), entity: Some(ENTITY.into()), ..Defaults::default() };
    store.import(&list, Format::List, "loopback", &ImportOptions { defaults, ..ImportOptions::default() }).unwrap();
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn get_as(&self, path: &str, secret: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or_else(|err| panic!("{path}: body is not JSON: {err}"));
        (status, body)
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get_as(path, Some(SECRET)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// Asserts `path` fails with `status` and `code`, the message naming `field`.
    async fn fails(&self, path: &str, status: StatusCode, code: &str, field: &str) {
        let (got, body) = self.get_as(path, Some(SECRET)).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{path}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: ")), "{path}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_over_http_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let chain = index_chain(dir.path());
    let (busiest, truth) = chain.truth.addresses.iter().max_by_key(|(_, t)| t.tx_count).unwrap();
    assert!(truth.tx_count > 3, "the chain needs an address with several pages");
    import_tag(dir.path(), busiest);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ApiState::new(dir.path(), vec![Token::new(Role::Read, SECRET).unwrap()]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chainsleuth_api::serve(listener, state, async {
        stopped.await.ok();
    }));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let client = Client { http, base: format!("http://{addr}") };

    let run = async {
        assert_eq!(client.get_as("/healthz", None).await, (StatusCode::OK, serde_json::json!({ "status": "ok" })));

        for secret in [None, Some("read-secret-0123456789abcdeX"), Some("")] {
            let (status, body) = client.get_as("/v1/status", secret).await;
            assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{body}");
            assert!(!body.to_string().contains("read-secret"), "{body}");
        }

        let lowercase =
            client.http.get(format!("{}/v1/status", client.base)).header("authorization", format!("bearer {SECRET}"));
        assert_eq!(lowercase.send().await.unwrap().status(), StatusCode::OK, "the scheme is case-insensitive");
        let basic = client.http.get(format!("{}/v1/status", client.base)).basic_auth("read", Some(SECRET));
        assert_eq!(basic.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

        let status = client.ok("/v1/status").await;
        assert_eq!(status["btc"]["network"], "regtest");
        assert_eq!(status["btc"]["tip_height"], chain.truth.tip_height.get());
        assert_eq!(status["eth"], Value::Null);
        assert_eq!(status["tag_sources"][0]["name"], "loopback");

        let mut cursor: Option<String> = None;
        let mut seen = BTreeSet::new();
        let mut pages = 0;
        loop {
            let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
            let page = client.ok(&format!("/v1/btc/address/{busiest}?limit=2{query}")).await;
            assert_eq!(page["summary"]["balance"], truth.balance.0, "{page}");
            assert_eq!(page["summary"]["tx_count"], truth.tx_count);
            assert_eq!(page["tags"][0]["tag"]["entity"], ENTITY, "{}", page["tags"]);
            let rows = page["history"]["rows"].as_array().unwrap();
            assert!(rows.len() <= 2);
            for row in rows {
                assert!(seen.insert(row["txid"].as_str().unwrap().to_owned()), "row twice: {row}");
            }
            pages += 1;
            match page["history"]["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len() as u64, truth.tx_count);
        assert!(pages > 1);

        let txid = seen.iter().next().unwrap();
        let tx = client.ok(&format!("/v1/btc/tx/{txid}")).await;
        assert_eq!(tx["txid"].as_str(), Some(txid.as_str()), "{tx}");

        let cluster = client.ok(&format!("/v1/btc/cluster/{busiest}?limit=5")).await;
        assert!(cluster["size"].as_u64().unwrap() >= 1, "{cluster}");
        let members = cluster["members"].as_array().unwrap();
        assert!(!members.is_empty() && members.len() <= 5, "{cluster}");
        let by_id = client.ok(&format!("/v1/btc/cluster/{}", cluster["id"])).await;
        assert_eq!(by_id["id"], cluster["id"]);

        let sources = client.ok("/v1/tags/sources").await;
        assert_eq!(sources.as_array().unwrap().len(), 1);
        assert_eq!(sources[0]["name"], "loopback");
        let entity = client.ok(&format!("/v1/entities/{}", ENTITY.replace(' ', "%20"))).await;
        assert_eq!(entity["tags"][0]["tag"]["address"].as_str(), Some(busiest.as_str()), "{entity}");

        let bad = StatusCode::BAD_REQUEST;
        let missing = StatusCode::NOT_FOUND;
        client.fails("/v1/btc/address/bc1qnotanaddress", bad, "invalid_address", "address").await;
        client.fails(&format!("/v1/btc/address/{busiest}?cursor=zz"), bad, "invalid_cursor", "cursor").await;
        client.fails(&format!("/v1/btc/address/{busiest}?limit=0"), bad, "invalid_limit", "limit").await;
        client.fails(&format!("/v1/btc/address/{busiest}?limit=10001"), bad, "invalid_limit", "limit").await;
        client.fails(&format!("/v1/btc/address/{busiest}?limit=-1"), bad, "invalid_limit", "limit").await;
        client.fails(&format!("/v1/btc/address/{busiest}?colour=red"), bad, "invalid_query", "query").await;
        client.fails(&format!("/v1/doge/address/{busiest}"), bad, "unknown_chain", "chain").await;
        client.fails("/v1/btc/tx/xyz", bad, "invalid_txid", "id").await;
        client.fails(&format!("/v1/btc/tx/{}", "ab".repeat(32)), missing, "unknown_tx", "id").await;
        client
            .fails("/v1/eth/address/0x0000000000000000000000000000000000000001", missing, "not_indexed", "chain")
            .await;
        client
            .fails("/v1/eth/cluster/0x0000000000000000000000000000000000000001", bad, "unsupported_chain", "chain")
            .await;
        client.fails("/v1/btc/cluster/999999999", missing, "unknown_cluster", "id").await;
        client.fails("/v1/entities/Nobody", missing, "unknown_entity", "name").await;
        client.fails("/v1/nothing/here/at/all", missing, "unknown_route", "path").await;
    };
    tokio::time::timeout(Duration::from_secs(120), run).await.expect("the requests finish in time");

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), server).await.expect("the server stops in time");
    result.unwrap().unwrap();
    assert!(reqwest::get(format!("http://{addr}/healthz")).await.is_err(), "still listening after the stop");
}
