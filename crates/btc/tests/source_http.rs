//! The REST and JSON-RPC sources against the Core mock over real loopback
//! HTTP: serving a simulated chain, authentication, reorgs, and every fault
//! the sync loop must tell apart (retry or stop).

use std::sync::Arc;
use std::time::Duration;

use bitcoin::Block;
use chainsleuth_btc::sim::{build_chain, SimChain, SimConfig};
use chainsleuth_btc::source::{BtcSourceError, HttpOptions, RestConfig, RestSource, RpcAuth, RpcConfig, RpcSource};
use chainsleuth_btc::testnode::{CoreMock, MockOptions};
use chainsleuth_btc::{to_core_hash, BtcBlock};
use chainsleuth_core::Height;
use chainsleuth_sync::{BlockSource, RetryPolicy, SourceError};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

fn sim() -> SimChain {
    build_chain(&SimConfig { blocks: 130, seed: 11, txs_per_block: 4, ..SimConfig::default() })
}

fn options(timeout: Duration) -> HttpOptions {
    HttpOptions { connect_timeout: Duration::from_secs(2), request_timeout: timeout, max_parallel: 4 }
}

fn user_pass_mock(chain: &[Block]) -> CoreMock {
    let options = MockOptions { user_pass: Some((USER.into(), PASSWORD.into())), ..MockOptions::default() };
    CoreMock::start(chain.to_vec(), options).expect("start mock")
}

fn rpc(mock: &CoreMock, auth: RpcAuth, timeout: Duration) -> RpcSource {
    RpcSource::new(&RpcConfig { url: mock.url(), auth, http: options(timeout) }).expect("rpc source")
}

fn user_pass() -> RpcAuth {
    RpcAuth::UserPass { user: USER.into(), password: PASSWORD.into() }
}

fn rest(mock: &CoreMock, timeout: Duration) -> RestSource {
    RestSource::new(&RestConfig { url: mock.url(), http: options(timeout) }).expect("rest source")
}

/// Checks that `source` serves exactly `chain`, fetching blocks eight at a
/// time in parallel as the sync loop does.
async fn assert_serves<S>(source: Arc<S>, chain: &[Block])
where
    S: BlockSource<Block = BtcBlock, Error = BtcSourceError>,
{
    let tip = source.tip().await.expect("tip");
    assert_eq!(tip.height, Height::new(chain.len() as u64 - 1));
    assert_eq!(tip.hash, to_core_hash(chain[chain.len() - 1].block_hash()));
    for start in (0..chain.len()).step_by(8) {
        let mut tasks = tokio::task::JoinSet::new();
        for h in start..(start + 8).min(chain.len()) {
            let source = Arc::clone(&source);
            tasks.spawn(async move { (h, source.block_at(Height::new(h as u64)).await) });
        }
        while let Some(joined) = tasks.join_next().await {
            let (h, block) = joined.expect("task");
            let block = block.expect("block");
            assert_eq!(block.block, chain[h], "block {h}");
            assert_eq!(block.height, Height::new(h as u64));
        }
    }
    for h in [0, chain.len() / 2, chain.len() - 1] {
        let hash = source.hash_at(Height::new(h as u64)).await.expect("hash");
        assert_eq!(hash, Some(to_core_hash(chain[h].block_hash())), "hash {h}");
    }
    let above = Height::new(chain.len() as u64);
    assert_eq!(source.hash_at(above).await.expect("hash above tip"), None);
    let err = source.block_at(above).await.expect_err("block above tip");
    assert!(matches!(err, BtcSourceError::AboveTip { .. }), "{err}");
}

#[tokio::test]
async fn rest_serves_the_chain_and_follows_a_reorg() {
    let chain = sim();
    let mock = CoreMock::start(chain.blocks.clone(), MockOptions::default()).expect("start mock");
    let source = Arc::new(rest(&mock, Duration::from_secs(10)));
    assert!(source.describe().contains(&mock.url()), "{}", source.describe());
    assert_serves(Arc::clone(&source), &chain.blocks).await;

    let winner = chain.with_branch(Height::new(120), 14, 5);
    mock.set_chain(winner.blocks.clone());
    assert_serves(source, &winner.blocks).await;
}

