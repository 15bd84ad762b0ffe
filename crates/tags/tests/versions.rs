//! Versions of a source: a changed file retires and adds exactly the
//! difference, identical content is a no-op, history keeps retired tags,
//! diff compares versions.

mod common;

use std::io::Write;
use std::path::Path;

use chainsleuth_tags::{Category, Format, TagChain};
use common::{eth_address, fresh_store, options};

fn write_csv(path: &Path, rows: &[(String, &str)]) {
    let mut file = std::fs::File::create(path).unwrap();
    writeln!(file, "address,label").unwrap();
    for (address, label) in rows {
        writeln!(file, "{address},{label}").unwrap();
    }
}

#[test]
fn reimport_retires_and_adds_exactly_the_difference() {
    let (dir, store) = fresh_store();
    let opts = options("", Some(Category::CashOutNetwork), Some("Courier ring"));
    let (a, b, c, d) = (eth_address(1), eth_address(2), eth_address(3), eth_address(4));
    let v1 = dir.path().join("v1.csv");
    write_csv(&v1, &[(a.clone(), "desk A"), (b.clone(), "desk B"), (c.clone(), "desk C")]);
    let first = store.import(&v1, Format::Csv, "couriers", &opts).unwrap();
    assert_eq!((first.version, first.added, first.retired), (1, 3, 0));

    // B unchanged, C relabelled (one tag retired, one added), A dropped, D new.
    let v2 = dir.path().join("v2.csv");
    write_csv(&v2, &[(b.clone(), "desk B"), (c.clone(), "desk C (moved)"), (d.clone(), "desk D")]);
    let second = store.import(&v2, Format::Csv, "couriers", &opts).unwrap();
    assert_eq!((second.version, second.added, second.retired, second.unchanged), (2, 2, 2, 1));

    let eth = TagChain::ETH;
    assert!(store.tags_for(&eth, &a).unwrap().is_empty());
    let history = store.history(&eth, &a).unwrap();
    assert_eq!(history.len(), 1);
    let retired = history[0].record.retired.unwrap();
    assert_eq!(retired.version, 2);
    assert_eq!(store.tags_for(&eth, &b).unwrap()[0].record.provenance.version, 1);
    let c_now = store.tags_for(&eth, &c).unwrap();
    assert_eq!(c_now.len(), 1);
    assert_eq!(c_now[0].record.tag.label.as_deref(), Some("desk C (moved)"));
    assert_eq!(store.history(&eth, &c).unwrap().len(), 2);
    assert_eq!(store.tags_for(&eth, &d).unwrap()[0].record.provenance.record, 4);

    let diff = store.diff("couriers", 1, 2).unwrap();
    let mut added: Vec<_> = diff.added.iter().map(|t| t.record.tag.address.clone()).collect();
    let mut removed: Vec<_> = diff.removed.iter().map(|t| t.record.tag.address.clone()).collect();
    added.sort();
    removed.sort();
    let (mut want_added, mut want_removed) = (vec![c.clone(), d.clone()], vec![a.clone(), c.clone()]);
    want_added.sort();
    want_removed.sort();
    assert_eq!((added, removed), (want_added, want_removed));
    assert!(store.diff("couriers", 1, 3).unwrap_err().to_string().contains("no version 3"));
    assert!(store.diff("nobody", 1, 2).is_err());

    // Identical content: nothing written at all.
    let before = store.store().digest().unwrap();
    let same = store.import(&v2, Format::Csv, "couriers", &opts).unwrap();
    assert!(!same.changed);
    assert_eq!((same.version, same.added, same.retired), (2, 0, 0));
    assert_eq!(store.store().digest().unwrap(), before);

    // A comes back in version 3 as a new row; its old row stays retired.
    let v3 = dir.path().join("v3.csv");
    write_csv(
        &v3,
        &[(a.clone(), "desk A"), (b.clone(), "desk B"), (c.clone(), "desk C (moved)"), (d.clone(), "desk D")],
    );
    let third = store.import(&v3, Format::Csv, "couriers", &opts).unwrap();
    assert_eq!((third.version, third.added, third.retired, third.unchanged), (3, 1, 0, 3));
    assert_eq!(store.tags_for(&eth, &a).unwrap()[0].record.provenance.version, 3);
    assert_eq!(store.history(&eth, &a).unwrap().len(), 2);

    let source = store.source("couriers").unwrap().unwrap();
    assert_eq!(source.active_version, 3);
    let counts: Vec<_> = source.versions.iter().map(|v| (v.version, v.tags, v.added, v.retired)).collect();
    assert_eq!(counts, vec![(1, 3, 3, 0), (2, 3, 2, 2), (3, 4, 1, 0)]);
    let entity = store.entity("courier ring").unwrap().unwrap();
    assert_eq!(entity.addresses().len(), 4);
}

#[test]
fn sources_are_independent() {
    let (dir, store) = fresh_store();
    let opts = options("", Some(Category::OtcDesk), None);
    let shared = eth_address(9);
    let one = dir.path().join("one.csv");
    write_csv(&one, &[(shared.clone(), "one")]);
    let two = dir.path().join("two.csv");
    write_csv(&two, &[(shared.clone(), "two")]);
    store.import(&one, Format::Csv, "first", &opts).unwrap();
    store.import(&two, Format::Csv, "second", &opts).unwrap();
    assert_eq!(store.tags_for(&TagChain::ETH, &shared).unwrap().len(), 2);
    // Emptying one source's tags (a file with another address) leaves the other's.
    write_csv(&one, &[(eth_address(10), "other")]);
    store.import(&one, Format::Csv, "first", &opts).unwrap();
    let left = store.tags_for(&TagChain::ETH, &shared).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].source, "second");
}
