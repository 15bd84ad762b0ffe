//! `chainsleuth tokens` and `chainsleuth audit` end to end: tokens made,
//! listed and revoked by the CLI while a `serve` process runs and picks the
//! changes up without a restart; the audit log read beside the server and
//! complete after it stops.

mod common;

use std::time::{Duration, Instant};

use common::{http_get, run, run_err, run_ok, serve};
use serde_json::Value;

/// Waits (up to 5 s) until `GET /v1/status` with `secret` answers `status`.
fn until_status(addr: &str, secret: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (got, body) = http_get(addr, "/v1/status", secret);
        if got == status {
            return;
        }
        assert!(Instant::now() < deadline, "still {got} after 5 s, wanted {status}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn audit(data: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str::<Vec<Value>>(&run_ok(data, &all)).unwrap()
}

#[test]
fn tokens_are_created_listed_and_revoked_while_serve_runs_and_the_audit_log_follows() {
    let dir = tempfile::tempdir().unwrap();
    let data = &dir.path().join("data");
    assert!(run_ok(data, &["tokens", "list"]).contains("no tokens"));

    let out = run(data, &["tokens", "create", "--role", "read", "--name", "analyst"]);
    assert!(out.status.success());
    let analyst = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(analyst.starts_with("cs_") && analyst.len() >= 3 + 22, "{analyst}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not shown again"));
    let err = run_err(data, &["tokens", "create", "--role", "admin", "--name", "analyst"]);
    assert!(err.contains("\"analyst\" is taken"), "{err}");
    let err = run_err(data, &["tokens", "create", "--role", "root", "--name", "x"]);
    assert!(err.contains("root"), "{err}");
    let stored = std::fs::read_to_string(data.join("tokens.json")).unwrap();
    assert!(!stored.contains(&analyst[3..]), "only the hash is stored");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(data.join("tokens.json")).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let server = serve(data);
    let addr = server.addr.clone();
    assert_eq!(http_get(&addr, "/v1/status", &analyst).0, 200);

    // A token made while the server runs works without a restart.
    let late = run_ok(data, &["tokens", "create", "--role", "admin", "--name", "late"]).trim().to_owned();
    until_status(&addr, &late, 200);
    let list: Vec<Value> = serde_json::from_str(&run_ok(data, &["tokens", "list", "--json"])).unwrap();
    assert_eq!(
        list.iter().map(|t| (t["name"].as_str().unwrap(), t["role"].as_str().unwrap())).collect::<Vec<_>>(),
        [("analyst", "read"), ("late", "admin")]
    );
    assert!(list.iter().all(|t| t["revoked"].is_null() && t["created"].as_str().is_some_and(|c| c.ends_with('Z'))));
    let listed = run_ok(data, &["tokens", "list"]) + &serde_json::to_string(&list).unwrap();
    assert!(!listed.contains(&analyst) && !listed.contains(&late), "list never shows secrets");

    // A revoked one stops working without a restart.
    run_ok(data, &["tokens", "revoke", "analyst"]);
    until_status(&addr, &analyst, 401);
    assert!(run_err(data, &["tokens", "revoke", "analyst"]).contains("already revoked"));
    assert!(run_err(data, &["tokens", "revoke", "nobody"]).contains("no token named"));
    let table = run_ok(data, &["tokens", "list"]);
    let analyst_row = table.lines().find(|l| l.starts_with("analyst")).unwrap();
    assert!(analyst_row.trim_end().ends_with('Z'), "the revocation time is listed: {table}");

    // The audit log, read while the server runs.
    let (status, _) = http_get(&addr, "/v1/tags/sources?secret=cs_abc&limit=5", &late);
    let records = audit(data, &["--token", "late"]);
    assert!(!records.is_empty(), "the server's records are readable beside it");
    assert!(records.iter().all(|r| r["token"] == "late"));
    let last = records.last().unwrap();
    assert_eq!((last["path"].as_str(), last["status"].as_u64()), (Some("/v1/tags/sources"), Some(u64::from(status))));
    assert_eq!(last["query"], "secret=[redacted]&limit=5");
    let all = audit(data, &[]);
    assert!(all.iter().any(|r| r["token"] == "analyst" && r["status"] == 200));
    assert!(all.iter().any(|r| r["token"].is_null() && r["status"] == 401), "the refused requests are there");

    // Requests made just before the stop are all written by the time it exits.
    let before = audit(data, &[]).len();
    for _ in 0..20 {
        assert_eq!(http_get(&addr, "/v1/status", &late).0, 200);
    }
    let (exit, log) = server.stop();
    assert_eq!(exit.code(), Some(0), "{log}");
    assert!(!log.contains(&late[3..]) && !log.contains(&analyst[3..]), "no secret in the log");
    let after = audit(data, &[]);
    assert_eq!(after.len(), before + 20);
    let since = audit(data, &["--since", "1h"]);
    assert_eq!(since.len(), after.len());
    assert!(audit(data, &["--since", "2000-01-01T00:00:00Z", "--limit", "3"]).len() == 3);
    let text = run_ok(data, &["audit", "--token", "late", "--limit", "1"]);
    assert!(text.contains(" late ") && text.contains("/v1/status"), "{text}");
}
