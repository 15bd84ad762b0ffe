//! The paged tag listing: every current tag exactly once across pages,
//! narrowed by chain, category and entity (by name or alias, any case),
//! retired tags left out, and cursors of another listing refused.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use chainsleuth_tags::{Category, Format, ImportOptions, TagChain, TagFilter, TagPage, TagStore, TagsError};
use common::{eth_address, fixture, fresh_store, options};

fn write_list(path: &Path, addresses: &[String]) {
    std::fs::write(path, addresses.iter().map(|a| format!("{a}\n")).collect::<String>()).unwrap();
}

/// Every page of `filter` with `limit`, and the (chain, address, source) of
/// each tag, asserting none comes twice.
fn all_pages(store: &TagStore, filter: &TagFilter, limit: usize) -> (Vec<TagPage>, BTreeSet<(String, String, String)>) {
    let (mut pages, mut seen) = (Vec::new(), BTreeSet::new());
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list(filter, cursor.as_deref(), limit).unwrap();
        assert!(page.tags.len() <= limit);
        for view in &page.tags {
            let key = (view.record.tag.chain.to_string(), view.record.tag.address.clone(), view.source.clone());
            assert!(seen.insert(key.clone()), "{key:?} twice");
        }
        cursor = page.next_cursor.clone();
        pages.push(page);
        if cursor.is_none() {
            return (pages, seen);
        }
    }
}

#[test]
fn listing_pages_every_current_tag_once_and_filters() {
    let (dir, store) = fresh_store();
    let exchange: Vec<String> = (1..=30).map(eth_address).collect();
    let sanctioned: Vec<String> = (100..120).map(eth_address).collect();
    let list = dir.path().join("exchange.txt");
    write_list(&list, &exchange);
    let opts = options("", Some(Category::Exchange), Some("Alpha  Exchange"));
    store.import(&list, Format::List, "exchanges", &opts).unwrap();
    write_list(&list, &sanctioned);
    let opts = options("", Some(Category::Sanctioned), Some("Bad Actor"));
    store.import(&list, Format::List, "sanctions", &opts).unwrap();
    let xbt = ImportOptions { skip_invalid: true, ..options("", Some(Category::Sanctioned), None) };
    store.import(&fixture("sanctioned_addresses_XBT.txt"), Format::List, "xbt", &xbt).unwrap();
    let btc_count = store.tags_of_chain(&TagChain::BTC).unwrap().len();
    assert!(btc_count > 100, "{btc_count}");

    let (pages, seen) = all_pages(&store, &TagFilter::default(), 7);
    assert_eq!(seen.len(), 50 + btc_count);
    assert_eq!(pages.len(), (50 + btc_count).div_ceil(7));

    let eth = TagFilter { chain: Some(TagChain::ETH), ..TagFilter::default() };
    let (_, seen) = all_pages(&store, &eth, 1000);
    assert_eq!(seen.len(), 50);
    assert!(seen.iter().all(|(chain, _, _)| chain == "eth"));

    let exchanges = TagFilter { category: Some(Category::Exchange), ..TagFilter::default() };
    let (pages, seen) = all_pages(&store, &exchanges, 9);
    assert_eq!(seen.iter().map(|(_, a, _)| a.clone()).collect::<BTreeSet<_>>(), exchange.iter().cloned().collect());
    assert!(pages.iter().flat_map(|p| &p.tags).all(|t| t.record.tag.category == Category::Exchange));

    let alpha = TagFilter { entity: Some("alpha exchange".into()), ..TagFilter::default() };
    assert_eq!(all_pages(&store, &alpha, 4).1.len(), 30);
    let alpha_btc = TagFilter { chain: Some(TagChain::BTC), ..alpha.clone() };
    assert!(store.list(&alpha_btc, None, 10).unwrap().tags.is_empty());
    let alpha_sanctioned = TagFilter { category: Some(Category::Sanctioned), ..alpha.clone() };
    assert!(store.list(&alpha_sanctioned, None, 10).unwrap().tags.is_empty());
    let nobody = TagFilter { entity: Some("Nobody".into()), ..TagFilter::default() };
    assert_eq!(store.list(&nobody, None, 10).unwrap(), TagPage { tags: Vec::new(), next_cursor: None });

    // A re-import that drops ten exchange addresses retires their tags.
    write_list(&list, &exchange[10..]);
    let opts = options("", Some(Category::Exchange), Some("Alpha Exchange"));
    store.import(&list, Format::List, "exchanges", &opts).unwrap();
    assert_eq!(all_pages(&store, &exchanges, 1000).1.len(), 20);
    assert_eq!(all_pages(&store, &alpha, 1000).1.len(), 20);

    let entity_cursor = store.list(&alpha, None, 1).unwrap().next_cursor.unwrap();
    for bad in ["zz", "", "00", entity_cursor.as_str()] {
        let err = store.list(&eth, Some(bad), 5).unwrap_err();
        assert!(matches!(err, TagsError::BadCursor(_)), "{bad:?}: {err}");
    }
    assert!(store.list(&alpha, Some(&entity_cursor), 5).is_ok());
}
