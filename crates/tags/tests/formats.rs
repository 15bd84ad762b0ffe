//! Each format imports its real sample (tests/data, see the README there):
//! counts and fields are checked against the file.

mod common;

use chainsleuth_tags::{entity_id, file_sha256, Category, Format, ImportOptions, TagChain};
use common::{fixture, fresh_store, import_fixture, options};

/// The 1-based line of the first line of `file` containing `needle`.
fn line_of(file: &str, needle: &str) -> u64 {
    let text = std::fs::read_to_string(fixture(file)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

#[test]
fn csv_ofac_ethereum_list_with_entity_mapping() {
    let (_dir, store) = fresh_store();
    let opts = options("entity=name", Some(Category::Sanctioned), None);
    let report = import_fixture(&store, "ofac-ethereum-addresses.csv", Format::Csv, "ofac-eth", &opts).unwrap();
    assert_eq!((report.records, report.tags, report.added, report.version), (97, 97, 97, 1));
    assert_eq!(report.per_chain.get("eth"), Some(&97));
    let tags = store.tags_for(&TagChain::ETH, "0x098B716B8Aaf21512996dC57EB0615e2383E2f96").unwrap();
    assert_eq!(tags.len(), 1);
    let tag = &tags[0];
    assert_eq!(tag.source, "ofac-eth");
    assert_eq!(tag.display_address, "0x098B716B8Aaf21512996dC57EB0615e2383E2f96");
    assert_eq!(tag.record.tag.entity.as_deref(), Some("LAZARUS GROUP"));
    assert_eq!(tag.record.tag.category, Category::Sanctioned);
    assert_eq!(tag.record.tag.confidence.value, 5);
    let prov = &tag.record.provenance;
    assert_eq!(prov.record, 2);
    assert_eq!(prov.file_sha256, file_sha256(&fixture("ofac-ethereum-addresses.csv")).unwrap().0);
    assert_eq!((prov.version, prov.import_id), (1, report.import_id));
    // The lowercase form finds the same tag.
    assert_eq!(store.tags_for(&TagChain::ETH, "0x098b716b8aaf21512996dc57eb0615e2383e2f96").unwrap().len(), 1);
    let lazarus = store.entity("Lazarus Group").unwrap().unwrap();
    assert_eq!(lazarus.id, "lazarus group");
    assert_eq!(lazarus.addresses().len(), 8);
}

#[test]
fn csv_etherscan_export_with_renamed_columns() {
    let (_dir, store) = fresh_store();
    let opts = options("address=Address,label=Name Tag", Some(Category::Mixer), Some("Tornado Cash"));
    let report = import_fixture(&store, "etherscan-tornado-cash.csv", Format::Csv, "etherscan", &opts).unwrap();
    assert_eq!((report.tags, report.added), (63, 63));
    let tags = store.tags_for(&TagChain::ETH, "0x12d66f87a04a9e220743712ce6d9bb1b5616b8fc").unwrap();
    assert_eq!(tags[0].record.tag.label.as_deref(), Some("Tornado.Cash: 0.1 ETH"));
    assert_eq!(tags[0].record.tag.category, Category::Mixer);
    assert_eq!(tags[0].record.provenance.record, 3);
}

#[test]
fn jsonl_eth_labels() {
    let (_dir, store) = fresh_store();
    let opts = options("label=nameTag", Some(Category::Mixer), Some("Tornado Cash"));
    let report = import_fixture(&store, "eth-labels-tornado-cash.jsonl", Format::Jsonl, "eth-labels", &opts).unwrap();
    assert_eq!((report.records, report.tags, report.added), (63, 63, 63));
    let tags = store.tags_for(&TagChain::ETH, "0x178169b423a011fff22b9e3f3abea13414ddd0f1").unwrap();
    assert_eq!(tags[0].record.tag.label.as_deref(), Some("Tornado.Cash: 0.1 WBTC"));
    assert_eq!(tags[0].record.provenance.record, 3);
    assert_eq!(store.entity("tornado cash").unwrap().unwrap().addresses().len(), 63);
}

#[test]
fn tagpack_header_fields_are_inherited() {
    let (_dir, store) = fresh_store();
    let report = import_fixture(&store, "hydra.yaml", Format::Tagpack, "gs-hydra", &ImportOptions::default()).unwrap();
    assert_eq!((report.records, report.tags, report.added), (117, 117, 117));
    assert_eq!(report.per_chain.get("btc"), Some(&117));
    let tags = store.tags_for(&TagChain::BTC, "bc1qj6j6p0jdefl6pvdzx3kx8245yy5mz6q4luhzes").unwrap();
    let tag = &tags[0].record.tag;
    assert_eq!(tag.category, Category::DarknetMarket);
    assert_eq!(tag.concepts, vec!["market".to_owned()]);
    assert_eq!(tag.label.as_deref(), Some("Hydra Market"));
    assert_eq!(tag.entity.as_deref(), Some("hydramarket"));
    assert_eq!((tag.confidence.value, tag.confidence.level.as_deref()), (60, Some("authority_data")));
    assert_eq!(
        tag.reference.as_deref(),
        Some("https://home.treasury.gov/policy-issues/financial-sanctions/recent-actions/20220405")
    );
    assert_eq!(tags[0].record.provenance.record, line_of("hydra.yaml", "bc1qj6j6p0jdefl6pvdzx3kx8245yy5mz6q4luhzes"));
}

#[test]
fn tagpack_with_checksummed_eth_and_a_repeated_address() {
    let (_dir, store) = fresh_store();
    let report =
        import_fixture(&store, "tornado_cash.yaml", Format::Tagpack, "gs-tornado", &ImportOptions::default()).unwrap();
    // The last entry repeats an earlier address with a trailing blank.
    assert_eq!((report.tags, report.added, report.duplicates), (39, 38, 1));
    let tags = store.tags_for(&TagChain::ETH, "0x4736dCf1b7A3d580672CcE6E7c65cd5cc9cFBa9D").unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].record.tag.category, Category::Mixer);
    assert_eq!(tags[0].record.provenance.record, 18);
}

