//! Bad input from the node: an RPC that is down, answers HTTP 500, returns
//! malformed JSON, or lacks the trace method. A loopback proxy in front of
//! anvil injects the faults. Each gets a clear error (and retries where
//! retrying may help) and leaves the store at a whole block.

mod common;

use std::error::Error;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chainsleuth_core::Height;
use chainsleuth_eth::{EthQuery, TraceMode};
use chainsleuth_sync::{RetryPolicy, SyncOptions};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FORWARD: u8 = 0;
const STATUS_500: u8 = 1;
const GARBAGE: u8 = 2;
const NO_TRACES: u8 = 3;

/// A loopback HTTP proxy to anvil that injects faults: `mode` says which,
/// and after `switch_after` requests it turns into `then`.
struct Proxy {
    url: String,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(mut stream: TcpStream, upstream: String, mode: u8) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                .unwrap_or(0);
            break (pos + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    let (status, reply) = match mode {
        STATUS_500 => ("500 Internal Server Error", "upstream exploded".to_owned()),
        GARBAGE => ("200 OK", "{\"jsonrpc\":\"2.0\",\"result\":[tru".to_owned()),
        _ => {
            let body =
                if mode == NO_TRACES { body.replace("debug_traceBlockByHash", "debug_noSuchMethod") } else { body };
            let answer = reqwest::Client::new()
                .post(&upstream)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(std::io::Error::other)?;
            ("200 OK", answer.text().await.map_err(std::io::Error::other)?)
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

async fn proxy(upstream: &str, mode: u8, switch_after: u64, then: u8) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU64::new(0));
    let current = Arc::new(AtomicU8::new(mode));
    let upstream = upstream.to_owned();
    let counter = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            if n > switch_after {
                current.store(then, Ordering::SeqCst);
            }
            tokio::spawn(handle(stream, upstream.clone(), current.load(Ordering::SeqCst)));
        }
    });
    Proxy { url, requests, task }
}

fn chain_text(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn quick_retries(attempts: u32) -> SyncOptions {
    SyncOptions {
        fetch_concurrency: 2,
        retry: RetryPolicy {
            attempts: Some(attempts),
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        },
        ..SyncOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_faults_get_clear_errors_retries_and_whole_blocks() {
    let node = Anvil::start(15).await;
    let accounts = node.accounts().await;
    let c = deploy(&node, &accounts).await;
    workload(&node, &accounts, c, 6, 30, 11).await;
    let tip = node.height().await;

    let clean_dir = tempfile::tempdir().unwrap();
    let clean = open_store(clean_dir.path());
    index(&clean, source_config(&node.url, TraceMode::Debug, c.weth), &quick_retries(3)).await.unwrap();

    // Down: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let url = format!("http://{closed}/v3/SECRETKEY");
    let err = index(&store, source_config(&url, TraceMode::Debug, c.weth), &quick_retries(3)).await.unwrap_err();
    let text = chain_text(&err);
    assert!(text.contains("connection failed"), "{text}");
    assert!(!text.contains("SECRETKEY"), "credentials leak: {text}");
    assert!(store.tip().unwrap().is_none());

    // HTTP 500 for the first requests: retried, then indexed as if clean.
    let flaky = proxy(&node.url, STATUS_500, 4, FORWARD).await;
    index(&store, source_config(&flaky.url, TraceMode::Debug, c.weth), &quick_retries(8)).await.unwrap();
    assert_eq!(store.digest().unwrap(), clean.digest().unwrap());
    drop(flaky);

    // HTTP 500 for good: a clear error after the retries.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let broken = proxy(&node.url, STATUS_500, 0, STATUS_500).await;
    let err = index(&store, source_config(&broken.url, TraceMode::Debug, c.weth), &quick_retries(3)).await.unwrap_err();
    assert!(chain_text(&err).contains("HTTP status 500"), "{}", chain_text(&err));
    assert!(broken.requests.load(Ordering::SeqCst) >= 3, "retried");
    drop(broken);

    // Malformed JSON in the middle of the sync: the store stops at a whole
    // block, the same as a clean index stopped there.
    let garbled = proxy(&node.url, FORWARD, 9, GARBAGE).await;
    let err =
        index(&store, source_config(&garbled.url, TraceMode::Debug, c.weth), &quick_retries(3)).await.unwrap_err();
    assert!(chain_text(&err).contains("malformed answer"), "{}", chain_text(&err));
    drop(garbled);
    let reached = store.tip().unwrap().map(|t| t.height.get());
    assert!(reached.is_some_and(|h| h < tip), "{reached:?}");
    let partial_dir = tempfile::tempdir().unwrap();
    let partial = open_store(partial_dir.path());
    let upto = SyncOptions { stop_at: reached.map(Height::new), ..quick_retries(3) };
    index(&partial, source_config(&node.url, TraceMode::Debug, c.weth), &upto).await.unwrap();
    assert_eq!(store.digest().unwrap(), partial.digest().unwrap());
    // And a restart from that tip finishes like a clean run.
    index(&store, source_config(&node.url, TraceMode::Debug, c.weth), &quick_retries(3)).await.unwrap();
    assert_eq!(store.digest().unwrap(), clean.digest().unwrap());

    // A node without debug_traceBlockByHash: indexed without internal
    // transfers, and the status says so.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let no_traces = proxy(&node.url, NO_TRACES, u64::MAX, NO_TRACES).await;
    index(&store, source_config(&no_traces.url, TraceMode::Debug, c.weth), &quick_retries(3)).await.unwrap();
    let status = EthQuery::new(&store).status().unwrap();
    assert_eq!(status.internal_transfers.as_deref(), Some("unavailable"));
    assert!(status.traces_unavailable_since.is_some());
    assert_eq!(status.tip.unwrap().height, tip);
}
