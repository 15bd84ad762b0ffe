//! The store on a real RocksDB directory: typed rows, scans, atomic batches
//! with undo, read-only opening, and the format guard.

use chainsleuth_core::{AddressId, BlockHash, BlockRef, Height, TxNum};
use chainsleuth_store::{tables, Direction, Meta, OpenMode, Schema, Store, StoreConfig, StoreError};

tables! {
    /// Test history rows.
    History("test_history"): (AddressId, TxNum) => u64;
    /// Test summaries.
    Summary("test_summary"): AddressId => u64;
}

static SCHEMA: Schema =
    Schema { name: "test", format: 1, tables: &["test_history", "test_summary"], digest_excludes: &[] };
static OTHER_FORMAT: Schema =
    Schema { name: "test", format: 2, tables: &["test_history", "test_summary"], digest_excludes: &[] };
static NEWER_FORMAT: Schema =
    Schema { name: "test", format: 3, tables: &["test_history", "test_summary", "test_new"], digest_excludes: &[] };

fn tip(height: u64) -> BlockRef {
    BlockRef { height: Height::new(height), hash: BlockHash([height as u8; 32]) }
}

#[test]
fn last_rows_finds_the_newest_row_of_each_prefix() {
    use chainsleuth_store::Codec;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();
    let mut batch = store.batch();
    for (addr, txs) in [(1u64, 5u64), (3, 1), (5, 7), (u64::MAX, 2)] {
        for tx in 0..txs {
            batch.put::<History>(&(AddressId(addr), TxNum(tx)), &(addr.wrapping_mul(10) + tx)).unwrap();
        }
    }
    store.write(batch).unwrap();
    let ids = [5u64, 0, 3, 2, 1, 6, u64::MAX, 4];
    let prefixes: Vec<Vec<u8>> = ids.iter().map(|id| AddressId(*id).encode()).collect();
    let found: Vec<Option<((AddressId, TxNum), u64)>> = store.last_rows::<History>(&prefixes).unwrap();
    let want = |addr: u64, tx: u64| Some(((AddressId(addr), TxNum(tx)), addr.wrapping_mul(10) + tx));
    assert_eq!(found, vec![want(5, 6), None, want(3, 0), None, want(1, 4), None, want(u64::MAX, 1), None]);
    assert!(store.last_rows::<History>(&[]).unwrap().is_empty());
}

#[test]
fn scans_page_in_both_directions_from_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();
    let mut batch = store.batch();
    for addr in 1..=3u64 {
        for tx in 0..50u64 {
            batch.put::<History>(&(AddressId(addr), TxNum(tx * 3)), &(addr * 1000 + tx)).unwrap();
        }
    }
    store.write(batch).unwrap();

    let prefix = chainsleuth_store::Codec::encode(&AddressId(2));
    let rows: Vec<_> = store.scan::<History>(&prefix, None, Direction::Forward).unwrap().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|((addr, _), _)| *addr == AddressId(2)));
    assert!(rows.windows(2).all(|w| w[0].0 .1 < w[1].0 .1));

    let newest: Vec<_> =
        store.scan::<History>(&prefix, None, Direction::Reverse).unwrap().take(2).map(Result::unwrap).collect();
    assert_eq!(newest[0].0, (AddressId(2), TxNum(147)));
    // A cursor between rows: reverse scan resumes at the next older row.
    let cursor = chainsleuth_store::Codec::encode(&(AddressId(2), TxNum(100)));
    let page: Vec<_> = store
        .scan::<History>(&prefix, Some(&cursor), Direction::Reverse)
        .unwrap()
        .take(1)
        .map(Result::unwrap)
        .collect();
    assert_eq!(page[0].0, (AddressId(2), TxNum(99)));
    // The first address's rows end where its prefix does.
    let last_of_first = store
        .scan::<History>(&chainsleuth_store::Codec::encode(&AddressId(1)), None, Direction::Reverse)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(last_of_first.0, (AddressId(1), TxNum(147)));
}

