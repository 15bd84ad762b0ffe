//! The API over real HTTP on loopback against real stores on disk: a
//! simulated Bitcoin chain indexed in-process and one imported tag list.
//! Auth, every endpoint, cursor paging to the end against the chain's ground
//! truth, the JSON errors of bad input, and a graceful stop; history paging
//! while the indexer appends blocks between pages; the tag listing and tag
//! imports (uploaded and configured).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

mod common;

use bitcoin::Network;
use chainsleuth_api::{ApiState, Role, Token};
use chainsleuth_btc::BtcIndexer;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const SECRET: &str = "read-secret-0123456789abcdef";
const ENTITY: &str = "Loopback Exchange";

/// Tags `address` as an exchange of [`ENTITY`].
fn import_tag(dir: &Path, address: &str) {
    common::import_tags(dir, "loopback", "exchange", ENTITY, &[address]);
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
    let chain = common::index_chain(dir.path(), 40, 11);
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

        let page = client.ok(&format!("/v1/btc/cluster/{busiest}?limit=5")).await;
        let cluster = &page["cluster"];
        assert!(cluster["size"].as_u64().unwrap() >= 1, "{cluster}");
        let members = cluster["members"].as_array().unwrap();
        assert!(!members.is_empty() && members.len() <= 5, "{cluster}");
        let by_id = client.ok(&format!("/v1/btc/cluster/{}", cluster["id"])).await;
        assert_eq!(by_id["cluster"]["id"], cluster["id"]);
        assert_eq!(page["label"]["entity"], ENTITY, "the cluster carries its tagged member's label: {page}");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_return_every_row_once_while_blocks_are_indexed() {
    const FIRST: usize = 140;
    let dir = tempfile::tempdir().unwrap();
    let chain = common::sim_chain(180, 23);
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
    common::index_blocks(&mut indexer, &chain, 0, FIRST);
    // The address paid most often before block FIRST that is paid after it too.
    let (before, after) = (common::payees(&chain, 0, FIRST), common::payees(&chain, FIRST, chain.blocks.len()));
    let (address, paid) = before.iter().filter(|(a, _)| after.contains_key(*a)).max_by_key(|(_, n)| **n).unwrap();
    assert!(*paid >= 8, "{address} is paid {paid} times before block {FIRST}");
    let server = common::Server::start(ApiState::new(dir.path(), vec![Token::new(Role::Read, SECRET).unwrap()])).await;

    // Page through the history as of block FIRST - 1, indexing two more
    // blocks before each next page.
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut indexed = FIRST;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page = server.ok(&format!("/v1/btc/address/{address}/history?limit=2{query}"), SECRET).await;
        for row in page["rows"].as_array().unwrap() {
            seen.push((row["height"].as_u64().unwrap(), row["txid"].as_str().unwrap().to_owned()));
        }
        let next = indexed + 2;
        tokio::task::block_in_place(|| common::index_blocks(&mut indexer, &chain, indexed, next));
        indexed = next;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(indexed > FIRST + 6, "{} rows: several pages were read while blocks arrived", seen.len());

    tokio::task::block_in_place(|| common::index_blocks(&mut indexer, &chain, indexed, chain.blocks.len()));
    let all = server.ok(&format!("/v1/btc/address/{address}/history?limit=10000"), SECRET).await;
    let all: Vec<(u64, String)> = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["height"].as_u64().unwrap(), row["txid"].as_str().unwrap().to_owned()))
        .collect();
    let (before, after): (Vec<_>, Vec<_>) = all.into_iter().partition(|(height, _)| *height < FIRST as u64);
    assert!(!after.is_empty(), "the blocks indexed between pages touch the address");
    assert_eq!(seen, before, "every row of the first snapshot once, newest first, none of the new ones");
    server.stop().await;
}

