//! `chainsleuth demo` end to end: the binary runs the whole crackdown case
//! (Bitcoin's laundering scenario, Ethereum's crackdown on anvil, the tag
//! lists through the importer, the traces) into a temporary data
//! directory, prints a progress line per stage and the summary table, and
//! writes every report format. Its JSON reports must name every off-ramp
//! of both chains' ground truth, under every model, with the ground
//! truth's amount wherever all models must agree (single paths of fully
//! tainted funds), the mixers with what was paid into them, and what is
//! still held, freezable or already frozen. With `--serve` it then keeps
//! the API up over the case and prints a read token that opens it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

fn json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The entry of `list` (off-ramps, mixers or holders of a model) at `address`.
fn at<'a>(list: &'a Value, address: &str, what: &str) -> &'a Value {
    let found = list.as_array().unwrap().iter().find(|o| o["address"].as_str().unwrap().eq_ignore_ascii_case(address));
    found.unwrap_or_else(|| panic!("{what}: {address} not in {list}"))
}

/// An amount of a report: a number on Bitcoin, a decimal string on Ethereum.
fn amount(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("not an amount: {other}"),
    }
}

const MODELS: [&str; 4] = ["poison", "haircut", "fifo", "lifo"];

#[test]
fn demo_reports_name_every_offramp_of_both_chains_with_the_agreed_amounts() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let started = std::time::Instant::now();
    let out = common::run(&data, &["demo"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "demo failed: {}\n{stderr}\n{stdout}", out.status);
    eprintln!("demo took {:.1} s", started.elapsed().as_secs_f64());
    for n in 1..=5 {
        assert!(stderr.contains(&format!("[{n}/5] ")), "progress line {n}: {stderr}");
    }
    let reports = data.join("reports");
    assert!(stdout.contains(reports.to_str().unwrap()), "says where the reports are: {stdout}");
    for title in ["Bitcoin, BTC", "Ethereum, ETH", "Ethereum, USDTL"] {
        assert!(stdout.contains(title), "{title}: {stdout}");
    }
    assert!(stdout.contains("freezable now by the issuer"), "{stdout}");
    for stem in ["btc-BTC", "eth-ETH", "eth-USDTL"] {
        for ext in ["json", "csv", "dot", "graphml", "html"] {
            let file = reports.join(format!("{stem}.{ext}"));
            assert!(std::fs::metadata(&file).map(|m| m.len() > 100).unwrap_or(false), "{}", file.display());
        }
    }

    // Bitcoin: the laundering scenario's case.json.
    let case = json(&data.join("demo-input/btc/case.json"));
    let report = json(&reports.join("btc-BTC.json"));
    assert_eq!(report["seeds"].as_array().unwrap().len(), case["seeds"].as_array().unwrap().len());
    for model in MODELS {
        let m = &report["models"][model];
        for truth in case["offramps"].as_array().unwrap() {
            let entity = truth["entity"].as_str().unwrap();
            let mut agreed = 0u64;
            for address in truth["reached"].as_array().unwrap() {
                let o = at(&m["offramps"], address.as_str().unwrap(), &format!("btc {model} {entity}"));
                assert_eq!((&o["entity"], &o["category"]), (&truth["entity"], &truth["category"]), "{model}");
                assert_eq!(o["jurisdiction"], truth["jurisdiction"], "{model}");
                agreed += o["amount"].as_u64().unwrap();
            }
            assert_eq!(agreed, truth["agreed_amount"].as_u64().unwrap(), "btc {model}: {entity}");
        }
        let mixer = &case["mixer"];
        let paid: u64 = mixer["payments"].as_array().unwrap().iter().map(|p| p["value"].as_u64().unwrap()).sum();
        let flagged = at(&m["mixers"], mixer["address"].as_str().unwrap(), "btc mixer");
        assert_eq!(flagged["amount"].as_u64(), Some(paid), "btc {model}");
        let mut unspent: BTreeMap<&str, u64> = BTreeMap::new();
        for coin in case["unspent"].as_array().unwrap() {
            *unspent.entry(coin["address"].as_str().unwrap()).or_default() += coin["value"].as_u64().unwrap();
        }
        for (address, value) in unspent {
            let held = at(&m["holders"], address, "btc held");
            assert_eq!(held["amount"].as_u64(), Some(value), "btc {model}: {held}");
        }
    }

    // Ethereum: the crackdown's case.json, traced once in ETH, once in the token.
    let case = json(&data.join("demo-input/eth/case.json"));
    let token = case["token"]["address"].as_str().unwrap();
    assert_eq!(
        case["offramps"].as_array().unwrap().len(),
        24 + 3 + 1,
        "24 platforms, 3 exchanges, the cash-out network"
    );
    let mut checked = 0;
    for (asset, file) in [("ETH", "eth-ETH.json"), (token, "eth-USDTL.json")] {
        let report = json(&reports.join(file));
        assert_eq!(report["seeds"].as_array().unwrap().len(), case["seeds"].as_array().unwrap().len());
        for model in MODELS {
            let m = &report["models"][model];
            let what = |entity: &str| format!("eth {asset} {model} {entity}");
            for truth in case["offramps"].as_array().unwrap() {
                let entity = truth["entity"].as_str().unwrap();
                for reach in truth["reached"].as_array().unwrap().iter().filter(|r| r["asset"] == asset) {
                    let o = at(&m["offramps"], reach["address"].as_str().unwrap(), &what(entity));
                    assert_eq!(amount(&o["amount"]), reach["amount"].as_str().unwrap(), "{}: {o}", what(entity));
                    assert_eq!((&o["entity"], &o["category"]), (&truth["entity"], &truth["category"]));
                    assert_eq!(
                        (&o["jurisdiction"], &o["licensed_by"]),
                        (&truth["jurisdiction"], &truth["licensed_by"])
                    );
                    if let Some(hot) = reach["deposit_of"].as_str() {
                        assert_eq!(o["inferred"]["rule"], "deposit_address", "{}: {o}", what(entity));
                        assert!(o["inferred"]["via"].as_str().unwrap().eq_ignore_ascii_case(hot), "{o}");
                    }
                    checked += 1;
                }
            }
            for reach in case["mixer"]["reached"].as_array().unwrap().iter().filter(|r| r["asset"] == asset) {
                let paid: u128 = case["mixer"]["reached"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["address"] == reach["address"] && r["asset"] == asset)
                    .map(|r| r["amount"].as_str().unwrap().parse::<u128>().unwrap())
                    .sum();
                let flagged = at(&m["mixers"], reach["address"].as_str().unwrap(), &what("mixer"));
                assert_eq!(amount(&flagged["amount"]), paid.to_string(), "{}", what("mixer"));
            }
            for h in case["held"].as_array().unwrap().iter().filter(|h| h["asset"] == asset) {
                let held = at(&m["holders"], h["address"].as_str().unwrap(), &what("held"));
                assert_eq!(amount(&held["amount"]), h["amount"].as_str().unwrap(), "{}: {held}", what("held"));
                assert_eq!(held["freezable"], h["freezable"], "{}: {held}", what("held"));
                assert_eq!(held["frozen"].is_string(), h["frozen"].as_bool().unwrap(), "{}: {held}", what("held"));
            }
        }
    }
    assert!(checked >= 4 * 10, "the case has agreed flows in both assets: {checked}");

    // The data directory is a normal one afterwards.
    let status: Value = serde_json::from_str(&common::run_ok(&data, &["status", "--json"])).unwrap();
    assert_eq!(status["btc"]["clustered_height"], 130 - 6, "{status}");
    // A second demo refuses to mix its case into it.
    let err = common::run_err(&data, &["demo"]);
    assert!(err.contains("new or empty directory"), "{err}");
}

