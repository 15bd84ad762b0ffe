//! A simulated regtest chain of 2,000+ blocks, written as Bitcoin Core's
//! block files (xor-obfuscated, out of order) and indexed from them through
//! the real sync loop: every address's figures equal the chain builder's
//! ground truth, the status counts match, and an index of the same blocks
//! fed from memory has the same digest.

mod index_support;

use bitcoin::Network;
use chainsleuth_btc::index::{open_read_only, query};
use chainsleuth_btc::sim::{build_chain, write_blocks_dir, BlkDirOptions, Scenario, SimConfig};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_sync::SyncOptions;
use index_support::{sync, MemSource};

#[test]
fn every_address_matches_the_ground_truth() {
    let chain = build_chain(&SimConfig { blocks: 2_100, seed: 7, txs_per_block: 8, scenario: Scenario::Basic });
    assert!(chain.truth.tx_count > 15_000 && chain.truth.addresses.len() > 10_000);
    let files = tempfile::tempdir().unwrap();
    let options = BlkDirOptions { xor_key: Some(*b"chainsl!"), shuffle: true, ..BlkDirOptions::default() };
    write_blocks_dir(files.path(), &chain.blocks, &options).unwrap();
    let source = BlkDirSource::open(&BlkDirConfig {
        dir: files.path().to_owned(),
        network: Network::Regtest,
        xor: XorMode::Auto,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = sync(dir.path(), &source, Network::Regtest, &SyncOptions::default());
    assert_eq!(report.blocks, chain.blocks.len() as u64);

    let store = open_read_only(dir.path()).unwrap();
    let status = query::status(&store).unwrap();
    assert_eq!(status.tip_height, Some(chain.truth.tip_height));
    assert_eq!(status.tip_hash, Some(chain.truth.tip_hash));
    assert_eq!(status.transactions, chain.truth.tx_count);
    assert_eq!(status.addresses, chain.truth.addresses.len() as u64);
    assert_eq!(status.network.as_deref(), Some("regtest"));

    for (address, want) in &chain.truth.addresses {
        let got = query::address_summary(&store, address, Network::Regtest).unwrap();
        assert_eq!(&got.address, address);
        assert_eq!(
            (got.balance, got.received, got.sent, got.tx_count),
            (want.balance, want.received, want.sent, want.tx_count),
            "figures of {address}"
        );
        let page = query::address_history(&store, address, Network::Regtest, None, query::MAX_PAGE).unwrap();
        assert_eq!(page.rows.len() as u64, want.tx_count.min(query::MAX_PAGE as u64), "history of {address}");
    }

    let from_memory = tempfile::tempdir().unwrap();
    sync(from_memory.path(), &MemSource::new(chain.blocks.clone()), Network::Regtest, &SyncOptions::default());
    assert_eq!(open_read_only(from_memory.path()).unwrap().digest().unwrap(), store.digest().unwrap());
}
