//! The web view in a real browser: headless Chromium, driven over WebDriver
//! by chromedriver (Debian's `chromium` and `chromium-driver`, installed by
//! scripts/install-test-deps.sh), against a real `chainsleuth serve` over a
//! store indexed from a simulated chain with tags. It signs in with a
//! token, searches an address, reads its page, starts a trace from the form
//! and opens the report, with JavaScript turned off; every screenshot must show a page (many colours,
//! no single colour covering nearly all of it) and the DOM must hold the
//! figures the JSON API gives for the same things. On Ethereum (indexed
//! from anvil) an address page shows amounts in ETH with their wei.
//!
//! Set `CHAINSLEUTH_WEB_SCREENSHOTS=DIR` to keep the screenshots.

mod common;
#[path = "../crates/eth/tests/common/mod.rs"]
mod eth_common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::browser::{Browser, Killed, WAIT};
use common::{chain_on_disk, chainsleuth, run_ok, tag_regtest_exchange};
use serde_json::{json, Value};

/// `GET path` from the JSON API with the bearer token.
async fn api(http: &reqwest::Client, base: &str, path: &str, secret: &str) -> Value {
    let response = http.get(format!("{base}{path}")).bearer_auth(secret).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Starts `chainsleuth serve` on a free port over `data`; its address.
fn serve(data: &Path) -> (Killed, String) {
    let mut child = chainsleuth()
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let child = Killed(child);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve exited before listening");
        if let Some(addr) = line.trim().strip_prefix("listening on http://") {
            break addr.to_owned();
        }
    };
    // Keep reading stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_searches_an_address_and_traces_from_it() {
    let work = tempfile::tempdir().unwrap();
    let (blocks, data) = (work.path().join("chain"), work.path().join("data"));
    let chain = chain_on_disk(&blocks, 150, 12, 5, None);
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", blocks.to_str().unwrap()]);

    // The seed is the busiest address; the largest holder its funds reach in
    // four hops (haircut) is tagged as an exchange, so the trace reaches it.
    let seed = chain.truth.addresses.iter().max_by_key(|(a, t)| (t.tx_count, std::cmp::Reverse(*a))).unwrap().0.clone();
    let seed_arg = format!("btc:{seed}");
    let report: Value = serde_json::from_str(&run_ok(
        &data,
        &["trace", "--seed", &seed_arg, "--max-hops", "4", "--model", "haircut", "--format", "json"],
    ))
    .unwrap();
    let exchange = report["models"]["haircut"]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["address"].as_str().unwrap().to_owned())
        .find(|a| *a != seed)
        .expect("taint moved past the seed");
    tag_regtest_exchange(&data, work.path(), &exchange);
    let secret = run_ok(&data, &["tokens", "create", "--role", "trace", "--name", "web-test"]).trim().to_owned();
    let (_server, base) = serve(&data);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();

    // JavaScript off: the pages must work without it.
    let (_driver, browser) = Browser::start(&work.path().join("profile"), false).await;

    // Not signed in: any page sends the browser to the login form.
    browser.go(&format!("{base}/btc/address/{exchange}")).await;
    browser.wait_url("the login form", |url| url.contains("/login")).await;
    browser.screenshot("login").await;
    browser.fill("input[name=token]", "not-a-token-of-this-server").await;
    browser.click("form button[type=submit]").await;
    assert!(browser.text(".notice.error").await.contains("token"), "a wrong token is refused with a message");
    browser.fill("input[name=token]", &secret).await;
    browser.click("form button[type=submit]").await;
    // Signed in, the browser comes back to the page it asked for.
    browser.wait_url("the address page", |url| url.ends_with(&format!("/btc/address/{exchange}"))).await;

    // Search: the box recognises a Bitcoin address and opens its page.
    browser.go(&format!("{base}/")).await;
    browser.fill("#q", &exchange).await;
    browser.click("form.search button[type=submit]").await;
    browser.wait_url("the searched address", |url| url.ends_with(&format!("/btc/address/{exchange}"))).await;
    let page = api(&http, &base, &format!("/v1/btc/address/{exchange}"), &secret).await;
    assert_eq!(browser.text("#address").await, exchange);
    assert_eq!(browser.attribute("#balance", "data-sat").await, page["summary"]["balance"].to_string());
    assert_eq!(browser.text("#tx-count").await, page["summary"]["tx_count"].to_string());
    assert_eq!(browser.text("table.tags td.entity").await, page["tags"][0]["tag"]["entity"].as_str().unwrap());
    assert_eq!(browser.text("table.tags td.entity").await, "Bank Exchange");
    let rows = browser.all("#history tbody tr").await.len();
    assert_eq!(rows, page["history"]["rows"].as_array().unwrap().len().min(25));
    assert!(!browser.source().await.contains("<script"), "the pages carry no script");
    browser.screenshot("address").await;

    // Something that is not there: a clear "not found" page.
    browser.go(&format!("{base}/search?q={}", "ab".repeat(32))).await;
    assert_eq!(browser.text("h1").await, "Not found");
    browser.screenshot("not-found").await;

    // A trace from the form: seeds filled in by the address page's link.
    browser.go(&format!("{base}/trace?seeds={seed}")).await;
    assert_eq!(browser.text("textarea[name=seeds]").await, seed);
    browser.fill("input[name=max_hops]", "4").await;
    browser.click("form.stack button[type=submit]").await;
    let url = browser.wait_url("the trace's page", |url| url.contains("/trace/")).await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    let deadline = Instant::now() + WAIT;
    loop {
        // The page reloads itself while the job runs.
        match browser.text("#status").await.as_str() {
            "done" => break,
            "queued" | "running" => {}
            other => panic!("trace {id} ended {other}: {}", browser.text("main").await),
        }
        assert!(Instant::now() < deadline, "trace {id} did not finish");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let job = api(&http, &base, &format!("/v1/traces/{id}"), &secret).await;
    let reached = &job["result"]["models"]["haircut"]["totals"]["reached"];
    assert!(reached.as_u64().unwrap() > 0, "the tagged exchange is reached: {job}");
    assert_eq!(browser.attribute("#total-haircut-reached", "data-amount").await, reached.to_string());
    let seeded = &job["result"]["models"]["haircut"]["totals"]["seeded"];
    assert_eq!(browser.attribute("#model-haircut .seeded", "data-amount").await, seeded.to_string());
    assert!(browser.text("#model-haircut table.offramps").await.contains("Bank Exchange"));
    for format in ["json", "csv", "dot", "graphml", "html"] {
        let link = browser.attribute(&format!(".downloads a[href$='format={format}']"), "href").await;
        let link = if link.starts_with('/') { format!("{base}{link}") } else { link };
        let download = http.get(&link).bearer_auth(&secret).send().await.unwrap();
        assert!(download.status().is_success(), "{link}: {}", download.status());
    }
    browser.screenshot("trace-report").await;

    // The seed's exposure, as bars: where its funds went within four hops.
    browser.go(&format!("{base}/btc/address/{seed}?exposure=sent&hops=4")).await;
    let exposure = api(&http, &base, &format!("/v1/btc/exposure/{seed}?direction=sent&max_hops=4"), &secret).await;
    let total = exposure["exposure"]["total"].as_u64().unwrap();
    assert!(browser.text("#exposure-total").await.contains(&format!("({total} sat)")), "{exposure}");
    assert!(browser.text("#exposure").await.contains("Bank Exchange"));
    browser.screenshot("exposure").await;

    // Signing out ends the session: pages send the browser to the login form again.
    browser.click("header.site form button[type=submit]").await;
    browser.wait_url("the login form after signing out", |url| url.contains("/login")).await;
    browser.go(&format!("{base}/")).await;
    browser.wait_url("the login form", |url| url.contains("/login?next=")).await;

    browser.close().await;
}