/// A child process killed when dropped, also when the test fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads lines from `from` until one contains `marker`; returns that line.
fn line_with(from: &mut impl std::io::BufRead, marker: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(from.read_line(&mut line).unwrap() > 0, "the demo ended before printing {marker:?}");
        if line.contains(marker) {
            return line;
        }
    }
}

#[test]
fn demo_serve_keeps_the_api_up_over_the_case_with_a_printed_read_token() {
    use std::io::BufReader;
    use std::process::Stdio;

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let child = common::chainsleuth()
        .arg("--data-dir")
        .arg(&data)
        .args(["demo", "--serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let token = line_with(&mut stdout, "Read token (shown once): ");
    let token = token.trim().rsplit(' ').next().unwrap().to_owned();
    let listening = line_with(&mut stderr, "listening on http://");
    let addr = listening.trim().rsplit("http://").next().unwrap();

    let (status, body) = common::http_get(addr, "/v1/status", &token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["btc"]["tip_height"], 130, "{body}");
    assert!(body["eth"]["tip"]["height"].as_u64().unwrap() > 0, "{body}");
    let (status, _) = common::http_get(addr, "/v1/status", "cs_not-the-token-at-all-0000000000000000000");
    assert_eq!(status, 401, "only the printed token opens it");
}
