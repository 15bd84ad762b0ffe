//! Bad input gets a clear error and changes nothing: blocks that spend a
//! missing or already-spent output, do not extend the tip, or create value;
//! queries with an address of another network, an unknown txid or a bad
//! cursor. Also: queries answer from a read-only store beside the writer.

mod index_support;

use bitcoin::{Network, OutPoint};
use chainsleuth_btc::index::{open_read_only, query, BlockFault, IndexError};
use chainsleuth_btc::BtcIndexer;
use chainsleuth_core::Height;
use chainsleuth_store::Store;
use chainsleuth_sync::{Indexer, UndoPolicy};
use index_support::{btc_block, coinbase, make_block, p2wpkh, tx, ChainBuilder};

const KEEP: UndoPolicy = UndoPolicy { keep: true, prune: None };

/// A chain of genesis, a block paying 50 BTC to key 1, and a block moving it to key 2.
fn small_chain() -> ChainBuilder {
    let mut chain = ChainBuilder::default();
    let cb1 = coinbase(1, &[(p2wpkh(1), 5_000_000_000)]);
    let paid = OutPoint { txid: cb1.compute_txid(), vout: 0 };
    chain.push(vec![cb1]);
    let spend = tx(&[paid], &[(p2wpkh(2), 4_000_000_000), (p2wpkh(1), 999_000_000)]);
    chain.push(vec![coinbase(2, &[(p2wpkh(9), 5_000_000_000)]), spend]);
    chain
}

fn index_all(indexer: &mut BtcIndexer, chain: &ChainBuilder) {
    for (height, block) in chain.blocks.iter().enumerate() {
        indexer.execute(&btc_block(height as u64, block), KEEP).unwrap();
    }
}

fn digest(store: &Store) -> [u8; 32] {
    store.digest().unwrap()
}

fn expect_fault(indexer: &mut BtcIndexer, height: u64, block: &bitcoin::Block) -> BlockFault {
    let before = digest(indexer.store());
    let err = indexer.execute(&btc_block(height, block), KEEP).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&format!("block {height} ")), "{message}");
    assert!(message.contains(&block.block_hash().to_string()), "{message}");
    assert_eq!(digest(indexer.store()), before, "a refused block writes nothing");
    match err {
        IndexError::Malformed { fault, .. } => fault,
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn bad_blocks_are_refused_naming_height_and_hash_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
    let chain = small_chain();
    index_all(&mut indexer, &chain);
    let tip = chain.blocks.last().unwrap();
    let spend_txid = chain.blocks[2].txdata[1].compute_txid();
    let funded = OutPoint { txid: chain.blocks[1].txdata[0].compute_txid(), vout: 0 };

    // An input spending an output nobody created.
    let missing = OutPoint { txid: spend_txid, vout: 7 };
    let block = make_block(tip, vec![coinbase(3, &[(p2wpkh(9), 1)]), tx(&[missing], &[(p2wpkh(3), 1)])]);
    assert!(matches!(expect_fault(&mut indexer, 3, &block), BlockFault::UnknownOutput { vout: 7, .. }));
    let unknown_tx = OutPoint { txid: bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()), vout: 1 };
    let block = make_block(tip, vec![coinbase(3, &[(p2wpkh(9), 1)]), tx(&[unknown_tx], &[(p2wpkh(3), 1)])]);
    assert!(matches!(expect_fault(&mut indexer, 3, &block), BlockFault::UnknownOutput { .. }));

    // Spending an output already spent, in an earlier block or twice in this one.
    let block = make_block(tip, vec![coinbase(3, &[(p2wpkh(9), 1)]), tx(&[funded], &[(p2wpkh(3), 1)])]);
    assert!(matches!(expect_fault(&mut indexer, 3, &block), BlockFault::DoubleSpend { .. }));
    let change = OutPoint { txid: spend_txid, vout: 1 };
    let twice = vec![coinbase(3, &[]), tx(&[change], &[(p2wpkh(3), 1)]), tx(&[change], &[(p2wpkh(4), 1)])];
    assert!(matches!(expect_fault(&mut indexer, 3, &make_block(tip, twice)), BlockFault::DoubleSpend { .. }));

    // Spending an output of a later transaction of the same block.
    let later = tx(&[change], &[(p2wpkh(5), 10)]);
    let early = tx(&[OutPoint { txid: later.compute_txid(), vout: 0 }], &[(p2wpkh(6), 5)]);
    let block = make_block(tip, vec![coinbase(3, &[]), early, later]);
    assert!(matches!(expect_fault(&mut indexer, 3, &block), BlockFault::UnknownOutput { .. }));

    // Paying out more than it spends, and outputs that overflow.
    let block = make_block(tip, vec![coinbase(3, &[]), tx(&[change], &[(p2wpkh(3), 999_000_001)])]);
    assert!(matches!(expect_fault(&mut indexer, 3, &block), BlockFault::Value { .. }));
    let block = make_block(tip, vec![coinbase(3, &[(p2wpkh(3), u64::MAX), (p2wpkh(4), 2)])]);
    assert!(matches!(expect_fault(&mut indexer, 3, &block), BlockFault::Value { .. }));

    // A block that does not extend the tip, or comes at the wrong height.
    let orphan = make_block(&chain.blocks[1], vec![coinbase(3, &[(p2wpkh(9), 1)])]);
    assert!(matches!(expect_fault(&mut indexer, 3, &orphan), BlockFault::NotOnTip { .. }));
    let good = make_block(tip, vec![coinbase(3, &[(p2wpkh(9), 1)])]);
    assert!(
        matches!(expect_fault(&mut indexer, 5, &good), BlockFault::WrongHeight { expected } if expected == Height::new(3))
    );

    // After all that, a good block still goes in on top of the untouched tip.
    indexer.execute(&btc_block(3, &good), KEEP).unwrap();
    assert_eq!(indexer.tip().unwrap().unwrap().height, Height::new(3));
    // The coin the refused blocks tried to spend (and took out of the
    // indexer's cache) is still there to spend, once.
    let spend = make_block(&good, vec![coinbase(4, &[]), tx(&[change], &[(p2wpkh(3), 1)])]);
    indexer.execute(&btc_block(4, &spend), KEEP).unwrap();
    let view = query::tx(indexer.store(), &spend_txid.to_string(), Network::Regtest).unwrap();
    let spender = spend.txdata[1].compute_txid();
    assert_eq!(view.outputs[1].spent_by.as_ref().map(|s| (s.txid, s.vin)), Some((spender, 0)));
    let again = make_block(&spend, vec![coinbase(5, &[]), tx(&[change], &[(p2wpkh(3), 1)])]);
    assert!(matches!(expect_fault(&mut indexer, 5, &again), BlockFault::DoubleSpend { .. }));
}

