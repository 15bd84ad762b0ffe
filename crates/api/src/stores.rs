//! How request handlers open the stores of the data directory: read-only,
//! beside the workers that write them, each request on one consistent view.
//! A store that does not exist yet is a 404 `not_indexed`.
//!
//! Opening a RocksDB store read-only costs milliseconds (every table file
//! is opened, the write-ahead log replayed into memory, a block cache set
//! up): too much for every request under load (tests/load.rs measures it).
//! So each store's read-only handle is kept per data directory and shared by
//! the requests that come while the store is unchanged. A request takes the
//! store's *stamp*, the names and sizes of its write-ahead logs and manifest
//! (which every write, flush and compaction changes; a directory listing of
//! a few microseconds), and reuses the kept handle when the stamp is the
//! same, or when the handle was opened after the request asked; otherwise
//! it opens a fresh handle, which the requests after it share. While one
//! request opens a chain store afresh, the others take the kept handle
//! (no reader has seen anything newer yet), so a worker's writes never
//! queue requests behind an open; the tag store, which the API's own
//! imports write, makes them wait, so the request after an import sees it.
//! A read-only handle is a frozen view, so a request sees one snapshot
//! however long it runs, and never an older one than the requests answered
//! before it; a replaced handle closes when the last request using it ends.
//!
//! [`set_caching`]`(false)` opens per request instead (for comparison).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bitcoin::Network;
use chainsleuth_btc::index;
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_tags::TagStore;

use crate::error::ApiError;
use crate::metrics::Histogram;

/// Whether handles are kept between requests (the default).
static CACHING: AtomicBool = AtomicBool::new(true);

/// The kept handles of every data directory served by this process.
static DIRS: LazyLock<Mutex<HashMap<PathBuf, Arc<DirStores>>>> = LazyLock::new(Default::default);

