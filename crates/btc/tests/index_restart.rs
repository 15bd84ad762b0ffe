//! Restarting: indexing that stops at any committed tip (in bulk mode or
//! not) and resumes with a new indexer, whose caches start empty, reaches
//! the same digest as one uninterrupted run.

mod index_support;

use bitcoin::Network;
use chainsleuth_btc::index::open_read_only;
use chainsleuth_btc::sim::{build_chain, Scenario, SimConfig};
use chainsleuth_core::Height;
use chainsleuth_sync::SyncOptions;
use index_support::{sync, MemSource};

#[test]
fn stopping_and_resuming_anywhere_gives_the_same_digest() {
    let chain = build_chain(&SimConfig { blocks: 400, seed: 3, txs_per_block: 10, scenario: Scenario::Basic });
    let source = MemSource::new(chain.blocks.clone());
    let bulk = SyncOptions { bulk_threshold: 20, bulk_checkpoint_bytes: 64 << 10, ..SyncOptions::default() };

    let clean = tempfile::tempdir().unwrap();
    sync(clean.path(), &source, Network::Regtest, &bulk);
    let want = open_read_only(clean.path()).unwrap().digest().unwrap();

    let dir = tempfile::tempdir().unwrap();
    for stop in [0u64, 1, 99, 100, 101, 250, 397] {
        let opts = SyncOptions { stop_at: Some(Height::new(stop)), ..bulk.clone() };
        sync(dir.path(), &source, Network::Regtest, &opts);
        assert_eq!(open_read_only(dir.path()).unwrap().tip().unwrap().unwrap().height, Height::new(stop));
    }
    sync(dir.path(), &source, Network::Regtest, &SyncOptions::default());
    assert_eq!(open_read_only(dir.path()).unwrap().digest().unwrap(), want);
}
