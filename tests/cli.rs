//! The command line end to end on a small indexed chain: paging through an
//! address's whole history with cursors, a transaction, status, and clear
//! errors (exit status 2) for bad input with the store left unchanged.

mod common;

use std::collections::HashSet;

use common::{chain_on_disk, digest, run_err, run_ok};
use serde_json::Value;

#[test]
fn address_pages_tx_status_and_bad_input() {
    let work = tempfile::tempdir().unwrap();
    let blocks = work.path().join("chain");
    let chain = chain_on_disk(&blocks, 300, 20, 3, None);
    let data = work.path().join("data");
    let blocks_arg = blocks.to_str().unwrap();
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", blocks_arg]);

    // The busiest address, paged 7 rows at a time, newest first.
    let (address, truth) = chain.truth.addresses.iter().max_by_key(|(_, t)| t.tx_count).unwrap();
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    let mut last_key = (u64::MAX, u32::MAX);
    loop {
        let mut args = vec!["address", "btc", address.as_str(), "--limit", "7", "--json"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page: Value = serde_json::from_str(&run_ok(&data, &args)).unwrap();
        let summary = &page["summary"];
        assert_eq!(summary["balance"].as_u64(), Some(truth.balance.to_sat()));
        assert_eq!(summary["tx_count"].as_u64(), Some(truth.tx_count));
        for row in page["history"]["rows"].as_array().unwrap() {
            let key = (row["height"].as_u64().unwrap(), row["position"].as_u64().unwrap() as u32);
            assert!(key < last_key, "rows must be newest first: {key:?} after {last_key:?}");
            last_key = key;
            assert!(seen.insert(row["txid"].as_str().unwrap().to_owned()), "a row came twice");
        }
        match page["history"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, truth.tx_count);

    // A transaction of that address, as text and as JSON.
    let txid = seen.iter().next().unwrap();
    let tx: Value = serde_json::from_str(&run_ok(&data, &["tx", "btc", txid, "--json"])).unwrap();
    assert_eq!(tx["txid"].as_str(), Some(txid.as_str()));
    assert!(run_ok(&data, &["tx", "btc", txid]).contains(txid.as_str()));

    let status: Value = serde_json::from_str(&run_ok(&data, &["status", "--json"])).unwrap();
    assert_eq!(status["btc"]["tip_height"].as_u64(), Some(300));
    assert_eq!(status["btc"]["transactions"].as_u64(), Some(chain.tx_count()));

    // Bad input: each a clear message, exit status 2, nothing written.
    let before = digest(&data);
    let err = run_err(&data, &["address", "btc", "bc1qnotanaddress"]);
    assert!(err.contains("bc1qnotanaddress"), "{err}");
    let mainnet = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT";
    let err = run_err(&data, &["address", "btc", mainnet]);
    assert!(err.contains(mainnet) && err.contains("regtest"), "{err}");
    let err = run_err(&data, &["address", "btc", address, "--cursor", "!!"]);
    assert!(err.contains("cursor"), "{err}");
    let err = run_err(&data, &["tx", "btc", "00"]);
    assert!(err.to_lowercase().contains("txid") || err.contains("00"), "{err}");
    let err = run_err(&data, &["index", "btc", "--network", "mainnet", "--blocks-dir", blocks_arg]);
    assert!(err.contains("blk00000.dat") || err.contains("regtest"), "{err}");
    let err = run_err(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", "/nonexistent/dir"]);
    assert!(err.contains("/nonexistent/dir"), "{err}");
    let err = run_err(&work.path().join("empty"), &["address", "btc", address]);
    assert!(err.contains("no Bitcoin index"), "{err}");
    assert_eq!(digest(&data), before);
}
