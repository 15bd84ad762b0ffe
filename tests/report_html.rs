//! The HTML case report in a real browser: `chainsleuth demo` writes its
//! reports (Bitcoin in BTC, Ethereum in ETH and in the freezable token),
//! and headless Chromium opens each HTML file from disk (`file://`). Every
//! page must render (a screenshot that is not blank), be self-contained
//! (no script, no fetched resource, no external reference but links), draw
//! one flow picture per model, hold in its DOM the figures of the JSON
//! report of the same trace (per model: the totals, each off-ramp and mixer
//! with its entity, category, jurisdiction, licence and amount, each
//! freezable or frozen holding, the path count; the index tip, tag source
//! versions and seeds), and start each model on a new page when printed.
//!
//! Amounts are checked as shown, formatted here from the JSON's smallest
//! units. Set `CHAINSLEUTH_WEB_SCREENSHOTS=DIR` to keep the screenshots.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::browser::Browser;
use serde_json::{json, Value};

/// Per model section: each table as rows of header -> cell text, the
/// section's text and the size of its flow picture.
const READ_MODELS: &str = r#"
const table = (section, css) => {
  const t = section.querySelector(css);
  if (!t) return [];
  const rows = [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim()));
  const head = rows.shift();
  return rows.map(r => Object.fromEntries(head.map((h, i) => [h, r[i]])));
};
const out = {};
for (const s of document.querySelectorAll('section.model')) {
  const svg = s.querySelector('figure.flow svg');
  const box = svg ? svg.getBoundingClientRect() : null;
  out[s.id.replace('model-', '')] = {
    totals: table(s, 'table.totals'),
    offramps: table(s, 'table.offramps'),
    mixers: table(s, 'table.mixers'),
    freezable: table(s, 'table.freezable'),
    text: s.innerText,
    flow: box ? [box.width, box.height] : null,
  };
}
const c = document.getElementById('case');
out.case = { text: c.innerText, seeds: [...c.querySelectorAll('li code')].map(e => e.innerText) };
return out;
"#;

/// What the page loads or refers to outside itself: fetched resources,
/// elements that load something, attributes naming a URL (links aside),
/// and style rules that import or fetch.
const EXTERNAL: &str = r#"
const found = performance.getEntriesByType('resource').map(e => 'fetched ' + e.name);
for (const e of document.querySelectorAll('script, link, iframe, object, embed, img, video, audio, source')) {
  found.push('element ' + e.outerHTML.slice(0, 80));
}
for (const e of document.querySelectorAll('*')) {
  if (e.localName === 'a') continue;
  for (const a of ['src', 'href', 'xlink:href', 'srcset', 'data', 'action', 'poster', 'background']) {
    const v = e.getAttribute(a);
    if (v !== null && !v.startsWith('#')) found.push(e.localName + ' ' + a + '=' + v);
  }
}
for (const sheet of document.styleSheets) {
  for (const rule of sheet.cssRules) {
    if (/url\(|@import/.test(rule.cssText)) found.push('style ' + rule.cssText);
  }
}
return found;
"#;

/// The CSS `break-before` of the case and of each model section, by id.
const BREAKS: &str = r#"
return Object.fromEntries([...document.querySelectorAll('#case, section.model')]
  .map(s => [s.id, getComputedStyle(s).breakBefore]));
"#;

/// An amount of a report (a number on Bitcoin, a decimal string on
/// Ethereum, in the smallest unit) as the report shows it: whole units, a
/// point and the fraction without trailing zeros, then the symbol.
fn shown(amount: &Value, unit: &Value) -> String {
    let digits = match amount {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("not an amount: {other}"),
    };
    let decimals = unit["decimals"].as_u64().unwrap() as usize;
    let symbol = unit["symbol"].as_str().unwrap();
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, fraction) = padded.split_at(padded.len() - decimals);
    match fraction.trim_end_matches('0') {
        "" => format!("{whole} {symbol}"),
        fraction => format!("{whole}.{fraction} {symbol}"),
    }
}

/// The row of `rows` whose Address cell starts with `address`.
fn row<'a>(rows: &'a [Value], address: &str, what: &str) -> &'a Value {
    let found = rows.iter().find(|r| r["Address"].as_str().unwrap().starts_with(address));
    found.unwrap_or_else(|| panic!("{what}: no row for {address} in {rows:?}"))
}

