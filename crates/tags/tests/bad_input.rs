//! Bad input gives a clear error naming the file and line, and leaves the
//! store exactly as it was (same digest).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use chainsleuth_tags::{Category, Format, ImportOptions, TagStore, TagsError};
use common::{eth_address, fixture, fresh_store, options};

/// A store that already holds a version of source `src` (so a failed import
/// must also leave an active version alone).
fn seeded() -> (tempfile::TempDir, TagStore) {
    let (dir, store) = fresh_store();
    store.import(&fixture("hydra.yaml"), Format::Tagpack, "src", &ImportOptions::default()).unwrap();
    (dir, store)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a failing import and checks the store did not change.
fn fails(store: &TagStore, path: &Path, format: Format, opts: &ImportOptions) -> TagsError {
    let before = store.store().digest().unwrap();
    let err = store.import(path, format, "src", opts).unwrap_err();
    assert_eq!(store.store().digest().unwrap(), before, "store changed after: {err}");
    assert_eq!(store.source("src").unwrap().unwrap().active_version, 1);
    // A new source that failed leaves no trace either.
    let before = store.store().digest().unwrap();
    assert!(store.import(path, format, "brand-new", opts).is_err());
    assert_eq!(store.store().digest().unwrap(), before);
    assert!(store.source("brand-new").unwrap().is_none());
    err
}

fn invalid_lines(err: &TagsError) -> Vec<u64> {
    match err {
        TagsError::InvalidRows { rows, .. } => rows.iter().map(|r| r.line).collect(),
        other => panic!("expected invalid rows, got {other}"),
    }
}

#[test]
fn truncated_yaml_names_the_line() {
    let (dir, store) = seeded();
    let text = std::fs::read_to_string(fixture("tornado_cash.yaml")).unwrap();
    let cut = text.find("0xCa0840578f57").unwrap() + 6;
    let path = write(dir.path(), "truncated.yaml", &text[..cut]);
    let err = fails(&store, &path, Format::Tagpack, &ImportOptions::default());
    assert_eq!(invalid_lines(&err), vec![50]);
    let message = err.to_string();
    assert!(message.contains("truncated.yaml") && message.contains("line 50"), "{message}");

    // A header cut short fails as malformed YAML at its line.
    let path = write(dir.path(), "header.yaml", "title: x\ncreator: y\nlabel: 'open\n");
    let err = fails(&store, &path, Format::Tagpack, &ImportOptions::default());
    assert!(matches!(err, TagsError::Malformed { line: 3, .. }), "{err}");
}

#[test]
fn malformed_xml_names_the_line() {
    let (dir, store) = seeded();
    let text = std::fs::read_to_string(fixture("sdn.xml")).unwrap();
    let broken = text.replacen("</idType>", "</idTyp>", 1);
    let path = write(dir.path(), "broken.xml", &broken);
    let err = fails(&store, &path, Format::OfacSdn, &ImportOptions::default());
    let expected = text.lines().position(|l| l.contains("</idType>")).unwrap() as u64 + 1;
    assert!(matches!(err, TagsError::Malformed { line, .. } if line == expected), "{err}");

    let cut = &text[..text.find("<uid>23597</uid>").unwrap()];
    let path = write(dir.path(), "cut.xml", cut);
    let err = fails(&store, &path, Format::OfacSdn, &ImportOptions::default());
    assert!(err.to_string().contains("file ends inside <sdnEntry>"), "{err}");

    let path = write(dir.path(), "other.xml", "<?xml version=\"1.0\"?>\n<html><body/></html>\n");
    let err = fails(&store, &path, Format::OfacSdn, &ImportOptions::default());
    assert!(err.to_string().contains("neither <sdnList> nor <Sanctions>"), "{err}");
}

#[test]
fn bad_checksum_wrong_chain_and_wrong_network() {
    let (dir, store) = seeded();
    let good = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96";
    let bad = "0x098b716B8Aaf21512996dC57EB0615e2383E2f96";
    let text = format!(
        "address,chain\n{good},eth\n{bad},eth\n{good},btc\ntb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx,btc\n1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbB,btc\n"
    );
    let path = write(dir.path(), "bad.csv", &text);
    let opts = options("", Some(Category::Scam), None);
    let err = fails(&store, &path, Format::Csv, &opts);
    assert_eq!(invalid_lines(&err), vec![3, 4, 5, 6]);
    let message = err.to_string();
    assert!(
        message.contains("line 3: \"0x098b716B8Aaf21512996dC57EB0615e2383E2f96\" fails its EIP-55 checksum"),
        "{message}"
    );
    assert!(
        message.contains("line 4: \"0x098B716B8Aaf21512996dC57EB0615e2383E2f96\" is not a valid bitcoin address"),
        "{message}"
    );
    assert!(
        message
            .contains("line 5: \"tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx\" is a bitcoin address of another network"),
        "{message}"
    );
    assert!(message.contains("line 6:"), "{message}");

    // With skip_invalid the good row goes in and the rest are reported.
    let mut skip = opts.clone();
    skip.skip_invalid = true;
    let report = store.import(&path, Format::Csv, "skipping", &skip).unwrap();
    assert_eq!((report.added, report.invalid_count), (1, 4));
    assert_eq!(report.invalid.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 4, 5, 6]);

    // A list given --chain btc holding an Ethereum address.
    let path = write(dir.path(), "list.txt", &format!("1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA\n\n{good}\n"));
    let mut list = options("", Some(Category::Sanctioned), None);
    list.defaults.chain = Some("btc".parse().unwrap());
    let err = fails(&store, &path, Format::List, &list);
    assert_eq!(invalid_lines(&err), vec![3]);
}

