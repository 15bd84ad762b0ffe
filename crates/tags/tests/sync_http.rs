//! A scheduled HTTP source served by a loopback server: updates on change,
//! handles 304, and a server that is down, failing or serving garbage leaves
//! the previous version active and reports the error.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chainsleuth_tags::{SyncOutcome, TagChain, TagsConfig};
use common::{eth_address, fresh_store};

/// What the server answers.
#[derive(Clone)]
enum Reply {
    /// 200 with this body and ETag, or 304 when the request's
    /// If-None-Match is that ETag.
    Body { body: String, etag: String },
    /// This status, empty body.
    Status(u16),
}

#[derive(Default)]
struct Seen {
    requests: u32,
    if_none_match: Vec<Option<String>>,
    authorization: Vec<Option<String>>,
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 that stops when dropped.
struct Server {
    port: u16,
    reply: Arc<Mutex<Reply>>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(reply: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new(reply));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (reply.clone(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve(stream, &r, &s);
                }
            }
        });
        Server { port, reply, seen, stop, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/list.csv?token=abc", self.port)
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, reply: &Mutex<Reply>, seen: &Mutex<Seen>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if line.is_empty() {
        return Ok(());
    }
    let (mut if_none_match, mut authorization) = (None, None);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "if-none-match" => if_none_match = Some(value.trim().to_owned()),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    {
        let mut seen = seen.lock().unwrap();
        seen.requests += 1;
        seen.if_none_match.push(if_none_match.clone());
        seen.authorization.push(authorization);
    }
    let reply = reply.lock().unwrap().clone();
    let mut stream = stream;
    let response = match reply {
        Reply::Body { etag, .. } if if_none_match.as_deref() == Some(etag.as_str()) => {
            format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n")
        }
        Reply::Body { body, etag } => format!(
            "HTTP/1.1 200 OK\r\nETag: {etag}\r\nLast-Modified: Tue, 01 Oct 2024 00:00:00 GMT\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Reply::Status(code) => format!("HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
    stream.write_all(response.as_bytes())?;
    stream.flush()?;
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}

fn csv(rows: &[u64]) -> String {
    let mut text = "address,name\n".to_owned();
    for n in rows {
        text.push_str(&format!("{},SDN {n}\n", eth_address(*n)));
    }
    text
}

fn config(url: &str) -> TagsConfig {
    TagsConfig::from_toml(&format!(
        r#"
        [tags]
        [[tags.source]]
        name = "remote"
        url = "{url}"
        format = "csv"
        mapping = {{ entity = "name" }}
        category = "sanctioned"
        every = "6h"
        timeout = "2s"
        retries = 2
        retry_backoff = "10ms"
        headers = {{ Authorization = "Bearer s3cret" }}
        "#
    ))
    .unwrap()
}

const HOUR: u64 = 3600;

#[test]
fn scheduled_http_source_updates_caches_and_survives_failures() {
    let (_dir, store) = fresh_store();
    let server = Server::start(Reply::Body { body: csv(&[1, 2, 3]), etag: "\"v1\"".into() });
    let cfg = config(&server.url());
    let eth = TagChain::ETH;
    let mut now = 1_700_000_000;

    // First run: imported as version 1; provenance names the URL without its query.
    let reports = store.sync_due(&cfg, now, false).unwrap();
    let SyncOutcome::Imported(report) = &reports[0].outcome else { panic!("{reports:?}") };
    assert_eq!((report.version, report.added), (1, 3));
    let tag = &store.tags_for(&eth, &eth_address(1)).unwrap()[0];
    assert_eq!(tag.record.provenance.file, format!("http://127.0.0.1:{}/list.csv?redacted", server.port));
    assert_eq!(server.seen.lock().unwrap().authorization[0].as_deref(), Some("Bearer s3cret"));

    // Not due an hour later; due after six, and the server answers 304.
    assert_eq!(store.sync_due(&cfg, now + HOUR, false).unwrap()[0].outcome, SyncOutcome::NotDue);
    now += 6 * HOUR;
    assert_eq!(store.sync_due(&cfg, now, false).unwrap()[0].outcome, SyncOutcome::NotModified);
    assert_eq!(server.seen.lock().unwrap().if_none_match.last().unwrap().as_deref(), Some("\"v1\""));

    // Changed content: version 2 retires 1 and adds 4.
    server.set(Reply::Body { body: csv(&[2, 3, 4]), etag: "\"v2\"".into() });
    now += 6 * HOUR;
    let reports = store.sync_due(&cfg, now, false).unwrap();
    let SyncOutcome::Imported(report) = &reports[0].outcome else { panic!("{reports:?}") };
    assert_eq!((report.version, report.added, report.retired, report.unchanged), (2, 1, 1, 2));
    assert!(store.tags_for(&eth, &eth_address(1)).unwrap().is_empty());

    // Garbage: the import fails, version 2 stays, the error is recorded.
    server.set(Reply::Body { body: "<html>maintenance</html>\n".into(), etag: "\"v3\"".into() });
    now += 6 * HOUR;
    let reports = store.sync_due(&cfg, now, false).unwrap();
    let SyncOutcome::Failed { error } = &reports[0].outcome else { panic!("{reports:?}") };
    assert!(error.contains("no column \"address\""), "{error}");
    let source = store.source("remote").unwrap().unwrap();
    assert_eq!(source.active_version, 2);
    let status = source.status.unwrap();
    assert_eq!((status.consecutive_failures, status.etag.as_deref()), (1, Some("\"v2\"")));
    assert!(status.last_error.unwrap().contains("no column"));

    // A failing server is retried (three requests), then reported.
    server.set(Reply::Status(503));
    let before = server.seen.lock().unwrap().requests;
    now += 6 * HOUR;
    let reports = store.sync_due(&cfg, now, false).unwrap();
    let SyncOutcome::Failed { error } = &reports[0].outcome else { panic!("{reports:?}") };
    assert!(error.contains("HTTP 503"), "{error}");
    assert!(!error.contains("token=abc"), "{error}");
    assert_eq!(server.seen.lock().unwrap().requests - before, 3);

    // The server is gone: a connection error, version 2 still active.
    let url = server.url();
    drop(server);
    now += 6 * HOUR;
    let reports = store.sync_due(&config(&url), now, false).unwrap();
    let SyncOutcome::Failed { error } = &reports[0].outcome else { panic!("{reports:?}") };
    assert!(error.contains("fetching http://127.0.0.1"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
    let source = store.source("remote").unwrap().unwrap();
    assert_eq!((source.active_version, source.status.unwrap().consecutive_failures), (2, 3));
    assert_eq!(store.tags_for(&eth, &eth_address(4)).unwrap().len(), 1);

    // Back with the same content: identical file, nothing new.
    let server = Server::start(Reply::Body { body: csv(&[2, 3, 4]), etag: "\"v2b\"".into() });
    now += 6 * HOUR;
    let reports = store.sync_due(&config(&server.url()), now, false).unwrap();
    let SyncOutcome::Imported(report) = &reports[0].outcome else { panic!("{reports:?}") };
    assert!(!report.changed);
    let status = store.run_status("remote").unwrap().unwrap();
    assert_eq!((status.consecutive_failures, status.last_error), (0, None));
}

#[test]
fn local_path_sources_and_forced_runs() {
    let (dir, store) = fresh_store();
    let path = dir.path().join("list.txt");
    std::fs::write(&path, format!("{}\n{}\n", eth_address(7), eth_address(8))).unwrap();
    let cfg = TagsConfig::from_toml(&format!(
        "[[tags.source]]\nname = \"local\"\npath = \"{}\"\nformat = \"list\"\ncategory = \"seized\"\nentity = \"Case 12\"\nevery = \"0 3 * * *\"\n",
        path.display()
    ))
    .unwrap();
    let reports = store.sync_due(&cfg, 1_700_000_000, false).unwrap();
    assert!(matches!(&reports[0].outcome, SyncOutcome::Imported(r) if r.added == 2));
    assert_eq!(store.sync_due(&cfg, 1_700_000_060, false).unwrap()[0].outcome, SyncOutcome::NotDue);
    let forced = store.sync_due(&cfg, 1_700_000_060, true).unwrap();
    assert!(matches!(&forced[0].outcome, SyncOutcome::Imported(r) if !r.changed));
}