#[tokio::test]
async fn rpc_with_user_and_password_serves_the_chain_and_batches_hash_lookups() {
    let chain = sim();
    let mock = user_pass_mock(&chain.blocks);
    let source = Arc::new(rpc(&mock, user_pass(), Duration::from_secs(10)));
    let describe = source.describe();
    assert!(describe.contains(&mock.url()) && !describe.contains(PASSWORD), "{describe}");
    assert_serves(Arc::clone(&source), &chain.blocks).await;

    // One getblock per block, and the hashes in batches of up to 32.
    source.tip().await.expect("tip");
    let before = mock.requests();
    for h in 0..chain.blocks.len() {
        source.block_at(Height::new(h as u64)).await.expect("block");
    }
    let used = mock.requests() - before;
    let blocks = chain.blocks.len() as u64;
    assert!(used <= blocks + blocks.div_ceil(32), "{used} requests for {blocks} blocks");

    let winner = chain.with_branch(Height::new(125), 9, 3);
    mock.set_chain(winner.blocks.clone());
    assert_serves(source, &winner.blocks).await;
}

#[tokio::test]
async fn rpc_cookie_auth_survives_a_node_restart() {
    let chain = sim();
    let dir = tempfile::tempdir().expect("tempdir");
    let options = MockOptions { cookie_dir: Some(dir.path().to_owned()), ..MockOptions::default() };
    let mock = CoreMock::start(chain.blocks[..20].to_vec(), options).expect("start mock");
    let cookie = mock.cookie_path().expect("cookie written").to_owned();
    let source = rpc(&mock, RpcAuth::Cookie(cookie.clone()), Duration::from_secs(10));
    assert_eq!(source.tip().await.expect("tip").height, Height::new(19));

    mock.rotate_cookie().expect("new cookie");
    mock.push_block(chain.blocks[20].clone());
    assert_eq!(source.tip().await.expect("tip with the new cookie").height, Height::new(20));
    let block = source.block_at(Height::new(20)).await.expect("block");
    assert_eq!(block.block, chain.blocks[20]);

    drop(mock);
    assert!(!cookie.exists(), "the mock removes its cookie when it stops");
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_final_401() {
    let chain = sim();
    let mock = user_pass_mock(&chain.blocks[..5]);
    let wrong = RpcAuth::UserPass { user: USER.into(), password: "hunter2".into() };
    let err = rpc(&mock, wrong, Duration::from_secs(10)).tip().await.expect_err("bad password");
    assert_eq!(err.to_string(), format!("401 Unauthorized from {}: check --rpc-user/--rpc-password", mock.url()));
    assert!(!err.is_retryable());
    assert!(!format!("{err:?}").contains("hunter2"));

    let dir = tempfile::tempdir().expect("tempdir");
    let stale_cookie = dir.path().join(".cookie");
    std::fs::write(&stale_cookie, "__cookie__:0011").expect("write cookie");
    let err = rpc(&mock, RpcAuth::Cookie(stale_cookie), Duration::from_secs(10)).tip().await.expect_err("bad cookie");
    assert!(matches!(err, BtcSourceError::Auth { .. }) && err.to_string().contains("--rpc-cookie"), "{err}");

    let missing = dir.path().join("missing/.cookie");
    let err =
        RpcSource::new(&RpcConfig { url: mock.url(), auth: RpcAuth::Cookie(missing), http: HttpOptions::default() })
            .expect_err("no cookie file");
    assert!(err.to_string().contains("missing/.cookie"), "{err}");

    let err = RpcSource::new(&RpcConfig {
        url: format!("http://{USER}:{PASSWORD}@{}/", mock.addr()),
        auth: user_pass(),
        http: HttpOptions::default(),
    })
    .expect_err("credentials in the URL");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
}

#[tokio::test]
async fn server_errors_are_retryable_and_retries_succeed_once_the_node_recovers() {
    let chain = sim();
    let mock = user_pass_mock(&chain.blocks[..40]);
    let rpc_source = rpc(&mock, user_pass(), Duration::from_secs(10));
    let rest_source = rest(&mock, Duration::from_secs(10));
    let retry = RetryPolicy {
        attempts: Some(5),
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };

    mock.fail_next(1, 500);
    let err = rpc_source.tip().await.expect_err("injected 500");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().starts_with(&format!("500 Internal Server Error from {}", mock.url())), "{err}");

    mock.fail_next(3, 502);
    let block = retry.run("block", || rpc_source.block_at(Height::new(30))).await.expect("after retries");
    assert_eq!(block.block, chain.blocks[30]);

    mock.fail_next(3, 503);
    let block = retry.run("block", || rest_source.block_at(Height::new(31))).await.expect("after retries");
    assert_eq!(block.block, chain.blocks[31]);

    mock.set_warmup(Some("Loading block index…"));
    let err = rpc_source.tip().await.expect_err("warming up");
    assert!(matches!(err, BtcSourceError::Rpc { code: -28, .. }) && err.is_retryable(), "{err}");
    assert!(err.to_string().contains("Loading block index"), "{err}");
    let err = rest_source.tip().await.expect_err("warming up");
    assert!(err.is_retryable() && err.to_string().contains("503 Service Unavailable"), "{err}");
    mock.set_warmup(None);
    assert_eq!(rest_source.tip().await.expect("warmed up").height, Height::new(39));

    // Retries give up after the policy's attempts.
    mock.fail_next(10, 500);
    assert!(retry.run("tip", || rpc_source.tip()).await.is_err());
}