#[test]
fn unwind_restores_exactly_the_state_before_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();

    let mut batch = store.batch();
    batch.insert::<Summary>(&AddressId(1), &10).unwrap();
    batch.set_tip(tip(0), None).unwrap();
    batch.keep_undo(Height::new(0), None).unwrap();
    store.write(batch).unwrap();
    let before = store.digest().unwrap();

    let mut batch = store.batch();
    batch.update::<Summary>(&AddressId(1), &25, Some(&10)).unwrap();
    batch.insert::<Summary>(&AddressId(2), &5).unwrap();
    batch.insert::<History>(&(AddressId(2), TxNum(1)), &5).unwrap();
    batch.set_tip(tip(1), Some(tip(0))).unwrap();
    batch.keep_undo(Height::new(1), None).unwrap();
    store.write(batch).unwrap();
    assert_ne!(store.digest().unwrap(), before);
    assert_eq!(store.tip().unwrap(), Some(tip(1)));

    assert!(store.unwind_block(Height::new(1)).unwrap());
    assert_eq!(store.tip().unwrap(), Some(tip(0)));
    assert_eq!(store.get::<Summary>(&AddressId(1)).unwrap(), Some(10));
    assert_eq!(store.get::<Summary>(&AddressId(2)).unwrap(), None);
    assert_eq!(store.digest().unwrap(), before);
    // The record is gone: a second unwind of the same height does nothing.
    assert!(!store.unwind_block(Height::new(1)).unwrap());
}

#[test]
fn an_untracked_batch_writes_the_same_rows_and_records_no_undo() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let stores: Vec<Store> =
        dirs.iter().map(|dir| Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap()).collect();
    for (store, tracked) in stores.iter().zip([true, false]) {
        let mut batch = store.batch();
        batch.insert::<Summary>(&AddressId(1), &10).unwrap();
        batch.insert::<Summary>(&AddressId(3), &7).unwrap();
        store.write(batch).unwrap();

        let mut batch = store.batch_tracking(tracked);
        batch.update::<Summary>(&AddressId(1), &25, Some(&10)).unwrap();
        batch.insert::<History>(&(AddressId(2), TxNum(1)), &5).unwrap();
        batch.remove::<Summary>(&AddressId(3), &7).unwrap();
        batch.set_tip(tip(1), None).unwrap();
        batch.keep_undo(Height::new(1), None).unwrap();
        store.write(batch).unwrap();
    }
    let undo_len = |store: &Store| store.get::<chainsleuth_store::Undo>(&1).unwrap().unwrap().entries.len();
    assert_eq!(undo_len(&stores[0]), 4);
    assert_eq!(undo_len(&stores[1]), 0);
    // The same rows either way; the undo records differ, so compare the rows.
    for store in &stores {
        assert_eq!(store.get::<Summary>(&AddressId(1)).unwrap(), Some(25));
        assert_eq!(store.get::<Summary>(&AddressId(3)).unwrap(), None);
        assert_eq!(store.get::<History>(&(AddressId(2), TxNum(1))).unwrap(), Some(5));
        assert_eq!(store.tip().unwrap(), Some(tip(1)));
    }
}

#[test]
fn bulk_mode_data_survives_reopen_after_leaving_bulk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();
        store.set_bulk(true).unwrap();
        let mut batch = store.batch();
        batch.put::<Summary>(&AddressId(9), &99).unwrap();
        batch.set_tip(tip(3), None).unwrap();
        store.write(batch).unwrap();
        store.set_bulk(false).unwrap();
    }
    let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();
    assert_eq!(store.get::<Summary>(&AddressId(9)).unwrap(), Some(99));
    assert_eq!(store.tip().unwrap(), Some(tip(3)));
}