/// `Some(text)` of a JSON string, "-" for null: how the page shows an
/// optional field.
fn or_dash(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// Checks one model's section against the JSON report's model `m`.
fn check_model(page: &Value, m: &Value, unit: &Value, what: &str) {
    let totals = &page["totals"][0];
    for (bucket, amount) in m["totals"].as_object().unwrap() {
        assert_eq!(totals[bucket.as_str()], shown(amount, unit), "{what}: total {bucket}");
    }
    for (kind, list) in [("offramps", &m["offramps"]), ("mixers", &m["mixers"])] {
        let rows = page[kind].as_array().unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(rows.len(), list.len(), "{what}: {kind}");
        for o in list {
            let r = row(rows, o["address"].as_str().unwrap(), &format!("{what} {kind}"));
            let cells = [&r["Entity"], &r["Category"], &r["Jurisdiction"], &r["Licence"], &r["Amount"]];
            let want = [
                o["entity"].as_str().unwrap(),
                o["category"].as_str().unwrap(),
                or_dash(&o["jurisdiction"]),
                or_dash(&o["licensed_by"]),
                &shown(&o["amount"], unit),
            ];
            assert_eq!(cells, want, "{what}: {kind} {o}");
            assert_eq!(r["Can be frozen"], or_dash(&o["freezable"]), "{what}: {o}");
        }
    }
    let holders = m["holders"].as_array().unwrap();
    let listed: Vec<&Value> = holders.iter().filter(|h| h["freezable"] == true || h["frozen"].is_string()).collect();
    let rows = page["freezable"].as_array().unwrap();
    assert_eq!(rows.len(), listed.len(), "{what}: freezable or frozen holdings");
    for h in listed {
        let r = row(rows, h["address"].as_str().unwrap(), &format!("{what} holdings"));
        assert_eq!(r["Amount"], shown(&h["amount"], unit), "{what}: {h}");
        let reason = r["Reason"].as_str().unwrap();
        match h["frozen"].as_str() {
            Some(tx) => assert!(reason.starts_with("already frozen") && reason.contains(tx), "{what}: {reason}"),
            None => assert_eq!(reason, h["reason"].as_str().unwrap(), "{what}"),
        }
    }
    let freezable = holders.iter().filter(|h| h["freezable"] == true).count();
    let text = page["text"].as_str().unwrap();
    let held = format!("Held at {} address(es); {freezable} can be frozen now.", holders.len());
    assert!(text.contains(&held), "{what}: {held:?} not in the section");
    let paths = format!("Paths ({})", m["paths"].as_array().unwrap().len());
    assert!(text.contains(&paths), "{what}: {paths:?} not in the section");
    let flow = page["flow"].as_array().unwrap_or_else(|| panic!("{what}: no flow picture"));
    assert!(flow.iter().all(|side| side.as_f64().unwrap() > 100.0), "{what}: the flow picture is {flow:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reports_render_self_contained_with_the_json_figures_and_print_by_section() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    common::run_ok(&data, &["demo"]);
    let reports = data.join("reports");

    let (_driver, browser) = Browser::start(&work.path().join("profile"), true).await;
    for stem in ["btc-BTC", "eth-ETH", "eth-USDTL"] {
        let report: Value =
            serde_json::from_slice(&std::fs::read(reports.join(format!("{stem}.json"))).unwrap()).unwrap();
        let html = reports.join(format!("{stem}.html"));
        browser.go(&format!("file://{}", Path::new(&html).display())).await;
        browser.screenshot(&format!("report-{stem}")).await;

        let external = browser.execute(EXTERNAL, json!([])).await;
        assert_eq!(external, json!([]), "{stem}: the page refers to or loads something outside itself");

        let page: BTreeMap<String, Value> =
            serde_json::from_value(browser.execute(READ_MODELS, json!([])).await).unwrap();
        let unit = &report["unit"];
        let case = &page["case"];
        let case_text = case["text"].as_str().unwrap();
        let tip = &report["index_tip"];
        let shown_tip = format!("block {} {}", tip["height"], tip["hash"].as_str().unwrap());
        assert!(case_text.contains(&shown_tip), "{stem}: {shown_tip:?} not in {case_text}");
        for source in report["tag_sources"].as_array().unwrap() {
            let line = format!(
                "{}\t{}\t{}",
                source["source"].as_str().unwrap(),
                source["version"],
                source["sha256"].as_str().unwrap()
            );
            assert!(case_text.contains(&line), "{stem}: tag source {line:?} not in {case_text}");
        }
        assert_eq!(case["seeds"], report["seeds"], "{stem}: seeds");

        let models = report["models"].as_object().unwrap();
        assert_eq!(page.len() - 1, models.len(), "{stem}: one section per model");
        assert!(!models.is_empty());
        for (name, m) in models {
            check_model(&page[name], m, unit, &format!("{stem} {name}"));
        }

        // On screen one long page; printed, each model starts a new one.
        let want = |media: &str| {
            let model = if media == "print" { "page" } else { "auto" };
            let mut want = serde_json::Map::from_iter([("case".to_owned(), json!("auto"))]);
            want.extend(models.keys().map(|name| (format!("model-{name}"), json!(model))));
            Value::Object(want)
        };
        assert_eq!(browser.execute(BREAKS, json!([])).await, want("screen"), "{stem} on screen");
        browser.devtools("Emulation.setEmulatedMedia", json!({ "media": "print" })).await;
        assert_eq!(browser.execute(BREAKS, json!([])).await, want("print"), "{stem} printed");
        browser.devtools("Emulation.setEmulatedMedia", json!({ "media": "" })).await;
    }
    browser.close().await;
}