#[test]
fn unknown_category_and_missing_columns() {
    let (dir, store) = seeded();
    let path = write(
        dir.path(),
        "cats.csv",
        &format!("address,category\n{},casino\n{},mixer\n", eth_address(1), eth_address(2)),
    );
    let err = fails(&store, &path, Format::Csv, &ImportOptions::default());
    assert_eq!(invalid_lines(&err), vec![2]);
    assert!(err.to_string().contains("unknown category \"casino\""), "{err}");

    let err = fails(&store, &path, Format::Csv, &options("entity=owner", None, None));
    assert!(err.to_string().contains("cats.csv: line 1: no column \"owner\""), "{err}");

    let yaml = "title: t\ncreator: c\ncurrency: ETH\ncategory: wizardry\ntags:\n- address: '0x098B716B8Aaf21512996dC57EB0615e2383E2f96'\n";
    let path = write(dir.path(), "cat.yaml", yaml);
    let err = fails(&store, &path, Format::Tagpack, &ImportOptions::default());
    assert_eq!(invalid_lines(&err), vec![6]);
    assert!(err.to_string().contains("wizardry"), "{err}");
}

#[test]
fn empty_files() {
    let (dir, store) = seeded();
    for (name, text, format) in [
        ("empty.csv", "", Format::Csv),
        ("header-only.csv", "address,category\n", Format::Csv),
        ("blank.txt", "\n\n# only a comment\n", Format::List),
        ("empty.jsonl", "\n", Format::Jsonl),
        ("no-tags.yaml", "title: t\ncreator: c\n", Format::Tagpack),
        ("empty.xml", "<?xml version=\"1.0\"?>\n<sdnList></sdnList>\n", Format::OfacSdn),
    ] {
        let path = write(dir.path(), name, text);
        let opts = options("", Some(Category::Scam), None);
        let err = fails(&store, &path, format, &opts);
        assert!(matches!(err, TagsError::Empty { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn a_100_mb_single_line_fails_at_the_limit() {
    let (dir, store) = seeded();
    let path = dir.path().join("huge.txt");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(file, "address").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            file.write_all(&chunk).unwrap();
        }
    }
    for format in [Format::List, Format::Csv, Format::Jsonl, Format::Tagpack, Format::OfacSdn] {
        let opts = options("", Some(Category::Scam), None);
        let err = fails(&store, &path, format, &opts);
        match &err {
            TagsError::LineTooLong { line, limit, .. } => {
                assert_eq!((*line, *limit), (2, 1 << 20), "{format}");
            }
            // The XML parser may reject the text before the root element
            // before it reaches the long line.
            TagsError::Malformed { line: 1, .. } if format == Format::OfacSdn => {}
            other => panic!("{format}: expected a line-length error, got {other}"),
        }
        assert!(err.to_string().contains("huge.txt"), "{err}");
    }
}

#[test]
fn a_bad_row_after_many_written_batches_rolls_everything_back() {
    let (dir, store) = seeded();
    let mut text = String::from("address,label\n");
    for n in 0..30_000 {
        text.push_str(&format!("{},row {n}\n", eth_address(n)));
    }
    text.push_str("0xnot-an-address,last\n");
    let path = write(dir.path(), "late.csv", &text);
    let mut opts = options("", Some(Category::Scam), None);
    opts.batch_rows = 1_000;
    let err = fails(&store, &path, Format::Csv, &opts);
    assert_eq!(invalid_lines(&err), vec![30_002]);
    assert!(store.tags_for(&chainsleuth_tags::TagChain::ETH, &eth_address(5)).unwrap().is_empty());
}