const ADMIN: &str = "admin-secret-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_listed_and_imported_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let chain = common::index_chain(dir.path(), 120, 4);
    let payees = common::payees(&chain, 0, chain.blocks.len());
    let addresses: Vec<&str> = payees.keys().map(String::as_str).take(30).collect();
    assert_eq!(addresses.len(), 30);
    common::import_tags(dir.path(), "mixers", "mixer", "Blender", &addresses[..10]);
    let configured = dir.path().join("configured.txt");
    std::fs::write(&configured, addresses[20..].iter().map(|a| format!("{a}\n")).collect::<String>()).unwrap();
    let config = chainsleuth_tags::TagsConfig::from_toml(&format!(
        "[tags]\nbitcoin_network = \"regtest\"\n[[tags.source]]\nname = \"desk\"\npath = {:?}\nformat = \"list\"\n\
         category = \"otc_desk\"\nentity = \"Desk\"\nevery = \"1d\"\n",
        configured.display().to_string()
    ))
    .unwrap();
    let tokens = vec![Token::new(Role::Read, SECRET).unwrap(), Token::new(Role::Admin, ADMIN).unwrap()];
    let server = common::Server::start(ApiState::new(dir.path(), tokens).with_tags_config(config)).await;

    let listing = server.ok("/v1/tags?chain=btc&limit=4", SECRET).await;
    assert_eq!(listing["tags"].as_array().unwrap().len(), 4, "{listing}");
    let next = listing["next_cursor"].as_str().unwrap();
    let rest = server.ok(&format!("/v1/tags?chain=btc&limit=100&cursor={next}"), SECRET).await;
    assert_eq!(rest["tags"].as_array().unwrap().len(), 6);
    assert_eq!(rest["next_cursor"], Value::Null);

    // An upload, as `tags import FILE --format list --source ... --category ...`.
    let list: String = addresses[10..15].iter().map(|a| format!("{a}\n")).collect();
    let upload = "/v1/tags/imports?format=list&source=uploaded&category=exchange&entity=Upload%20Exchange\
                  &btc_network=regtest";
    let answer = server.send(&Method::POST, upload, SECRET, Some(list.as_bytes())).await;
    assert_eq!((answer.status, answer.code().as_deref()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let answer = server.send(&Method::POST, upload, ADMIN, Some(list.as_bytes())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    let report = answer.json();
    assert_eq!(
        (report["source"].as_str(), report["version"].as_u64(), report["added"].as_u64()),
        (Some("uploaded"), Some(1), Some(5))
    );
    let exchanges = server.ok("/v1/tags?category=exchange", SECRET).await;
    assert_eq!(exchanges["tags"].as_array().unwrap().len(), 5);
    let by_entity = server.ok("/v1/tags?entity=upload%20exchange&chain=btc", SECRET).await;
    assert_eq!(by_entity["tags"].as_array().unwrap().len(), 5);

    // A configured source, run now by name.
    let answer = server.send(&Method::POST, "/v1/tags/imports", ADMIN, Some(br#"{"source": "desk"}"#)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    let report = answer.json();
    assert_eq!((report["outcome"].as_str(), report["added"].as_u64()), (Some("imported"), Some(10)), "{report}");
    let sources = server.ok("/v1/tags/sources", SECRET).await;
    let names: BTreeSet<&str> = sources.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["mixers", "uploaded", "desk"]));

    for (method, path, body, status, code, field) in [
        (Method::GET, "/v1/tags?category=casino", None, StatusCode::BAD_REQUEST, "invalid_category", "category"),
        (Method::GET, "/v1/tags?chain=b%20c", None, StatusCode::BAD_REQUEST, "invalid_chain", "chain"),
        (Method::GET, "/v1/tags?limit=1001", None, StatusCode::BAD_REQUEST, "invalid_limit", "limit"),
        (
            Method::GET,
            "/v1/tags?chain=eth&cursor=0362746300",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "cursor",
        ),
        (
            Method::POST,
            "/v1/tags/imports",
            Some(&br#"{"source": "nowhere"}"#[..]),
            StatusCode::NOT_FOUND,
            "unknown_source",
            "source",
        ),
        (Method::POST, "/v1/tags/imports", Some(&b"{"[..]), StatusCode::BAD_REQUEST, "invalid_body", "body"),
        (
            Method::POST,
            "/v1/tags/imports?format=yaml&source=x",
            Some(&b"a"[..]),
            StatusCode::BAD_REQUEST,
            "invalid_format",
            "format",
        ),
        (
            Method::POST,
            "/v1/tags/imports?format=list&source=x",
            Some(&b"not-an-address\n"[..]),
            StatusCode::BAD_REQUEST,
            "invalid_file",
            "body",
        ),
        (
            Method::POST,
            "/v1/tags/imports?format=list",
            Some(&b"a"[..]),
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "source",
        ),
        (
            Method::POST,
            "/v1/tags/imports?category=exchange",
            Some(&br#"{"source": "desk"}"#[..]),
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "category",
        ),
    ] {
        let answer = server.send(&method, path, ADMIN, body).await;
        let message = answer.json()["message"].as_str().unwrap_or_default().to_owned();
        assert_eq!((answer.status, answer.code().as_deref()), (status, Some(code)), "{method} {path}: {message}");
        assert!(message.starts_with(&format!("{field}: ")), "{method} {path}: {message}");
    }
    assert_eq!(server.ok("/v1/tags/sources", SECRET).await.as_array().unwrap().len(), 3, "failed imports add nothing");
    server.stop().await;
}
