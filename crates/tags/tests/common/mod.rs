//! Helpers shared by the tag tests: fixture paths, fresh stores, generated
//! valid addresses.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chainsleuth_tags::{Category, Defaults, Format, ImportOptions, ImportReport, Mapping, TagStore, TagsError};

/// The path of a fixture in `tests/data`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A fresh tag store in a temporary directory (kept alive by the guard).
pub fn fresh_store() -> (tempfile::TempDir, TagStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = TagStore::open(&TagStore::path_in(dir.path())).unwrap();
    (dir, store)
}

/// Options with a mapping, default category and entity.
pub fn options(mapping: &str, category: Option<Category>, entity: Option<&str>) -> ImportOptions {
    ImportOptions {
        mapping: Mapping::parse(mapping).unwrap(),
        defaults: Defaults { category, entity: entity.map(str::to_owned), ..Defaults::default() },
        ..ImportOptions::default()
    }
}

/// Imports a fixture.
pub fn import_fixture(
    store: &TagStore,
    name: &str,
    format: Format,
    source: &str,
    options: &ImportOptions,
) -> Result<ImportReport, TagsError> {
    store.import(&fixture(name), format, source, options)
}

/// A valid lowercase Ethereum address made from `n`.
pub fn eth_address(n: u64) -> String {
    format!("0x{:040x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}