#[tokio::test]
async fn garbage_answers_are_clear_final_errors() {
    let chain = sim();
    let mock = user_pass_mock(&chain.blocks[..10]);
    let rpc_source = rpc(&mock, user_pass(), Duration::from_secs(10));
    let rest_source = rest(&mock, Duration::from_secs(10));

    mock.garbage_next(1);
    let err = rpc_source.tip().await.expect_err("garbage");
    assert!(matches!(err, BtcSourceError::Malformed { .. }) && !err.is_retryable(), "{err}");
    assert!(err.to_string().starts_with(&format!("malformed response from {}: not a JSON-RPC response", mock.url())));

    mock.garbage_next(1);
    let err = rpc_source.block_at(Height::new(3)).await.expect_err("garbage batch");
    assert!(matches!(err, BtcSourceError::Malformed { .. }), "{err}");

    mock.garbage_next(1);
    let err = rest_source.tip().await.expect_err("garbage chaininfo");
    assert!(err.to_string().contains("chaininfo.json"), "{err}");

    mock.garbage_next(1);
    let err = rest_source.hash_at(Height::new(2)).await.expect_err("garbage hash");
    assert!(err.to_string().contains("32-byte block hash"), "{err}");

    // The hash comes through; the block is garbage.
    mock.pass_next(1);
    mock.garbage_next(1);
    let err = rest_source.block_at(Height::new(4)).await.expect_err("garbage block");
    assert!(matches!(err, BtcSourceError::Decode { .. }) && !err.is_retryable(), "{err}");
    assert!(err.to_string().starts_with(&format!("invalid block from {}rest/block/", mock.url())), "{err}");

    rpc_source.tip().await.expect("tip");
    mock.pass_next(1);
    mock.garbage_next(1);
    let err = rpc_source.block_at(Height::new(4)).await.expect_err("garbage getblock");
    assert!(matches!(err, BtcSourceError::Malformed { .. }) && !err.is_retryable(), "{err}");

    // Passed requests get the real answers.
    mock.pass_next(2);
    assert_eq!(rpc_source.block_at(Height::new(5)).await.expect("block").block, chain.blocks[5]);
}

