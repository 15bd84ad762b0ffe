//! Helpers shared by the API tests: a server on loopback, requests that wait
//! out the rate limit, stores indexed from a simulated chain, and the
//! operations of the OpenAPI document.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use bitcoin::Network;
use chainsleuth_api::ApiState;
use chainsleuth_btc::sim::{build_chain, SimChain, SimConfig};
use chainsleuth_btc::{BtcBlock, BtcIndexer};
use chainsleuth_sync::{Indexer, UndoPolicy};
use chainsleuth_tags::{Defaults, Format, ImportOptions, TagStore};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every HTTP method an operation can have, as OpenAPI names them.
pub const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// A server on loopback.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// An answer: status, content type and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The error code of a JSON error body.
    pub fn code(&self) -> Option<String> {
        self.json()["code"].as_str().map(str::to_owned)
    }

    /// Whether this is the router's answer to a path or method it has no route for.
    pub fn unrouted(&self) -> bool {
        self.status == StatusCode::METHOD_NOT_ALLOWED
            || (self.status == StatusCode::NOT_FOUND && self.code().as_deref() == Some("unknown_route"))
    }
}

impl Server {
    /// Serves `state` on an OS-chosen loopback port.
    pub async fn start(state: ApiState) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(chainsleuth_api::serve(listener, state, async {
            stopped.await.ok();
        }));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Server { base, http, stop: Some(stop), task }
    }

    /// Sends `method path_and_query` with bearer `secret` and `body`; a 429
    /// is waited out (its Retry-After) and sent again, so tests see what
    /// the route answers rather than the rate limit.
    pub async fn send(&self, method: &Method, path: &str, secret: &str, body: Option<&[u8]>) -> Answer {
        for _ in 0..20 {
            let mut request = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(secret);
            if let Some(body) = body {
                request = request.body(body.to_vec());
            }
            let response = request.send().await.unwrap_or_else(|err| panic!("{method} {path}: {err}"));
            let status = response.status();
            let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
            let retry: Option<u64> = header(reqwest::header::RETRY_AFTER).and_then(|v| v.parse().ok());
            let body = response.bytes().await.unwrap_or_else(|err| panic!("{method} {path}: body: {err}")).to_vec();
            if status == StatusCode::TOO_MANY_REQUESTS {
                tokio::time::sleep(Duration::from_secs(retry.unwrap_or(1).clamp(1, 5))).await;
                continue;
            }
            return Answer { status, content_type, body };
        }
        panic!("{method} {path}: still rate limited after 20 tries");
    }

    /// A GET that must answer 200 with JSON.
    pub async fn ok(&self, path: &str, secret: &str) -> Value {
        let answer = self.send(&Method::GET, path, secret, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&answer.body));
        answer.json()
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        let result = tokio::time::timeout(Duration::from_secs(20), self.task).await.expect("the server stops in time");
        result.unwrap().unwrap();
    }
}

/// Builds a simulated chain of `blocks` blocks.
pub fn sim_chain(blocks: u32, seed: u64) -> SimChain {
    build_chain(&SimConfig { blocks, seed, txs_per_block: 8, ..SimConfig::default() })
}

/// Indexes blocks `from..to` of `chain` with `indexer`.
pub fn index_blocks(indexer: &mut BtcIndexer, chain: &SimChain, from: usize, to: usize) {
    for (height, block) in chain.blocks.iter().enumerate().take(to).skip(from) {
        let block = BtcBlock::new(chainsleuth_core::Height::new(height as u64), block.clone(), block.total_size());
        indexer.execute(&block, UndoPolicy { keep: true, prune: None }).unwrap();
    }
}

/// How many outputs of blocks `from..to` of `chain` pay each (regtest) address.
pub fn payees(chain: &SimChain, from: usize, to: usize) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for block in chain.blocks.iter().take(to).skip(from) {
        for output in block.txdata.iter().flat_map(|tx| &tx.output) {
            if let Ok(address) = bitcoin::Address::from_script(&output.script_pubkey, Network::Regtest) {
                *out.entry(address.to_string()).or_default() += 1;
            }
        }
    }
    out
}

/// Indexes the whole of a simulated chain of `blocks` blocks into `dir`.
pub fn index_chain(dir: &Path, blocks: u32, seed: u64) -> SimChain {
    let chain = sim_chain(blocks, seed);
    let mut indexer = BtcIndexer::open(dir, Network::Regtest).unwrap();
    index_blocks(&mut indexer, &chain, 0, chain.blocks.len());
    chain
}

/// Tags `addresses` (regtest) as source `source`, category `category`, entity `entity`.
pub fn import_tags(dir: &Path, source: &str, category: &str, entity: &str, addresses: &[&str]) {
    let list = dir.join(format!("{source}.txt"));
    std::fs::write(&list, addresses.iter().map(|a| format!("{a}\n")).collect::<String>()).unwrap();
    let store = TagStore::open(&TagStore::path_in(dir)).unwrap().with_network(Network::Regtest);
    let defaults =
        Defaults { category: Some(category.parse().unwrap()), entity: Some(entity.into()), ..Defaults::default() };
    store.import(&list, Format::List, source, &ImportOptions { defaults, ..ImportOptions::default() }).unwrap();
}

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The path template (`/v1/{chain}/tx/{id}`).
    pub path: String,
    /// The method, lowercase.
    pub method: String,
    /// The operation object.
    pub spec: Value,
}

impl Operation {
    /// The HTTP method.
    pub fn http_method(&self) -> Method {
        Method::from_bytes(self.method.to_uppercase().as_bytes()).unwrap()
    }

    /// The names of its parameters in `place` (`path`, `query`).
    pub fn params(&self, place: &str) -> Vec<String> {
        self.spec["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == place)
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The path with each `{param}` replaced by `value(name)`.
    pub fn fill(&self, mut value: impl FnMut(&str) -> String) -> String {
        let mut out = String::new();
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').unwrap() + open;
            out.push_str(&rest[..open]);
            out.push_str(&value(&rest[open + 1..close]));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Every operation of an OpenAPI document, in path order.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for method in METHODS {
            if let Some(spec) = item.get(method) {
                out.push(Operation { path: path.clone(), method: method.to_owned(), spec: spec.clone() });
            }
        }
    }
    out
}

/// Percent-encodes every byte of `text` but the unreserved ones.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
