//! SIGKILL during an import of a large file: after reopening, the source is
//! wholly at the old version or wholly at the new one.
//!
//! The test runs itself as the child: `child_imports_the_large_file` does
//! the import when `TAGS_CRASH_STORE` is set and nothing otherwise.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chainsleuth_tags::{Category, Format, TagChain, TagStore};
use common::{eth_address, options};
use rand::Rng;

const OLD_ROWS: u64 = 2_000;
const NEW_ROWS: u64 = 100_000;

fn write_csv(path: &Path, rows: impl Iterator<Item = u64>, label: &str) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(file, "address,label,entity").unwrap();
    for n in rows {
        writeln!(file, "{},{label} {n},desk {}", eth_address(n), n % 50).unwrap();
    }
}

fn opts() -> chainsleuth_tags::ImportOptions {
    let mut opts = options("", Some(Category::CashOutNetwork), None);
    opts.batch_rows = 5_000;
    opts
}

#[test]
fn child_imports_the_large_file() {
    let (Ok(store), Ok(file)) = (std::env::var("TAGS_CRASH_STORE"), std::env::var("TAGS_CRASH_FILE")) else {
        return;
    };
    let store = TagStore::open(Path::new(&store)).unwrap();
    store.import(Path::new(&file), Format::Csv, "big", &opts()).unwrap();
}

#[test]
fn sigkill_during_import_leaves_old_or_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("tags");
    let old = dir.path().join("old.csv");
    let new = dir.path().join("new.csv");
    // Old: rows 0..2000. New: rows 1000..201000 (half the old retired).
    write_csv(&old, 0..OLD_ROWS, "old");
    write_csv(&new, OLD_ROWS / 2..OLD_ROWS / 2 + NEW_ROWS, "old");
    let old_digest = {
        let store = TagStore::open(&store_path).unwrap();
        store.import(&old, Format::Csv, "big", &opts()).unwrap();
        store.store().digest().unwrap()
    };
    let retired_probe = eth_address(0);
    let kept_probe = eth_address(OLD_ROWS - 1);
    let new_probe = eth_address(OLD_ROWS / 2 + NEW_ROWS - 1);

    // Time one uninterrupted run in a copy to choose kill moments inside it.
    let mut rng = rand::thread_rng();
    let mut outcomes = Vec::new();
    let mut full = None;
    for round in 0..4 {
        let child_store = dir.path().join(format!("round{round}"));
        copy_dir(&store_path, &child_store);
        let started = Instant::now();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_imports_the_large_file", "--exact", "--test-threads=1"])
            .env("TAGS_CRASH_STORE", &child_store)
            .env("TAGS_CRASH_FILE", &new)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match full {
            None => {
                assert!(child.wait().unwrap().success());
                full = Some(started.elapsed());
            }
            Some(total) => {
                let at = total.mul_f64(rng.gen_range(0.05..0.95));
                std::thread::sleep(at);
                // Child::kill sends SIGKILL on Unix.
                let _ = child.kill();
                child.wait().unwrap();
            }
        }
        let store = TagStore::open(&child_store).unwrap();
        let source = store.source("big").unwrap().unwrap();
        let eth = TagChain::ETH;
        match source.active_version {
            1 => {
                assert_eq!(store.store().digest().unwrap(), old_digest, "round {round}: old version not intact");
                assert_eq!(store.tags_for(&eth, &retired_probe).unwrap().len(), 1);
                assert!(store.tags_for(&eth, &new_probe).unwrap().is_empty());
            }
            2 => {
                let version = &source.versions[1];
                assert_eq!(
                    (version.tags, version.added, version.retired),
                    (NEW_ROWS, NEW_ROWS - OLD_ROWS / 2, OLD_ROWS / 2)
                );
                assert!(store.tags_for(&eth, &retired_probe).unwrap().is_empty());
                assert_eq!(store.history(&eth, &retired_probe).unwrap().len(), 1);
                assert_eq!(store.tags_for(&eth, &new_probe).unwrap().len(), 1);
            }
            other => panic!("round {round}: version {other}"),
        }
        assert_eq!(store.tags_for(&eth, &kept_probe).unwrap().len(), 1);
        if round == 3 {
            // The recovered store takes the import again and ends at version 2.
            let report = store.import(&new, Format::Csv, "big", &opts()).unwrap();
            assert_eq!(report.version, 2);
            assert_eq!(store.diff("big", 1, 2).unwrap().removed.len() as u64, OLD_ROWS / 2);
        }
        outcomes.push(source.active_version);
    }
    assert!(full.unwrap() > Duration::from_millis(100), "import too quick to interrupt: {full:?}");
    eprintln!("versions found after kills: {outcomes:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