/// Keeps read-only handles between requests (`true`, the default) or opens
/// the stores afresh for every request (`false`).
pub fn set_caching(on: bool) {
    CACHING.store(on, Ordering::Relaxed);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn dir(data_dir: &Path) -> Arc<DirStores> {
    lock(&DIRS).entry(data_dir.to_owned()).or_default().clone()
}

/// The kept handles of one data directory.
#[derive(Default)]
struct DirStores {
    btc: Slot<Store>,
    eth: Slot<Store>,
    /// Tag stores, one per Bitcoin network addresses are checked for.
    tags: Mutex<HashMap<Network, Arc<Slot<TagStore>>>>,
    /// How opening the tag stores went, whatever their network.
    tags_stats: OpenStats,
}

/// What opening one kind of store cost in a data directory.
#[derive(Debug, Default)]
pub(crate) struct OpenStats {
    /// Seconds each open took.
    pub(crate) opens: Histogram,
    /// Requests served by a kept handle.
    pub(crate) reused: AtomicU64,
    /// Requests served by the kept handle while a fresh one was opening.
    pub(crate) stale: AtomicU64,
}

/// The open statistics of the stores under `data_dir`, by store name.
pub(crate) fn stats(data_dir: &Path, each: impl FnMut(&'static str, &OpenStats)) {
    let dir = dir(data_dir);
    let mut each = each;
    each("btc", &dir.btc.stats);
    each("eth", &dir.eth.stats);
    each("tags", &dir.tags_stats);
}

/// One store's kept handle.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    /// Held by the request that opens a fresh handle.
    opener: Mutex<()>,
    /// Whether requests wait for a fresh handle being opened (the tag store:
    /// the API's own imports write it, and the next request must see them)
    /// rather than take the current one (the chain stores: a block indexed
    /// one open earlier or later makes no difference to a reader).
    strict: bool,
    stats: OpenStats,
}

struct SlotState<T> {
    kept: Option<Kept<T>>,
    /// A request is opening a fresh handle.
    opening: bool,
}

impl<T> SlotState<T> {
    /// The kept handle if it is at least as fresh as a request that took
    /// `stamp` at `asked` needs.
    fn fresh(&self, stamp: &Stamp, asked: Instant) -> Option<Arc<T>> {
        let kept = self.kept.as_ref().filter(|kept| kept.stamp == *stamp || kept.asked >= asked)?;
        Some(kept.handle.clone())
    }
}

impl<T> Slot<T> {
    fn new(strict: bool) -> Slot<T> {
        Slot {
            state: Mutex::new(SlotState { kept: None, opening: false }),
            opener: Mutex::new(()),
            strict,
            stats: OpenStats::default(),
        }
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot::new(false)
    }
}

struct Kept<T> {
    handle: Arc<T>,
    stamp: Stamp,
    /// When the request that opened it took the stamp.
    asked: Instant,
}

impl<T> Slot<T> {
    /// The kept handle if the store at `path` is unchanged, else a fresh one
    /// (or, unless strict, the kept one while another request opens it).
    fn get(
        &self,
        path: &Path,
        stats: &OpenStats,
        open: impl FnOnce() -> Result<T, ApiError>,
    ) -> Result<Arc<T>, ApiError> {
        if !CACHING.load(Ordering::Relaxed) {
            return timed(stats, open).map(Arc::new);
        }
        let asked = Instant::now();
        let stamp = Stamp::of(path)?;
        {
            let state = lock(&self.state);
            if let Some(handle) = state.fresh(&stamp, asked) {
                stats.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(handle);
            }
            if let Some(kept) = state.kept.as_ref().filter(|_| state.opening && !self.strict) {
                stats.stale.fetch_add(1, Ordering::Relaxed);
                return Ok(kept.handle.clone());
            }
        }
        let _one_opener = lock(&self.opener);
        {
            let mut state = lock(&self.state);
            if let Some(handle) = state.fresh(&stamp, asked) {
                stats.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(handle);
            }
            state.opening = true;
        }
        let opened = timed(stats, open);
        let mut state = lock(&self.state);
        state.opening = false;
        let handle = Arc::new(opened?);
        state.kept = Some(Kept { handle: handle.clone(), stamp, asked });
        Ok(handle)
    }
}

fn timed<T>(stats: &OpenStats, open: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
    let started = Instant::now();
    let opened = open();
    stats.opens.observe(started.elapsed());
    opened
}

/// The files whose names and sizes change with every write, flush and
/// compaction of a RocksDB directory: its write-ahead logs, its manifest
/// and the pointer to the manifest.
#[derive(Debug, PartialEq, Eq)]
struct Stamp(Vec<(String, u64)>);

impl Stamp {
    fn of(path: &Path) -> Result<Stamp, ApiError> {
        let failed =
            |err: std::io::Error| ApiError::internal(&format!("listing the store directory {}", path.display()), &err);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(failed)? {
            let entry = entry.map_err(failed)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") || name.starts_with("MANIFEST-") || name == "CURRENT" {
                // A file deleted since the listing counts as empty.
                let len = entry.metadata().map_or(0, |meta| meta.len());
                files.push((name, len));
            }
        }
        files.sort_unstable();
        Ok(Stamp(files))
    }
}

fn not_indexed(chain: &str) -> ApiError {
    ApiError::not_found("not_indexed", "chain", format!("nothing is indexed for {chain} in this data directory"))
}

/// The Bitcoin store, read-only; 404 `not_indexed` when there is none.
pub(crate) fn open_btc(data_dir: &Path) -> Result<Arc<Store>, ApiError> {
    let path = index::store_path(data_dir);
    if !path.exists() {
        return Err(not_indexed("btc"));
    }
    let dir = dir(data_dir);
    dir.btc.get(&path, &dir.btc.stats, || Ok(index::open_read_only(data_dir)?))
}

/// The Ethereum store, read-only; 404 `not_indexed` when there is none.
pub(crate) fn open_eth(data_dir: &Path) -> Result<Arc<Store>, ApiError> {
    let path = chainsleuth_eth::store_path(data_dir);
    if !path.exists() {
        return Err(not_indexed("eth"));
    }
    let dir = dir(data_dir);
    dir.eth.get(&path, &dir.eth.stats, || {
        Store::open(&path, &chainsleuth_eth::SCHEMA, OpenMode::ReadOnly)
            .map_err(|err| ApiError::internal("opening the eth store", &err))
    })
}

