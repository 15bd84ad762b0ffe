//! History paging: an address with 100,000 history rows, written through
//! the real sync loop and store, pages through every row exactly once,
//! newest first, whatever the page size. The chain also exercises spends of
//! outputs created earlier in the same block (each block is one long chain
//! of transactions).

mod index_support;

use std::collections::HashSet;

use bitcoin::{Network, OutPoint};
use chainsleuth_btc::index::{open_read_only, query};
use chainsleuth_sync::SyncOptions;
use index_support::{coinbase, p2wpkh, sync, tx, ChainBuilder, MemSource};

const BLOCKS: u64 = 100;
const PER_BLOCK: u64 = 1_000;
const PAYMENT: u64 = 1_000;

#[test]
fn a_100k_row_history_pages_through_every_row_once_in_order() {
    let target = p2wpkh(0xaa);
    let funder = p2wpkh(0xf0);
    let mut chain = ChainBuilder::default();
    let cb = coinbase(1, &[(funder.clone(), 5_000_000_000)]);
    let mut coin = (OutPoint { txid: cb.compute_txid(), vout: 0 }, 5_000_000_000u64);
    chain.push(vec![cb]);
    for height in 2..2 + BLOCKS {
        let mut txs = vec![coinbase(height, &[(p2wpkh(0x01), 5_000_000_000)])];
        for _ in 0..PER_BLOCK {
            let change = coin.1 - PAYMENT;
            let t = tx(&[coin.0], &[(target.clone(), PAYMENT), (funder.clone(), change)]);
            coin = (OutPoint { txid: t.compute_txid(), vout: 1 }, change);
            txs.push(t);
        }
        chain.push(txs);
    }
    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(chain.blocks.clone()), Network::Regtest, &SyncOptions::default());
    let store = open_read_only(dir.path()).unwrap();

    let address = bitcoin::Address::from_script(&target, Network::Regtest).unwrap().to_string();
    let summary = query::address_summary(&store, &address, Network::Regtest).unwrap();
    let rows = BLOCKS * PER_BLOCK;
    assert_eq!((summary.tx_count, summary.balance.0), (rows, rows * PAYMENT));
    let funder_text = bitcoin::Address::from_script(&funder, Network::Regtest).unwrap().to_string();
    let funder_summary = query::address_summary(&store, &funder_text, Network::Regtest).unwrap();
    assert_eq!((funder_summary.tx_count, funder_summary.balance.0), (rows + 1, coin.1));

    for limit in [100, 997] {
        let mut seen = HashSet::new();
        let mut last: Option<(u64, u32)> = None;
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = query::address_history(&store, &address, Network::Regtest, cursor.as_deref(), limit).unwrap();
            pages += 1;
            assert!(page.rows.len() <= limit);
            for row in &page.rows {
                let at = (row.height.get(), row.position);
                assert!(last.is_none_or(|last| at < last), "rows newest first: {at:?} after {last:?}");
                last = Some(at);
                assert!(seen.insert(row.txid), "row {} seen twice", row.txid);
                assert_eq!((row.received.0, row.sent.0), (PAYMENT, 0));
            }
            match page.next_cursor {
                Some(next) => {
                    assert_eq!(page.rows.len(), limit, "only the last page is short");
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen.len() as u64, rows, "page size {limit}");
        assert_eq!(pages, rows.div_ceil(limit as u64));
        assert_eq!(last, Some((2, 1)), "the oldest row comes last");
    }
}
