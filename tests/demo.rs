//! `chainsleuth demo` end to end: the binary runs the whole crackdown case
//! (Bitcoin's laundering scenario, Ethereum's crackdown on anvil, the tag
//! lists through the importer, the traces) into a temporary data
//! directory, prints a progress line per stage and the summary table, and
//! writes every report format. Its JSON reports must name every off-ramp
//! of both chains' ground truth, under every model, with the ground
//! truth's amount wherever all models must agree (single paths of fully
//! tainted funds), the mixers with what was paid into them, and what is
//! still held, freezable or already frozen. On its data directory the
//! tables for people line up (18-decimal ETH included), `exposure` names its
//! unit, and a store that cannot be read is reported naming its path and
//! reason once. With `--serve` it then keeps the API up over the case and
//! prints a read token that opens it.

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

    // The summary's columns follow their widest cell, 18-decimal ETH included.
    for section in stdout.split("\n\n").filter(|s| s.contains(" seized wallets traced")) {
        let table: Vec<&str> = section.lines().skip_while(|l| !l.contains(" seized wallets traced")).skip(1).collect();
        assert!(same_width(&table), "the summary's columns do not line up:\n{section}");
    }

    // The data directory is a normal one afterwards.
    let status: Value = serde_json::from_str(&common::run_ok(&data, &["status", "--json"])).unwrap();
    assert_eq!(status["btc"]["clustered_height"], 130 - 6, "{status}");
    tables_line_up_and_exposure_names_its_unit(&data);
    store_errors_name_their_context_once(&data, work.path());
    // A second demo refuses to mix its case into it.
    let err = common::run_err(&data, &["demo"]);
    assert!(err.contains("new or empty directory"), "{err}");
}

/// Whether every line has as many characters as the first: true of a table
/// whose last column is right-aligned and whose columns fit their cells.
fn same_width(lines: &[&str]) -> bool {
    lines.len() > 1 && lines.iter().all(|l| l.chars().count() == lines[0].chars().count())
}

/// The character column where `needle` starts in `line`.
fn column(line: &str, needle: &str) -> Option<usize> {
    line.find(needle).map(|at| line[..at].chars().count())
}