/// The tag store, read-only, checking Bitcoin addresses for mainnet; 404
/// `not_indexed` when nothing was imported.
pub(crate) fn open_tags(data_dir: &Path) -> Result<Arc<TagStore>, ApiError> {
    open_tags_for(data_dir, Network::Bitcoin)
}

/// The tag store, read-only, checking Bitcoin addresses for `network`; 404
/// `not_indexed` when nothing was imported.
pub(crate) fn open_tags_for(data_dir: &Path, network: Network) -> Result<Arc<TagStore>, ApiError> {
    let path = TagStore::path_in(data_dir);
    if !path.exists() {
        return Err(ApiError::not_found("not_indexed", "tags", "no tag list has been imported"));
    }
    let dir = dir(data_dir);
    let slot = lock(&dir.tags).entry(network).or_insert_with(|| Arc::new(Slot::new(true))).clone();
    slot.get(&path, &dir.tags_stats, || Ok(TagStore::open_read_only(&path)?.with_network(network)))
}

#[cfg(test)]
mod tests {
    use chainsleuth_store::Schema;

    use super::*;

    static SCHEMA: Schema = Schema { name: "test", format: 1, tables: &[], digest_excludes: &[] };

    #[test]
    fn a_kept_handle_is_reused_until_the_store_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let writer = Store::open(&path, &SCHEMA, OpenMode::ReadWrite).unwrap();
        let slot = Slot::<Store>::default();
        let stats = OpenStats::default();
        let open = || Store::open(&path, &SCHEMA, OpenMode::ReadOnly).map_err(|e| ApiError::internal("open", &e));
        let first = slot.get(&path, &stats, open).unwrap();
        let again = slot.get(&path, &stats, open).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "an unchanged store is not reopened");
        assert_eq!(stats.reused.load(Ordering::Relaxed), 1);

        let tip = chainsleuth_core::BlockRef {
            height: chainsleuth_core::Height::new(7),
            hash: chainsleuth_core::BlockHash([7; 32]),
        };
        let mut batch = writer.batch();
        batch.set_tip(tip, None).unwrap();
        writer.write(batch).unwrap();
        let fresh = slot.get(&path, &stats, open).unwrap();
        assert!(!Arc::ptr_eq(&first, &fresh), "a write makes the next request reopen");
        assert_eq!(fresh.tip().unwrap(), Some(tip));
        assert_eq!(first.tip().unwrap(), None, "the older handle keeps its snapshot");
        assert_eq!(stats.opens.count(), 2);
    }

    #[test]
    fn while_a_fresh_handle_opens_only_a_strict_slot_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let writer = Store::open(&path, &SCHEMA, OpenMode::ReadWrite).unwrap();
        let open = || Store::open(&path, &SCHEMA, OpenMode::ReadOnly).map_err(|e| ApiError::internal("open", &e));
        let (lenient, strict) = (Slot::<Store>::new(false), Slot::<Store>::new(true));
        let stats = OpenStats::default();
        let (old_lenient, old_strict) =
            (lenient.get(&path, &stats, open).unwrap(), strict.get(&path, &stats, open).unwrap());
        let mut batch = writer.batch();
        batch.put::<chainsleuth_store::Meta>(&"k".to_owned(), &b"v".to_vec()).unwrap();
        writer.write(batch).unwrap();
        // As if another request were opening a fresh handle right now.
        lock(&lenient.state).opening = true;
        lock(&strict.state).opening = true;
        assert!(Arc::ptr_eq(&old_lenient, &lenient.get(&path, &stats, open).unwrap()));
        assert_eq!(stats.stale.load(Ordering::Relaxed), 1);
        assert!(!Arc::ptr_eq(&old_strict, &strict.get(&path, &stats, open).unwrap()));
    }
}
