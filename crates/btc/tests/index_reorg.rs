//! Reorgs of depth 1, 6 and 100 through the real sync loop: after the
//! winning branch is applied, the store's digest equals that of a clean
//! index of the winning chain, and balances, history and spent-by links
//! match the winner's ground truth.

mod index_support;

use bitcoin::Network;
use chainsleuth_btc::index::{open_read_only, query};
use chainsleuth_btc::sim::{build_chain, Scenario, SimChain, SimConfig};
use chainsleuth_btc::BtcIndexer;
use chainsleuth_core::Height;
use chainsleuth_sync::{Indexer, SyncOptions, UndoPolicy};
use index_support::{btc_block, sync, MemSource};

fn clean_digest(chain: &SimChain) -> [u8; 32] {
    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(chain.blocks.clone()), Network::Regtest, &SyncOptions::default());
    open_read_only(dir.path()).unwrap().digest().unwrap()
}

fn check_truth(data_dir: &std::path::Path, chain: &SimChain) {
    let store = open_read_only(data_dir).unwrap();
    assert_eq!(query::status(&store).unwrap().tip_hash, Some(chain.truth.tip_hash));
    for (address, want) in &chain.truth.addresses {
        let got = query::address_summary(&store, address, Network::Regtest).unwrap();
        assert_eq!(
            (got.balance, got.received, got.sent, got.tx_count),
            (want.balance, want.received, want.sent, want.tx_count)
        );
        let rows = query::address_history(&store, address, Network::Regtest, None, query::MAX_PAGE).unwrap().rows;
        assert_eq!(rows.len() as u64, want.tx_count, "history of {address}");
    }
    // Every spent-by link of the tip block's transactions points at a live spender.
    let tip = chain.blocks.last().unwrap();
    for tx in &tip.txdata {
        let view = query::tx(&store, &tx.compute_txid().to_string(), Network::Regtest).unwrap();
        for input in &view.inputs {
            let prev = query::tx(&store, &input.prev_txid.to_string(), Network::Regtest).unwrap();
            let link = prev.outputs[input.prev_vout as usize].spent_by.as_ref().expect("spent output is linked");
            assert_eq!((link.txid, link.vin), (view.txid, input.vin));
        }
    }
}

#[test]
fn reorgs_of_depth_1_6_and_100_match_a_clean_index_of_the_winner() {
    let base = build_chain(&SimConfig { blocks: 260, seed: 11, txs_per_block: 12, scenario: Scenario::Basic });
    let tip = base.tip_height().get();
    let opts = SyncOptions { chunk: 50, ..SyncOptions::default() };
    for depth in [1u64, 6, 100] {
        let fork = Height::new(tip - depth);
        let winner = base.with_branch(fork, depth as u32 + 2, 1_000 + depth);
        assert_ne!(
            winner.blocks[fork.get() as usize + 1].block_hash(),
            base.blocks[fork.get() as usize + 1].block_hash()
        );

        let dir = tempfile::tempdir().unwrap();
        let source = MemSource::new(base.blocks.clone());
        sync(dir.path(), &source, Network::Regtest, &opts);
        check_truth(dir.path(), &base);
        source.replace(winner.blocks.clone());
        let report = sync(dir.path(), &source, Network::Regtest, &opts);
        assert_eq!(report.unwound, depth, "depth {depth}");

        let got = open_read_only(dir.path()).unwrap().digest().unwrap();
        assert_eq!(got, clean_digest(&winner), "reorg of depth {depth}");
        check_truth(dir.path(), &winner);
    }
}

#[test]
fn one_indexer_through_reorgs_drops_its_caches_and_matches_a_clean_index() {
    let base = build_chain(&SimConfig { blocks: 240, seed: 5, txs_per_block: 10, scenario: Scenario::Basic });
    let tip = base.tip_height().get();
    let keep = UndoPolicy { keep: true, prune: None };
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
    for (height, block) in base.blocks.iter().enumerate() {
        indexer.execute(&btc_block(height as u64, block), keep).unwrap();
    }
    let mut current = base.clone();
    for depth in [1u64, 6, 100] {
        let fork = tip - depth;
        let winner = current.with_branch(Height::new(fork), depth as u32 + 1, 2_000 + depth);
        for height in (fork + 1..=current.tip_height().get()).rev() {
            assert!(indexer.unwind(Height::new(height)).unwrap(), "undo record of {height}");
        }
        for height in fork + 1..=winner.tip_height().get() {
            indexer.execute(&btc_block(height, &winner.blocks[height as usize]), keep).unwrap();
        }
        assert_eq!(indexer.store().digest().unwrap(), clean_digest(&winner), "reorg of depth {depth}");
        current = winner;
    }
    drop(indexer);
    check_truth(dir.path(), &current);
}
