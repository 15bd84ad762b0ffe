//! `chainsleuth serve` as a process: it answers over HTTP on the address it
//! prints, stops with exit status 0 on SIGTERM, and refuses to start
//! without tokens (`chainsleuth tokens create` makes them).

mod common;

use common::{chain_on_disk, http_get as get, run_err, run_ok, serve};

#[test]
fn serve_answers_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (blocks, data) = (dir.path().join("blocks"), dir.path().join("data"));
    let chain = chain_on_disk(&blocks, 12, 4, 3, None);
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", blocks.to_str().unwrap()]);
    let secret = run_ok(&data, &["tokens", "create", "--role", "read", "--name", "serve-test"]);
    let secret = secret.trim();

    let server = serve(&data);
    let addr = server.addr.clone();

    let (status, body) = get(&addr, "/v1/status", secret);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["btc"]["tip_height"], chain.truth.tip_height.get());
    let (status, body) = get(&addr, "/v1/status", "wrong-secret-0123456789");
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run_ok(&data, &["status", "--json"])).unwrap(),
        get(&addr, "/v1/status", secret).1,
        "the API's status is the CLI's"
    );

    let (exit, rest) = server.stop();
    assert_eq!(exit.code(), Some(0), "{rest}");
    assert!(!rest.contains(secret));
}

#[test]
fn serve_refuses_to_start_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_err(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(err.contains("no API tokens") && err.contains("chainsleuth tokens create"), "{err}");
    run_ok(dir.path(), &["tokens", "create", "--role", "admin", "--name", "only"]);
    run_ok(dir.path(), &["tokens", "revoke", "only"]);
    let err = run_err(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(err.contains("no API tokens"), "a revoked token does not count: {err}");
    assert!(!dir.path().join("audit").exists(), "nothing was opened");
}