#[test]
fn tagpack_entries_set_their_own_currency_and_other_chains_are_kept() {
    let (_dir, store) = fresh_store();
    let demo = import_fixture(&store, "demo.yaml", Format::Tagpack, "gs-demo", &ImportOptions::default()).unwrap();
    assert_eq!(demo.tags, 5);
    for chain in ["btc", "bch", "eth", "xrp", "zec"] {
        assert_eq!(demo.per_chain.get(chain), Some(&1), "{chain}");
    }
    assert_eq!(demo.other_chains, 3);
    let xrp: TagChain = "xrp".parse().unwrap();
    let kept = store.tags_for(&xrp, "rGeyCsqc6vKXuyTGF39WJxmTRemoV3c97h").unwrap();
    assert_eq!(kept[0].record.tag.label.as_deref(), Some("Internet Archive"));
    assert_eq!(kept[0].record.tag.category, Category::Other);

    let okx = import_fixture(&store, "exchange-wallets-okx.yaml", Format::Tagpack, "gs-okx", &ImportOptions::default())
        .unwrap();
    assert_eq!((okx.tags, okx.per_chain.get("btc"), okx.per_chain.get("eth")), (36, Some(&23), Some(&13)));
    let tags = store.tags_for(&TagChain::BTC, "16rF2zwSJ9goQ9fZfYoti5LsUqqegb5RnA").unwrap();
    assert_eq!(tags[0].record.tag.category, Category::Exchange);
    assert_eq!(tags[0].record.tag.confidence.value, 50);
}