/// The trace table's columns stay aligned with 18-decimal ETH amounts, and
/// `exposure` shows amounts in the asset's unit with the exact integer in
/// the smallest unit beside the total; its JSON keeps the integers and adds
/// the asset and unit.
fn tables_line_up_and_exposure_names_its_unit(data: &Path) {
    let trace = ["trace", "--seed-tag", "category=seized", "--chain", "eth", "--model", "haircut", "--format"];
    let table = common::run_ok(data, &[&trace[..], &["table"]].concat());
    let header = table.lines().find(|l| l.starts_with("entity ")).unwrap_or_else(|| panic!("{table}"));
    let (amount_end, address_at) = (column(header, "amount").unwrap() + "amount".len(), column(header, "address"));
    let rows: Vec<&str> =
        table.lines().skip_while(|l| *l != header).skip(1).take_while(|l| !l.starts_with("totals:")).collect();
    assert!(rows.len() > 1, "{table}");
    let long = |l: &str| l.split(' ').any(|w| w.split_once('.').is_some_and(|(_, frac)| frac.len() == 18));
    assert!(rows.iter().any(|l| long(l)), "the case reaches an off-ramp with an 18-decimal amount:\n{table}");
    for row in &rows {
        assert_eq!(column(row, " ETH").map(|at| at + " ETH".len()), Some(amount_end), "amount column:\n{table}");
        assert_eq!(column(row, "0x"), address_at, "address column:\n{table}");
    }
    let custodians: Vec<&str> = table.lines().filter(|l| l.starts_with("  ") && l.contains(" ETH  0x")).collect();
    assert!(custodians.len() > 1, "{table}");
    let first = column(custodians[0], "0x");
    assert!(custodians.iter().all(|l| column(l, "0x") == first), "custodians' addresses:\n{table}");

    // Exposure of an exchange the trace reached, on each chain.
    let reports = data.join("reports");
    for (chain, file, symbol, decimals, smallest) in
        [("btc", "btc-BTC.json", "BTC", 8, "sat"), ("eth", "eth-ETH.json", "ETH", 18, "wei")]
    {
        let report = json(&reports.join(file));
        let address = report["models"]["haircut"]["offramps"][0]["address"].as_str().unwrap();
        let args = ["exposure", chain, address, "--direction", "received"];
        let e: Value = serde_json::from_str(&common::run_ok(data, &[&args[..], &["--json"]].concat())).unwrap();
        assert_eq!(
            (e["asset"].as_str(), &e["unit"]),
            (Some(symbol), &serde_json::json!({"symbol": symbol, "decimals": decimals}))
        );
        let total = amount(&e["exposure"]["total"]);
        assert_eq!(e["exposure"]["total"].is_u64(), chain == "btc", "integers as before: {e}");
        let text = common::run_ok(data, &args);
        let first = text.lines().next().unwrap();
        let shown = format!(" {symbol} ({total} {smallest}) received from");
        assert!(first.contains(&shown), "{chain}: {shown:?} in {first:?}");
        let whole = first.split(": ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap();
        let (int, frac) = whole.split_once('.').unwrap_or((whole, ""));
        assert!(frac.len() <= decimals, "{whole}");
        let units = format!("{int}{frac:0<decimals$}").trim_start_matches('0').to_owned();
        assert_eq!(units, total, "{chain}: {whole} {symbol} is {total} {smallest}");
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert!(rows.len() > 2 && rows[0].starts_with("category") && rows.last().unwrap().starts_with("untagged"));
        assert!(rows[1..].iter().all(|r| r.contains(&format!(" {symbol}"))), "rows name the unit:\n{text}");
        assert!(same_width(&rows), "exposure columns:\n{text}");
    }
}

/// Copies the store directory `from` to `to` (a closed RocksDB is plain files).
fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A store that cannot be read (another chain's store in its place): the
/// error names the store's path and the reason once, and no context twice,
/// however the command reaches the store.
fn store_errors_name_their_context_once(data: &Path, work: &Path) {
    let swapped = work.join("swapped");
    copy_store(&data.join("eth"), &swapped.join("btc"));
    copy_store(&data.join("btc"), &swapped.join("eth"));
    let out = work.join("export");
    let out = out.to_str().unwrap();
    let btc = "mo8ACDH4HDLvceFQntdk6KSRKQ421HPKxE";
    let eth = "0x0000000000000000000000000000000000000001";
    for (store, other, args) in [
        ("btc", "eth", vec!["address", "btc", btc]),
        ("btc", "eth", vec!["cluster", "btc", btc]),
        ("btc", "eth", vec!["exposure", "btc", btc]),
        ("btc", "eth", vec!["export", "parquet", "--out", out, "--chain", "btc"]),
        ("btc", "eth", vec!["db", "digest"]),
        ("eth", "btc", vec!["db", "digest", "--chain", "eth"]),
        ("eth", "btc", vec!["address", "eth", eth]),
        ("eth", "btc", vec!["exposure", "eth", eth]),
        ("eth", "btc", vec!["export", "parquet", "--out", out, "--chain", "eth"]),
    ] {
        let err = common::run_err(&swapped, &args);
        let path = swapped.join(store);
        let reason = format!("holds \"{other}\" data, not \"{store}\"");
        assert_eq!(err.matches(path.to_str().unwrap()).count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches(&reason).count(), 1, "{args:?}: {err}");
        assert!(!err.contains(&format!("{store} store")), "{args:?}: {err}");
        let parts: Vec<&str> = err.trim().split(": ").collect();
        assert!(parts.windows(2).all(|w| w[0] != w[1]), "{args:?}: {err}");
    }
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