#[tokio::test]
async fn slow_nodes_time_out_retryably_and_dead_ones_refuse() {
    let chain = sim();
    let mock = user_pass_mock(&chain.blocks[..10]);
    let source = rpc(&mock, user_pass(), Duration::from_millis(200));
    mock.set_delay(Duration::from_millis(1_000));
    let err = source.tip().await.expect_err("too slow");
    assert!(matches!(err, BtcSourceError::Timeout { .. }) && err.is_retryable(), "{err}");
    assert_eq!(err.to_string(), format!("request to {} timed out", mock.url()));
    mock.set_delay(Duration::ZERO);
    assert_eq!(source.tip().await.expect("fast again").height, Height::new(9));

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let dead =
        RestSource::new(&RestConfig { url: format!("http://127.0.0.1:{port}"), http: options(Duration::from_secs(2)) })
            .expect("rest source");
    let err = dead.tip().await.expect_err("nothing listens");
    assert!(matches!(err, BtcSourceError::Connect { .. }) && err.is_retryable(), "{err}");
    assert!(err.to_string().starts_with(&format!("cannot connect to http://127.0.0.1:{port}/")), "{err}");
}

#[tokio::test]
async fn the_mock_answers_in_cores_shapes() {
    let chain = sim();
    let mock = user_pass_mock(&chain.blocks[..10]);
    let client = reqwest::Client::new();
    let url = mock.url();

    let reply = client.post(&url).body("{}").send().await.expect("send");
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Basic realm=\"jsonrpc\""));

    let call = |body: &'static str| client.post(&url).basic_auth(USER, Some(PASSWORD)).body(body).send();
    let reply = call("{not json").await.expect("send");
    assert_eq!(reply.status(), 500);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(body["error"]["code"], -32700);

    let reply = call(r#"{"jsonrpc":"1.0","id":7,"method":"nosuchmethod","params":[]}"#).await.expect("send");
    assert_eq!(reply.status(), 404);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!((body["error"]["code"].clone(), body["id"].clone()), (serde_json::json!(-32601), serde_json::json!(7)));

    let reply = call(r#"{"jsonrpc":"1.0","id":"x","method":"getblockhash","params":[99]}"#).await.expect("send");
    assert_eq!(reply.status(), 500);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(body["error"]["code"], -8);
    assert_eq!(body["result"], serde_json::Value::Null);

    let reply = call(r#"{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[99]}"#).await.expect("send");
    assert_eq!(reply.status(), 200, "Core 28+ answers JSON-RPC 2.0 errors with 200");

    let reply =
        call(r#"[{"id":1,"method":"getblockcount"},{"id":2,"method":"getbestblockhash"}]"#).await.expect("send");
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(body[0]["result"], 9);
    assert_eq!(body[1]["result"], chain.blocks[9].block_hash().to_string());

    let get = |path: String| client.get(format!("{url}{path}")).send();
    let reply = get("rest/blockhashbyheight/99.bin".into()).await.expect("send");
    assert_eq!(reply.status(), 404);
    assert_eq!(reply.text().await.expect("text"), "Block height out of range\r\n");
    let reply = get("rest/blockhashbyheight/3.json".into()).await.expect("send");
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(body["blockhash"], chain.blocks[3].block_hash().to_string());
    let reply = get(format!("rest/block/{}.hex", chain.blocks[3].block_hash())).await.expect("send");
    let hex_block = reply.text().await.expect("text");
    assert_eq!(hex_block.trim_end(), hex::encode(bitcoin::consensus::serialize(&chain.blocks[3])));
    let reply = get("rest/chaininfo.json".into()).await.expect("send");
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!((body["chain"].as_str(), body["blocks"].as_u64()), (Some("regtest"), Some(9)));
    assert_eq!(get("nowhere".into()).await.expect("send").status(), 404);
}