#[test]
fn bad_queries_get_clear_errors_and_reads_work_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
    let chain = small_chain();
    index_all(&mut indexer, &chain);

    // The writer still holds the store; a read-only one opens beside it.
    let store = open_read_only(dir.path()).unwrap();
    let key2 = bitcoin::Address::from_script(&p2wpkh(2), Network::Regtest).unwrap().to_string();
    let summary = query::address_summary(&store, &key2, Network::Regtest).unwrap();
    assert_eq!((summary.balance.0, summary.tx_count), (4_000_000_000, 1));

    let mainnet = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    let err = query::address_summary(&store, mainnet, Network::Regtest).unwrap_err();
    assert!(matches!(err, IndexError::InvalidAddress { .. }));
    let message = err.to_string();
    assert!(message.contains(mainnet) && message.contains("regtest"), "{message}");
    let err = query::address_history(&store, "garbage", Network::Regtest, None, 10).unwrap_err();
    assert!(err.to_string().contains("garbage"), "{err}");

    let err = query::address_history(&store, &key2, Network::Regtest, Some("not-a-cursor"), 10).unwrap_err();
    assert!(matches!(err, IndexError::BadCursor(_)), "{err}");
    assert!(err.to_string().contains("not-a-cursor"));

    let unknown = "00".repeat(32);
    assert!(matches!(query::tx(&store, &unknown, Network::Regtest), Err(IndexError::UnknownTx(_))));
    assert!(matches!(query::tx(&store, "xyz", Network::Regtest), Err(IndexError::InvalidTxid(_))));

    // Asking a regtest store about mainnet is refused by name.
    let err = query::address_summary(&store, mainnet, Network::Bitcoin).unwrap_err();
    assert!(matches!(err, IndexError::NetworkMismatch { .. }), "{err}");
    drop(indexer);
    let err = BtcIndexer::open(dir.path(), Network::Bitcoin).unwrap_err();
    assert!(err.to_string().contains("regtest"), "{err}");

    // The tx view links both ways.
    let spend = chain.blocks[2].txdata[1].compute_txid();
    let view = query::tx(&store, &spend.to_string(), Network::Regtest).unwrap();
    assert_eq!((view.height, view.position, view.coinbase), (Height::new(2), 1, false));
    assert_eq!(view.inputs.len(), 1);
    assert_eq!(view.inputs[0].value.0, 5_000_000_000);
    assert_eq!(view.fee.map(|f| f.0), Some(1_000_000));
    assert_eq!(view.outputs[0].address.as_deref(), Some(key2.as_str()));
    let funding = query::tx(&store, &view.inputs[0].prev_txid.to_string(), Network::Regtest).unwrap();
    let spent_by = funding.outputs[0].spent_by.as_ref().unwrap();
    assert_eq!((spent_by.txid, spent_by.vin), (spend, 0));
    assert!(funding.coinbase && funding.inputs.is_empty() && funding.fee.is_none());
}