/// An Ethereum address's page shows its balance and its exposure in ETH with
/// the exact wei beside it, as the CLI does, not a bare 20-digit integer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereum_amounts_are_shown_in_eth_with_their_wei() {
    const ETHER: u64 = 1_000_000_000_000_000_000;
    let node = eth_common::Anvil::start(2).await;
    let funder = node.accounts().await[0];
    let mut bytes = [0u8; 20];
    bytes[0] = 0xa9;
    let receiver = alloy::primitives::Address::from(bytes);
    // 30.5 ETH: the page must show the fraction, not round it away.
    let wei = alloy::primitives::U256::from(61u64) * alloy::primitives::U256::from(ETHER / 2);
    node.send_mined(&json!({"from": funder, "to": receiver, "value": wei, "gas": "0x5208"})).await;

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_ok(&data, &["index", "eth", "--rpc", &node.url]);
    let secret = run_ok(&data, &["tokens", "create", "--role", "trace", "--name", "web-eth"]).trim().to_owned();
    let (_server, base) = serve(&data);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let (_driver, browser) = Browser::start(&work.path().join("profile"), false).await;
    let page = format!("{base}/eth/address/{receiver}?exposure=received&hops=2");
    browser.go(&page).await;
    browser.wait_url("the login form", |url| url.contains("/login")).await;
    browser.fill("input[name=token]", &secret).await;
    browser.click("form button[type=submit]").await;
    browser.wait_url("the address page", |url| url.contains("/eth/address/")).await;

    let exposure =
        api(&http, &base, &format!("/v1/eth/exposure/{receiver}?direction=received&max_hops=2"), &secret).await;
    let total = exposure["exposure"]["total"].as_str().unwrap();
    assert_eq!(total, wei.to_string(), "{exposure}");
    let shown = browser.text("#exposure-total").await;
    assert!(shown.ends_with(&format!(": 30.5 ETH ({total} wei)")), "{shown}");
    let balance = browser.text("#balances td.balance").await;
    assert_eq!(balance, format!("30.5 ETH ({wei} wei)"));
    browser.screenshot("eth-exposure").await;
    browser.close().await;
}
