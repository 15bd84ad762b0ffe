//! Two coinbases with the same txid (as at mainnet heights 91842 and 91880,
//! before BIP34): the newer transaction takes the txid, both pay their
//! address, and unwinding the newer block gives the txid back to the older.

mod index_support;

use bitcoin::Network;
use chainsleuth_btc::index::{open_read_only, query};
use chainsleuth_btc::BtcIndexer;
use chainsleuth_core::Height;
use chainsleuth_sync::{Indexer, UndoPolicy};
use index_support::{btc_block, coinbase, p2wpkh, ChainBuilder};

#[test]
fn a_repeated_coinbase_txid_points_at_the_newer_tx_and_unwinds_back() {
    let keep = UndoPolicy { keep: true, prune: None };
    let repeated = coinbase(1, &[(p2wpkh(7), 5_000_000_000)]);
    let mut chain = ChainBuilder::default();
    chain.push(vec![repeated.clone()]);
    chain.push(vec![repeated.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
    for height in 0..2 {
        indexer.execute(&btc_block(height, &chain.blocks[height as usize]), keep).unwrap();
    }
    let before = indexer.store().digest().unwrap();
    indexer.execute(&btc_block(2, &chain.blocks[2]), keep).unwrap();

    let txid = repeated.compute_txid().to_string();
    let address = bitcoin::Address::from_script(&p2wpkh(7), Network::Regtest).unwrap().to_string();
    {
        let store = open_read_only(dir.path()).unwrap();
        assert_eq!(query::tx(&store, &txid, Network::Regtest).unwrap().height, Height::new(2));
        let summary = query::address_summary(&store, &address, Network::Regtest).unwrap();
        assert_eq!((summary.received.0, summary.tx_count), (10_000_000_000, 2));
    }
    assert!(indexer.unwind(Height::new(2)).unwrap());
    assert_eq!(indexer.store().digest().unwrap(), before);
    let store = open_read_only(dir.path()).unwrap();
    assert_eq!(query::tx(&store, &txid, Network::Regtest).unwrap().height, Height::new(1));
}
