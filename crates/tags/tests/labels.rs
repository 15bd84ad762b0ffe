//! The tag store as the tracer's `Labels`: which tag labels an address,
//! lookups by the forms indexers print, retired tags, every labelled address
//! of a chain, and the source versions in use.

mod common;

use std::io::Write;
use std::path::Path;

use chainsleuth_core::{Chain, Label, Labels};
use chainsleuth_tags::{file_sha256, Format, ImportOptions, TagChain, TagStore};
use common::{eth_address, fresh_store};

const CSV_HEADER: &str = "address,chain,category,entity,jurisdiction,licensed_by,confidence";

fn write(path: &Path, lines: &[String]) {
    let mut file = std::fs::File::create(path).unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

fn import(store: &TagStore, path: &Path, format: Format, source: &str) {
    store.import(path, format, source, &ImportOptions::default()).unwrap();
}

fn eip55(address: &str) -> String {
    address.parse::<alloy_primitives::Address>().unwrap().to_checksum(None)
}

fn label(entity: &str, category: &str) -> Label {
    Label {
        entity: entity.to_owned(),
        category: category.to_owned(),
        jurisdiction: None,
        licensed_by: None,
        off_ramp: false,
        mixer: false,
        custodial: false,
        inferred: None,
    }
}

#[test]
fn the_most_confident_tag_labels_an_address_ties_to_off_ramps_then_names() {
    let (dir, store) = fresh_store();
    let (tie, confident, names) = (eth_address(1), eth_address(2), eth_address(3));
    let csv = dir.path().join("exchanges.csv");
    write(
        &csv,
        &[
            CSV_HEADER.to_owned(),
            format!("{tie},eth,exchange_licensed,Zeta Exchange,KZ,AFSA,50"),
            format!("{confident},eth,exchange_unlicensed,Volga Swap,RU,,40"),
            format!("{names},eth,cash_out_network,Beta Couriers,,,30"),
        ],
    );
    import(&store, &csv, Format::Csv, "exchanges");
    let jsonl = dir.path().join("risk.jsonl");
    write(
        &jsonl,
        &[
            format!(r#"{{"address":"{tie}","chain":"eth","category":"sanctioned","entity":"Alpha","confidence":50}}"#),
            format!(r#"{{"address":"{confident}","category":"mixer","entity":"Fog","confidence":"service_api"}}"#),
            format!(r#"{{"address":"{names}","category":"otc_desk","entity":"Alpha Desk","confidence":30}}"#),
        ],
    );
    import(&store, &jsonl, Format::Jsonl, "risk");

    // Equal confidence: the off-ramp category wins over the entity name.
    let got = store.label(Chain::Ethereum, &eip55(&tie)).unwrap().unwrap();
    let want = Label {
        jurisdiction: Some("KZ".to_owned()),
        licensed_by: Some("AFSA".to_owned()),
        off_ramp: true,
        custodial: true,
        ..label("Zeta Exchange", "exchange_licensed")
    };
    assert_eq!(got, want);

    // Higher confidence wins whatever the category.
    let got = store.label(Chain::Ethereum, &confident).unwrap().unwrap();
    assert_eq!(got, Label { mixer: true, ..label("Fog", "mixer") });

    // Hex in capitals is found too.
    let got = store.label(Chain::Ethereum, &confident.to_ascii_uppercase().replacen("0X", "0x", 1)).unwrap();
    assert_eq!(got.unwrap().entity, "Fog");

    // Two off-ramps of equal confidence: the entity name decides.
    let got = store.label(Chain::Ethereum, &names).unwrap().unwrap();
    assert_eq!(got, Label { off_ramp: true, custodial: true, ..label("Alpha Desk", "otc_desk") });

    // Untagged, not an address of the chain, or of another network.
    assert_eq!(store.label(Chain::Ethereum, &eth_address(4)).unwrap(), None);
    assert_eq!(store.label(Chain::Bitcoin, "nonstandard:00112233445566778899aabbccddeeff00112233").unwrap(), None);
    assert!(store.label(Chain::Bitcoin, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx").is_err());
}

#[test]
fn bitcoin_lookups_take_the_text_indexers_print_and_entities_fill_the_gaps() {
    let (dir, store) = fresh_store();
    let actors = dir.path().join("actors.yaml");
    write(
        &actors,
        &[
            "title: actors".to_owned(),
            "actors:".to_owned(),
            "- id: garant".to_owned(),
            "  label: Garant".to_owned(),
            "  jurisdictions: [ru]".to_owned(),
            "  categories: [exchange]".to_owned(),
        ],
    );
    import(&store, &actors, Format::Actorpack, "actors");
    let bech32 = "bc1qj6j6p0jdefl6pvdzx3kx8245yy5mz6q4luhzes";
    let legacy = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA";
    let csv = dir.path().join("btc.csv");
    write(
        &csv,
        &[
            "address,category,entity".to_owned(),
            format!("{},exchange,Garant", bech32.to_ascii_uppercase()),
            format!("{legacy},platform_shut_down,Nowhere Ltd"),
        ],
    );
    import(&store, &csv, Format::Csv, "btc-list");

    let got = store.label(Chain::Bitcoin, bech32).unwrap().unwrap();
    assert_eq!(
        got,
        Label { jurisdiction: Some("RU".to_owned()), off_ramp: true, custodial: true, ..label("Garant", "exchange") }
    );
    let got = store.label(Chain::Bitcoin, legacy).unwrap().unwrap();
    assert_eq!(got, Label { off_ramp: true, custodial: true, ..label("Nowhere Ltd", "platform_shut_down") });
    // The chain matters: the same text is no Ethereum address.
    assert_eq!(store.label(Chain::Ethereum, legacy).unwrap(), None);
}

#[test]
fn retired_tags_label_nothing_and_labelled_lists_every_active_address_in_order() {
    let (dir, store) = fresh_store();
    let addresses: Vec<String> = (10..40).map(eth_address).collect();
    let legacy = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA";
    let row = |a: &String, n: usize| format!("{a},eth,exchange,Desk {},,,{}", n % 3, 10 + n % 7);
    let mut v1: Vec<String> = vec![CSV_HEADER.to_owned()];
    v1.extend(addresses.iter().enumerate().map(|(n, a)| row(a, n)));
    v1.push(format!("{legacy},btc,mixer,Tumbler,,,50"));
    v1.push("LTC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KGMN4N9,ltc,exchange,Lite,,,50".to_owned());
    let first = dir.path().join("v1.csv");
    write(&first, &v1);
    import(&store, &first, Format::Csv, "desks");
    // A second source tags two of the addresses again, with more confidence.
    let second_source = dir.path().join("override.jsonl");
    write(
        &second_source,
        &[
            format!(r#"{{"address":"{}","category":"mixer","entity":"Fog","confidence":90}}"#, addresses[3]),
            format!(r#"{{"address":"{}","category":"seized","entity":"Court","confidence":90}}"#, addresses[7]),
        ],
    );
    import(&store, &second_source, Format::Jsonl, "override");

    let check = |expected: &[&String]| {
        let listed = store.labelled(Chain::Ethereum).unwrap();
        let mut want: Vec<String> = expected.iter().map(|a| eip55(a)).collect();
        want.sort();
        assert_eq!(listed.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>(), want);
        for (address, got) in &listed {
            assert_eq!(Some(got), store.label(Chain::Ethereum, address).unwrap().as_ref(), "{address}");
        }
        listed
    };
    let listed = check(&addresses.iter().collect::<Vec<_>>());
    let by_address = |a: &String| listed.iter().find(|(x, _)| *x == eip55(a)).unwrap().1.clone();
    assert_eq!(by_address(&addresses[3]).category, "mixer");
    assert_eq!(by_address(&addresses[7]).entity, "Court");
    assert_eq!(by_address(&addresses[5]).entity, "Desk 2");
    let btc = store.labelled(Chain::Bitcoin).unwrap();
    assert_eq!(btc.len(), 1);
    assert_eq!((btc[0].0.as_str(), btc[0].1.mixer), (legacy, true));

    // Version 2 of the first source drops the first ten addresses.
    let mut v2: Vec<String> = vec![CSV_HEADER.to_owned()];
    v2.extend(addresses.iter().enumerate().skip(10).map(|(n, a)| row(a, n)));
    let second = dir.path().join("v2.csv");
    write(&second, &v2);
    import(&store, &second, Format::Csv, "desks");
    // Dropped addresses are unlabelled, except the ones the other source tags.
    assert_eq!(store.label(Chain::Ethereum, &addresses[0]).unwrap(), None);
    assert_eq!(store.history(&TagChain::ETH, &addresses[0]).unwrap().len(), 1);
    assert_eq!(store.label(Chain::Ethereum, &addresses[3]).unwrap().unwrap().entity, "Fog");
    let mut expected: Vec<&String> = addresses[10..].iter().collect();
    expected.extend([&addresses[3], &addresses[7]]);
    check(&expected);
    assert!(store.labelled(Chain::Bitcoin).unwrap().is_empty());
}

#[test]
fn sources_give_each_current_version_and_file_hash() {
    let (dir, store) = fresh_store();
    assert!(Labels::sources(&store).unwrap().is_empty());
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    write(&a, &[CSV_HEADER.to_owned(), format!("{},eth,mixer,Fog,,,50", eth_address(1))]);
    write(&b, &[CSV_HEADER.to_owned(), format!("{},eth,scam,Ponzi,,,50", eth_address(2))]);
    import(&store, &b, Format::Csv, "zulu");
    import(&store, &a, Format::Csv, "alpha");
    write(&a, &[CSV_HEADER.to_owned(), format!("{},eth,mixer,Fog 2,,,50", eth_address(1))]);
    import(&store, &a, Format::Csv, "alpha");

    let sources = Labels::sources(&store).unwrap();
    let got: Vec<(&str, u32, &str)> =
        sources.iter().map(|s| (s.source.as_str(), s.version, s.sha256.as_str())).collect();
    let (sha_a, sha_b) = (file_sha256(&a).unwrap().0, file_sha256(&b).unwrap().0);
    assert_eq!(got, vec![("alpha", 2, sha_a.as_str()), ("zulu", 1, sha_b.as_str())]);
    assert_eq!(store.label(Chain::Ethereum, &eth_address(1)).unwrap().unwrap().entity, "Fog 2");
}