/// Bulk mode's small memtables flush many times over this much data: rows
/// stay readable (point reads, scans both ways) across those files, before
/// and after leaving bulk mode and after reopening.
#[test]
fn bulk_mode_reads_span_many_flushed_memtables() {
    let dir = tempfile::tempdir().unwrap();
    let (addrs, txs) = (2_000u64, 150u64);
    let check = |store: &Store| {
        let keys: Vec<AddressId> = (0..addrs).step_by(7).map(AddressId).collect();
        let values = store.multi_get::<Summary>(&keys).unwrap();
        assert!(keys.iter().zip(values).all(|(k, v)| v == Some(k.0 * 2)));
        let prefix = chainsleuth_store::Codec::encode(&AddressId(1_234));
        let forward: Vec<u64> =
            store.scan::<History>(&prefix, None, Direction::Forward).unwrap().map(|r| r.unwrap().1).collect();
        assert_eq!(forward, (0..txs).map(|tx| 1_234 * 1_000 + tx).collect::<Vec<_>>());
        let newest = store.scan::<History>(&prefix, None, Direction::Reverse).unwrap().next().unwrap().unwrap();
        assert_eq!(newest, ((AddressId(1_234), TxNum(txs - 1)), 1_234 * 1_000 + txs - 1));
        let prefixes: Vec<Vec<u8>> =
            [1_999u64, 0, 77].iter().map(|a| chainsleuth_store::Codec::encode(&AddressId(*a))).collect();
        let newest = store.last_rows::<History>(&prefixes).unwrap();
        let want = [1_999u64, 0, 77].map(|a| Some(((AddressId(a), TxNum(txs - 1)), a * 1_000 + txs - 1)));
        assert_eq!(newest, want);
    };
    {
        let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();
        store.set_bulk(true).unwrap();
        // Transactions in chain order, each touching addresses all over the key space.
        for tx in 0..txs {
            let mut batch = store.batch();
            for addr in 0..addrs {
                let addr = (addr * 7_919 + tx) % addrs;
                batch.put::<History>(&(AddressId(addr), TxNum(tx)), &(addr * 1_000 + tx)).unwrap();
                batch.put::<Summary>(&AddressId(addr), &(addr * 2)).unwrap();
            }
            batch.set_tip(tip(tx), tx.checked_sub(1).map(tip)).unwrap();
            store.write(batch).unwrap();
        }
        check(&store);
        store.set_bulk(false).unwrap();
        check(&store);
    }
    let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();
    check(&store);
    assert_eq!(store.tip().unwrap(), Some(tip(txs - 1)));
}

#[test]
fn read_only_open_beside_a_writer_sees_data_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap();
    let mut batch = writer.batch();
    batch.put::<Summary>(&AddressId(4), &44).unwrap();
    writer.write(batch).unwrap();

    let reader = Store::open(dir.path(), &SCHEMA, OpenMode::ReadOnly).unwrap();
    assert_eq!(reader.get::<Summary>(&AddressId(4)).unwrap(), Some(44));
    let mut batch = reader.batch();
    batch.put::<Summary>(&AddressId(5), &55).unwrap();
    assert!(matches!(reader.write(batch), Err(StoreError::ReadOnly)));
}

#[test]
fn memtables_stay_within_the_configured_write_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 4u64 << 20;
    let config = StoreConfig { cache_bytes: 16 << 20, write_buffer_bytes: limit as usize, scan_only: &[] };
    let store = Store::open_with(dir.path(), &SCHEMA, OpenMode::ReadWrite, &config).unwrap();
    let mut peak = 0;
    // 48 MB in 1 MB batches, far below each table's own 64 MB memtable size.
    for i in 0..48u32 {
        let mut batch = store.batch();
        batch.put::<Meta>(&format!("row-{i}"), &vec![i as u8; 1 << 20]).unwrap();
        store.write(batch).unwrap();
        peak = peak.max(store.memtable_bytes());
    }
    // The active memtable and one flushing, each about the bound.
    assert!(peak <= 3 * limit, "memtables reached {peak} bytes with a {limit}-byte bound");
    drop(store);
    let store = Store::open(dir.path(), &SCHEMA, OpenMode::ReadOnly).unwrap();
    assert_eq!(store.get::<Meta>(&"row-47".to_owned()).unwrap(), Some(vec![47; 1 << 20]));
}

#[test]
fn opening_another_format_fails_with_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap());
    let err = Store::open(dir.path(), &OTHER_FORMAT, OpenMode::ReadWrite).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("format 1") && text.contains("format 2"), "{text}");
    // A reader of a newer format with a table the old store lacks gets the same answer.
    let err = Store::open(dir.path(), &NEWER_FORMAT, OpenMode::ReadOnly).unwrap_err();
    assert!(matches!(err, StoreError::FormatMismatch { found: 1, expected: 3, .. }), "{err}");
    let meta =
        Store::open(dir.path(), &SCHEMA, OpenMode::ReadWrite).unwrap().get::<Meta>(&"schema".to_owned()).unwrap();
    assert_eq!(meta.as_deref(), Some(&b"test"[..]));
}

#[test]
fn undocumented_tables_are_those_without_a_row_in_the_doc() {
    let doc = "| table | key |\n|---|---|\n| `test_history` | address, position |\n";
    assert_eq!(SCHEMA.undocumented_tables(doc), ["test_summary"]);
    assert!(SCHEMA.undocumented_tables(&format!("{doc}| `test_summary` | address |\n")).is_empty());
}