#[test]
fn actorpack_imports_entities_that_tags_share() {
    let (_dir, store) = fresh_store();
    let actors = import_fixture(
        &store,
        "graphsense-actorpack-excerpt.yaml",
        Format::Actorpack,
        "gs-actors",
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!((actors.entities, actors.tags), (17, 0));
    let okx = store.entity("okex").unwrap().unwrap();
    let (source, record) = &okx.records[0];
    assert_eq!(source, "gs-actors");
    assert_eq!(record.entity.name, "OKX");
    assert!(record.entity.jurisdictions.contains(&"SC".to_owned()));
    // organization maps to nothing; exchange, defi_dex and the two mining
    // concepts map to three categories.
    assert_eq!(record.entity.categories, vec![Category::Exchange, Category::Defi, Category::MiningPool]);
    // Found by display name too.
    assert_eq!(store.entity("OKX").unwrap().unwrap().id, "okex");

    import_fixture(&store, "hydra.yaml", Format::Tagpack, "gs-hydra", &ImportOptions::default()).unwrap();
    let hydra = store.entity("hydramarket").unwrap().unwrap();
    assert_eq!(hydra.records[0].1.entity.name, "Hydra Market");
    assert_eq!(hydra.addresses().len(), 117);
}

#[test]
fn ofac_legacy_sdn_xml() {
    let (_dir, store) = fresh_store();
    let report = import_fixture(&store, "sdn.xml", Format::OfacSdn, "ofac-sdn", &ImportOptions::default()).unwrap();
    assert_eq!((report.entities, report.tags), (4, 7));
    assert_eq!(report.per_chain.get("btc"), Some(&2));
    assert_eq!(report.per_chain.get("eth"), Some(&3));
    assert_eq!(report.per_chain.get("xmr"), Some(&1));
    assert_eq!(report.per_chain.get("trx"), Some(&1));
    assert_eq!(report.other_chains, 2);
    let tags = store.tags_for(&TagChain::BTC, "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA").unwrap();
    let tag = &tags[0].record.tag;
    assert_eq!(tag.category, Category::Sanctioned);
    assert_eq!(tag.entity.as_deref(), Some("HYDRA MARKET"));
    assert_eq!(tag.jurisdiction.as_deref(), Some("RU"));
    assert_eq!(tag.confidence.value, 60);
    assert_eq!(tag.note.as_deref(), Some("OFAC programs: CYBER2, RUSSIA-EO14024"));
    assert_eq!(tags[0].record.provenance.record, line_of("sdn.xml", "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA"));
    let lazarus = store.entity("lazarus group").unwrap().unwrap();
    let entity = &lazarus.records[0].1.entity;
    assert_eq!(entity.aliases, vec!["APPLEWORM".to_owned(), "GUARDIANS OF PEACE".to_owned()]);
    assert_eq!(entity.jurisdictions, vec!["KP".to_owned()]);
    assert_eq!(lazarus.addresses().len(), 2);
    assert!(store.entity("test without addresses").unwrap().is_none());
    let trx: TagChain = "trx".parse().unwrap();
    assert_eq!(store.tags_for(&trx, "TBHTJqAy4DhHhmT3dNceJYNRz4SdLofLre").unwrap().len(), 1);
}

#[test]
fn ofac_advanced_xml() {
    let (_dir, store) = fresh_store();
    let report =
        import_fixture(&store, "sdn_advanced.xml", Format::OfacSdn, "ofac-adv", &ImportOptions::default()).unwrap();
    assert_eq!((report.entities, report.tags, report.other_chains), (3, 6, 2));
    let tags = store.tags_for(&TagChain::ETH, "0xa0e1c89Ef1a489c9C7dE96311eD5Ce5D32c20E4B").unwrap();
    assert_eq!(tags[0].record.tag.entity.as_deref(), Some("LAZARUS GROUP"));
    assert_eq!(
        tags[0].record.provenance.record,
        line_of("sdn_advanced.xml", "0xa0e1c89Ef1a489c9C7dE96311eD5Ce5D32c20E4B")
    );
    let hydra = store.entity("HYDRA").unwrap().unwrap();
    assert_eq!(hydra.id, entity_id("HYDRA MARKET"));
    assert_eq!(hydra.records[0].1.entity.aliases, vec!["HYDRA".to_owned()]);
}

#[test]
fn plain_lists_take_category_entity_and_chain_from_options() {
    let (_dir, store) = fresh_store();
    let mut opts = options("", Some(Category::Sanctioned), Some("OFAC SDN"));
    // The published XBT list holds one Tron address (line 355): the import
    // fails naming it, and with skip_invalid imports the other 434.
    let err = import_fixture(&store, "sanctioned_addresses_XBT.txt", Format::List, "ofac-xbt", &opts).unwrap_err();
    assert!(err.to_string().contains("1 invalid rows") && err.to_string().contains("line 355"), "{err}");
    opts.skip_invalid = true;
    let xbt = import_fixture(&store, "sanctioned_addresses_XBT.txt", Format::List, "ofac-xbt", &opts).unwrap();
    assert_eq!((xbt.tags, xbt.added, xbt.per_chain.get("btc")), (434, 434, Some(&434)));
    assert_eq!((xbt.invalid_count, xbt.invalid[0].line), (1, 355));
    opts.skip_invalid = false;
    let eth = import_fixture(&store, "sanctioned_addresses_ETH.txt", Format::List, "ofac-eth-list", &opts).unwrap();
    assert_eq!((eth.tags, eth.per_chain.get("eth")), (152, Some(&152)));
    let mut xmr_opts = opts.clone();
    xmr_opts.defaults.chain = Some("xmr".parse().unwrap());
    let xmr = import_fixture(&store, "sanctioned_addresses_XMR.txt", Format::List, "ofac-xmr", &xmr_opts).unwrap();
    assert_eq!((xmr.tags, xmr.other_chains), (3, 3));
    let first = std::fs::read_to_string(fixture("sanctioned_addresses_XBT.txt")).unwrap();
    let first = first.lines().next().unwrap();
    let tags = store.tags_for(&TagChain::BTC, first).unwrap();
    assert_eq!((tags[0].record.tag.entity.as_deref(), tags[0].record.provenance.record), (Some("OFAC SDN"), 1));
    let sources = store.sources().unwrap();
    assert_eq!(sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["ofac-xbt", "ofac-eth-list", "ofac-xmr"]);
    assert_eq!((sources[0].versions[0].tags, sources[0].versions[0].invalid), (434, 1));
}
