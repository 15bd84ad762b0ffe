//! `chainsleuth serve` as a process: it answers over HTTP on the address it
//! prints, stops with exit status 0 on SIGTERM, and refuses to start
//! without tokens.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::{chain_on_disk, chainsleuth, run_err, run_ok};

const SECRET: &str = "serve-test-secret-0123456789";

/// One GET over a fresh connection: the status code and the body.
fn get(addr: &str, path: &str, secret: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete HTTP response");
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    (status, serde_json::from_str(body).unwrap_or_else(|err| panic!("{path}: {err}: {body}")))
}

#[test]
fn serve_answers_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (blocks, data) = (dir.path().join("blocks"), dir.path().join("data"));
    let chain = chain_on_disk(&blocks, 12, 4, 3, None);
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", blocks.to_str().unwrap()]);
    let token_file = dir.path().join("tokens");
    std::fs::write(&token_file, format!("# test\nread:{SECRET}\n")).unwrap();

    let mut child = chainsleuth()
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve exited before listening");
        if let Some(addr) = line.trim().strip_prefix("listening on http://") {
            break addr.to_owned();
        }
    };

    let (status, body) = get(&addr, "/v1/status", SECRET);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["btc"]["tip_height"], chain.truth.tip_height.get());
    let (status, body) = get(&addr, "/v1/status", "wrong-secret-0123456789");
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run_ok(&data, &["status", "--json"])).unwrap(),
        get(&addr, "/v1/status", SECRET).1,
        "the API's status is the CLI's"
    );

    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(exit.code(), Some(0), "{rest}");
    assert!(!rest.contains(SECRET));
}

#[test]
fn serve_refuses_to_start_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_err(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(err.contains("no API tokens"), "{err}");
    let empty = dir.path().join("tokens");
    std::fs::write(&empty, "# nobody yet\n").unwrap();
    let err = run_err(dir.path(), &["serve", "--listen", "127.0.0.1:0", "--token-file", empty.to_str().unwrap()]);
    assert!(err.contains("no API tokens"), "{err}");
    std::fs::write(&empty, "read:short\n").unwrap();
    let err = run_err(dir.path(), &["serve", "--listen", "127.0.0.1:0", "--token-file", empty.to_str().unwrap()]);
    assert!(err.contains("line 1") && err.contains("at least 16"), "{err}");
}
