//! One chain of 2,000 blocks indexed four ways through the real binary —
//! the blocks directory with and without xor.dat, Core's REST and JSON-RPC
//! (served by the Core mock over loopback) — gives the same digest, and the
//! index matches the builder's ground truth for every address.

mod common;

use bitcoin::Network;
use chainsleuth_btc::index::{open_read_only, query};
use chainsleuth_btc::testnode::{CoreMock, MockOptions};
use common::{chain_on_disk, digest, run_ok};

#[test]
fn four_sources_give_one_digest_and_the_ground_truth() {
    let work = tempfile::tempdir().unwrap();
    let plain = work.path().join("plain");
    let xored = work.path().join("xored");
    let chain = chain_on_disk(&plain, 2_000, 4, 11, None);
    chain_on_disk(&xored, 2_000, 4, 11, Some(*b"\x13\x57\x9b\xdf\x02\x46\x8a\xce"));

    let cookie_dir = work.path().join("core");
    std::fs::create_dir_all(&cookie_dir).unwrap();
    let node = CoreMock::start(
        chain.blocks.clone(),
        MockOptions {
            network: Network::Regtest,
            user_pass: Some(("alice".into(), "s3cret-pw".into())),
            cookie_dir: Some(cookie_dir),
        },
    )
    .unwrap();
    let cookie = node.cookie_path().unwrap().to_str().unwrap().to_owned();

    let runs: [(&str, Vec<String>); 4] = [
        ("plain", vec!["--blocks-dir".into(), plain.to_str().unwrap().into()]),
        ("xor", vec!["--blocks-dir".into(), xored.to_str().unwrap().into(), "--xor".into(), "auto".into()]),
        ("rest", vec!["--rest".into(), node.url()]),
        ("rpc", vec!["--rpc".into(), node.url(), "--rpc-cookie".into(), cookie]),
    ];
    let mut digests = Vec::new();
    for (name, source) in &runs {
        let data = work.path().join(format!("data-{name}"));
        let mut args = vec!["index", "btc", "--network", "regtest"];
        args.extend(source.iter().map(String::as_str));
        run_ok(&data, &args);
        digests.push((name, digest(&data)));
    }
    for (name, d) in &digests[1..] {
        assert_eq!(d, &digests[0].1, "{name} differs from {}", digests[0].0);
    }

    let store = open_read_only(&work.path().join("data-rpc")).unwrap();
    let status = query::status(&store).unwrap();
    assert_eq!(status.tip_height.map(|h| h.get()), Some(2_000));
    assert_eq!(status.transactions, chain.tx_count());
    for (address, want) in &chain.truth.addresses {
        let got = query::address_summary(&store, address, Network::Regtest).unwrap();
        assert_eq!(
            (got.balance, got.received, got.sent, got.tx_count),
            (want.balance, want.received, want.sent, want.tx_count),
            "{address}"
        );
    }
}
