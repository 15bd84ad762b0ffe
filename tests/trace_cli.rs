//! `chainsleuth trace` end to end on an indexed regtest chain with tags
//! imported through the real importer: the report's totals balance for
//! every model but poison, tagging a holder as an exchange turns what it held
//! into funds that reached an off-ramp, every format agrees with the JSON
//! (CSV totals, DOT and GraphML that parse), the JSON is the same bytes
//! twice, and bad input fails with exit status 2 and a clear message.

mod common;

use std::collections::BTreeMap;

use common::{chain_on_disk, run_err, run_ok, tag_regtest_exchange};
use serde_json::Value;

const BUCKETS: [&str; 6] = ["reached", "held", "fees", "dust", "horizon", "mixers"];

fn totals(model: &Value) -> BTreeMap<String, u64> {
    model["totals"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
}

fn assert_balanced(report: &Value) {
    for model in ["haircut", "fifo", "lifo"] {
        let t = totals(&report["models"][model]);
        let ended: u64 = BUCKETS.iter().map(|b| t[*b]).sum();
        assert_eq!(t["seeded"], ended, "{model}: seeded must equal what ended: {t:?}");
        assert!(t["seeded"] > 0, "{model}: the seeds hold something");
    }
    let poison = totals(&report["models"]["poison"]);
    let haircut = totals(&report["models"]["haircut"]);
    assert!(poison["reached"] >= haircut["reached"], "poison overstates: {poison:?} vs {haircut:?}");
}

#[test]
fn trace_reports_balance_agree_across_formats_and_reject_bad_input() {
    let work = tempfile::tempdir().unwrap();
    let blocks = work.path().join("chain");
    let chain = chain_on_disk(&blocks, 300, 20, 11, None);
    let data = work.path().join("data");
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", blocks.to_str().unwrap()]);

    // Seeds: three busy addresses of the simulated chain.
    let mut busy: Vec<(&String, u64)> = chain.truth.addresses.iter().map(|(a, t)| (a, t.tx_count)).collect();
    busy.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let seeds: Vec<String> = busy.iter().take(3).map(|(a, _)| format!("btc:{a}")).collect();
    let mut args: Vec<&str> = vec!["trace", "--max-hops", "4", "--format", "json"];
    for s in &seeds {
        args.extend(["--seed", s.as_str()]);
    }

    let untagged: Value = serde_json::from_str(&run_ok(&data, &args)).unwrap();
    assert_balanced(&untagged);
    assert_eq!(untagged["chain"], "btc");
    assert_eq!(untagged["index_tip"]["height"], 300);
    assert_eq!(untagged["parameters"]["max_hops"], 4);
    assert_eq!(untagged["seeds"].as_array().unwrap().len(), 3);
    let haircut = &untagged["models"]["haircut"];
    assert_eq!(totals(haircut)["reached"], 0, "nothing is tagged yet");

    // Tag the largest haircut holder that is not a seed as a licensed exchange.
    let holder = haircut["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| !seeds.contains(&format!("btc:{}", h["address"].as_str().unwrap())))
        .expect("taint moved past the seeds");
    let exchange = holder["address"].as_str().unwrap().to_owned();
    let held_there = holder["amount"].as_u64().unwrap();
    tag_regtest_exchange(&data, work.path(), &exchange);

    let json = run_ok(&data, &args);
    assert_eq!(json, run_ok(&data, &args), "the same trace on the same data gives the same bytes");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_balanced(&report);
    assert_eq!(report["tag_sources"][0]["source"], "case-exchanges");
    assert_eq!(report["tag_sources"][0]["version"], 1);
    let haircut = &report["models"]["haircut"];
    let offramp = haircut["offramps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["address"] == exchange.as_str())
        .expect("the tagged holder is reached");
    assert_eq!(offramp["entity"], "Bank Exchange");
    assert!(offramp["freezable"].as_str().unwrap().starts_with("custodial"), "{offramp}");
    assert_eq!(offramp["category"], "exchange_licensed");
    assert!(offramp["amount"].as_u64().unwrap() >= held_there, "{offramp} held {held_there} before");
    assert!(haircut["holders"].as_array().unwrap().iter().all(|h| h["address"] != exchange.as_str()));
    // Every path is evidence: it ends where it says, hop after hop.
    for path in haircut["paths"].as_array().unwrap() {
        let hops = path["hops"].as_array().unwrap();
        assert!(!hops.is_empty());
        assert_eq!(hops.last().unwrap()["to"], path["to"]);
        for pair in hops.windows(2) {
            assert_eq!(pair[0]["to"], pair[1]["from"], "hops chain up: {path}");
        }
        let txid = hops[0]["tx"].as_str().unwrap();
        assert!(run_ok(&data, &["tx", "btc", txid]).contains(txid));
    }

    // CSV: the totals rows equal the JSON's.
    let mut csv_args = args.clone();
    let fmt = csv_args.iter().position(|a| *a == "json").unwrap();
    csv_args[fmt] = "csv";
    let csv = run_ok(&data, &csv_args);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        rows += 1;
        if let Some(bucket) = record[1].strip_prefix("total_") {
            let json_value = report["models"][&record[0]]["totals"][bucket].as_u64().unwrap();
            assert_eq!(record[6].parse::<u64>().unwrap(), json_value, "{record:?}");
        }
    }
    assert!(rows >= 28, "7 totals per model at least");

    // DOT parses with Graphviz; GraphML is well-formed XML.
    csv_args[fmt] = "dot";
    let dot = run_ok(&data, &csv_args);
    assert!(dot.starts_with("digraph trace {") && dot.contains(&exchange));
    let mut child = std::process::Command::new("dot")
        .args(["-Tsvg", "-o", "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("Graphviz's dot runs (scripts/install-test-deps.sh installs it)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), dot.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "dot rejects the output:\n{dot}");
    csv_args[fmt] = "graphml";
    let graphml = run_ok(&data, &csv_args);
    let mut xml = quick_xml::Reader::from_str(&graphml);
    let (mut nodes, mut edges) = (0, 0);
    loop {
        match xml.read_event().unwrap() {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == "node" => nodes += 1,
            quick_xml::events::Event::Start(e) if e.name().as_ref() == "edge" => edges += 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert!(nodes > 1 && edges > 0, "{nodes} nodes, {edges} edges");

    // The table for people names the exchange and the totals.
    csv_args[fmt] = "table";
    let table = run_ok(&data, &csv_args);
    assert!(table.contains("Bank Exchange") && table.contains("totals: seeded"), "{table}");
    assert!(table.contains("reached custodians"), "{table}");

    // HTML: one self-contained page holding the tip, the off-ramp and every
    // path's transaction ids; nothing it loads from elsewhere.
    csv_args[fmt] = "html";
    let html = run_ok(&data, &csv_args);
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"), "{html}");
    assert!(html.contains("@media print") && html.contains("Bank Exchange") && html.contains(&exchange));
    let svg = html.split("<svg class=\"flow\"").nth(1).and_then(|rest| rest.split("</svg>").next());
    let svg = svg.expect("each model's flow picture is inline SVG");
    assert!(svg.contains("Bank Exchange (exchange_licensed)") && svg.contains("<path d=\"M"), "{svg}");
    assert!(html.contains(report["index_tip"]["hash"].as_str().unwrap()));
    for path in report["models"]["poison"]["paths"].as_array().unwrap() {
        for hop in path["hops"].as_array().unwrap() {
            assert!(html.contains(hop["tx"].as_str().unwrap()), "{hop}");
        }
    }
    for external in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(external), "the page loads {external}");
    }

    // The off-ramp categories come from the config: without exchanges among
    // them the exchange holds what it received.
    let config = work.path().join("cash-only.toml");
    std::fs::write(&config, "[tags]\noff_ramps = [\"cash_out_network\"]\n").unwrap();
    let mut cash_only = vec!["--config", config.to_str().unwrap()];
    cash_only.extend(&args);
    let r: Value = serde_json::from_str(&run_ok(&data, &cash_only)).unwrap();
    assert_eq!(r["off_ramps"], serde_json::json!(["cash_out_network"]));
    assert_eq!(totals(&r["models"]["haircut"])["reached"], 0);
    assert_eq!(report["off_ramps"].as_array().unwrap().len(), 8, "the taxonomy's default off-ramps");

    // Backward from the exchange: everything it received is accounted for,
    // down to coinbases, fees, the horizon and tagged sources.
    let back: Value = serde_json::from_str(&run_ok(
        &data,
        &[
            "trace",
            "--direction",
            "backward",
            "--seed",
            &format!("btc:{exchange}"),
            "--max-hops",
            "3",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let t = totals(&back["models"]["haircut"]);
    let received = chain.truth.addresses[&exchange].received.to_sat();
    assert_eq!(t["seeded"], received, "backward seeds are every coin the address received");
    assert_eq!(t["seeded"], BUCKETS.iter().map(|b| t[*b]).sum::<u64>() + t["mined"], "{t:?}");
    assert!(back["models"].get("fifo").is_none(), "backward runs poison and haircut");

    // Exposure sums to 100% of the address's funds per direction.
    for (address, direction) in [(exchange.as_str(), "received"), (&seeds[0][4..], "sent")] {
        let out: Value = serde_json::from_str(&run_ok(
            &data,
            &["exposure", "btc", address, "--direction", direction, "--max-hops", "4", "--json"],
        ))
        .unwrap();
        let e = &out["exposure"];
        let rows = e["rows"].as_array().unwrap();
        let tagged: u64 = rows.iter().map(|r| r["total"].as_u64().unwrap()).sum();
        assert_eq!(tagged + e["untagged"].as_u64().unwrap(), e["total"].as_u64().unwrap(), "{direction}: {e}");
        let shares: f64 =
            rows.iter().map(|r| r["share"].as_f64().unwrap()).sum::<f64>() + e["untagged_share"].as_f64().unwrap();
        assert!((shares - 1.0).abs() < 1e-6, "{direction}: shares add up to {shares}");
        for r in rows {
            let (direct, indirect) = (r["direct"].as_u64().unwrap(), r["indirect"].as_u64().unwrap());
            assert_eq!(direct + indirect, r["total"].as_u64().unwrap());
        }
        if direction == "received" {
            assert_eq!(e["total"].as_u64(), Some(received));
        }
    }
    let sent: Value = serde_json::from_str(&run_ok(
        &data,
        &["exposure", "btc", &seeds[0][4..], "--direction", "sent", "--max-hops", "4", "--json"],
    ))
    .unwrap();
    let forward_one: Value = serde_json::from_str(&run_ok(
        &data,
        &["trace", "--seed", &seeds[0], "--max-hops", "4", "--model", "haircut", "--format", "json"],
    ))
    .unwrap();
    let reached_bank: u64 = forward_one["models"]["haircut"]["offramps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["entity"] == "Bank Exchange")
        .map(|o| o["amount"].as_u64().unwrap())
        .sum();
    let exposed_bank: u64 = sent["exposure"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entity"] == "Bank Exchange")
        .map(|r| r["total"].as_u64().unwrap())
        .sum();
    assert_eq!(exposed_bank, reached_bank, "sent exposure to the exchange equals what the trace reached there");

    // Bad input: a clear error, exit status 2.
    let seed = seeds[0].as_str();
    for (bad, expect) in [
        (vec!["trace", "--seed", "btc:bcrt1qnotanaddress"], "bcrt1qnotanaddress"),
        (vec!["trace", "--seed", "btc:1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
        (vec!["trace", "--seed", "doge:abc"], "doge"),
        (vec!["trace", "--seed", seed, "--seed", "eth:0x0000000000000000000000000000000000000001"], "one chain"),
        (vec!["trace", "--seed", seed, "--asset", "0xdAC17F958D2ee523a2206206994597C13D831ec7"], "BTC only"),
        (vec!["trace", "--seed", seed, "--max-hops", "0"], "--max-hops"),
        (vec!["trace", "--seed", seed, "--from-block", "20", "--to-block", "10"], "--from-block 20"),
        (vec!["trace", "--seed", seed, "--to-block", "999"], "beyond the indexed tip"),
        (vec!["trace", "--seed", seed, "--min-amount", "lots"], "--min-amount"),
        (vec!["trace", "--seed", "eth:0x0000000000000000000000000000000000000001"], "no Ethereum index"),
        (vec!["trace"], "no seeds"),
        (vec!["trace", "--seed", seed, "--direction", "backward", "--model", "fifo"], "poison and haircut"),
        (vec!["exposure", "btc", "bcrt1qnotanaddress"], "bcrt1qnotanaddress"),
        (vec!["exposure", "btc", &seed[4..], "--model", "all"], "one model"),
    ] {
        let err = run_err(&data, &bad);
        assert!(err.contains(expect), "{bad:?}: {err}");
    }
    let err = run_err(&work.path().join("nothing"), &["trace", "--seed", seed]);
    assert!(err.contains("no Bitcoin index"), "{err}");
}
