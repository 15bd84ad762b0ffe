//! The RocksDB handle: opening with a schema, typed reads, atomic batches
//! with undo tracking, prefix scans, bulk mode and the digest. This is the
//! only module that touches RocksDB.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chainsleuth_core::{BlockHash, BlockRef, Height};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBRawIterator, FlushOptions, Options, ReadOptions,
    WriteBatch, WriteBufferManager, WriteOptions, DB,
};
use sha2::{Digest, Sha256};

use crate::codec::Codec;
use crate::error::StoreError;
use crate::table::{Meta, Table, Undo};
use crate::undo::{UndoEntry, UndoLog};

/// The set of tables one store holds, and the format version of their
/// layout. Each crate that owns a database (a chain crate, the tag store)
/// declares one `Schema` constant.
#[derive(Debug)]
pub struct Schema {
    /// What the store holds (`btc`, `eth`, `tags`); checked on open.
    pub name: &'static str,
    /// The layout version; bump it on any key or value change.
    pub format: u32,
    /// The schema's own tables (the store adds [`Meta`] and [`Undo`]).
    pub tables: &'static [&'static str],
    /// Tables left out of [`Store::digest`] because they hold bookkeeping
    /// rather than indexed data (the store always leaves out [`Undo`]).
    pub digest_excludes: &'static [&'static str],
}

impl Schema {
    /// The tables a SCHEMA.md table-of-tables does not list: those with no
    /// row starting `` | `name` | `` in `doc` (for each store's doc test).
    pub fn undocumented_tables(&self, doc: &str) -> Vec<&'static str> {
        self.tables.iter().copied().filter(|table| !doc.contains(&format!("| `{table}` |"))).collect()
    }
}

/// A decoded row of table `T`: its key and value.
type Row<T> = (<T as Table>::Key, <T as Table>::Value);

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The single writer: creates the database if it is missing.
    ReadWrite,
    /// A reader beside a running writer: sees the store as it was when
    /// opened, takes no lock, and refuses writes.
    ReadOnly,
}

/// Which way a scan goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending key order (oldest first for history tables).
    Forward,
    /// Descending key order (newest first for history tables).
    Reverse,
}

const FORMAT_KEY: &str = "format";
const SCHEMA_KEY: &str = "schema";
const TIP_KEY: &str = "tip";

/// An open store: one RocksDB database whose column families are the tables
/// of one [`Schema`] plus [`Meta`] and [`Undo`].
pub struct Store {
    db: DB,
    path: PathBuf,
    schema: &'static Schema,
    /// Every table name, in undo-index order: meta, undo, then the schema's.
    names: Vec<&'static str>,
    read_only: bool,
    bulk: AtomicBool,
    /// Each table's memtable size in bulk mode ([`bulk_write_buffer`]).
    bulk_buffer: usize,
    /// The size of the last batch written: new batches reserve as much, so
    /// they do not grow by copying as changes go in.
    last_batch_bytes: AtomicUsize,
}

/// A writer closing cleanly flushes its memtables, so that the next open
/// (a read command beside or after it) does not replay the write-ahead log
/// first; what is in the log is durable either way.
impl Drop for Store {
    fn drop(&mut self) {
        if !self.read_only {
            let _ = self.flush_all(true);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("schema", &self.schema.name).finish()
    }
}

/// How much memory a store's RocksDB may hold, and which tables need no
/// whole-key bloom filter. [`StoreConfig::within`] sizes it from a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// The block cache: data, index and filter blocks, and (charged to it)
    /// the memtables. RocksDB's memory stays about this size.
    pub cache_bytes: usize,
    /// All tables' memtables together: past this, RocksDB flushes them
    /// (counted inside `cache_bytes`).
    pub write_buffer_bytes: usize,
    /// Tables read only by prefix scans and seeks, never by key: their
    /// files carry no bloom filter (it would cost space and never help).
    pub scan_only: &'static [&'static str],
}

impl Default for StoreConfig {
    /// 256 MiB of cache with 128 MiB of memtables in it, every table filtered.
    fn default() -> Self {
        StoreConfig { cache_bytes: 256 << 20, write_buffer_bytes: 128 << 20, scan_only: &[] }
    }
}

impl StoreConfig {
    /// RocksDB's share of a process memory bound of `bytes`: 3/8 of it for
    /// the block cache, memtables (1/8 of the bound) included; the rest is
    /// the caller's (the indexer's own caches, blocks in flight). At least
    /// 16 MiB of cache.
    pub fn within(bytes: u64, scan_only: &'static [&'static str]) -> StoreConfig {
        let share = |num: u64, den: u64| usize::try_from(bytes / den * num).unwrap_or(usize::MAX);
        StoreConfig { cache_bytes: share(3, 8).max(16 << 20), write_buffer_bytes: share(1, 8).max(8 << 20), scan_only }
    }
}

fn db_options(config: &StoreConfig, cache: &Cache) -> Options {
    let mut opts = Options::default();
    // Memtables are charged to the block cache and flushed past their share,
    // so the cache's capacity bounds RocksDB's memory as a whole.
    let buffers =
        WriteBufferManager::new_write_buffer_manager_with_cache(config.write_buffer_bytes, false, cache.clone());
    opts.set_write_buffer_manager(&buffers);
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // Every column family flushes together, so that even with the WAL off
    // (bulk mode) a crash leaves all tables at the same batch, tip included.
    opts.set_atomic_flush(true);
    opts.increase_parallelism(2);
    opts.set_max_background_jobs(2);
    // The compaction that ends bulk mode splits each table's key range over
    // both cores instead of leaving the other idle.
    opts.set_max_subcompactions(2);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_keep_log_file_num(4);
    opts
}

/// Index and filter blocks live in the block cache, partitioned (a small
/// top level, pinned, over 4 KB partitions), so a large table file does not
/// bring a multi-megabyte index or filter block into the cache, and evict it
/// again, for every cache miss: a trace through a 6M-transaction store read
/// and checksummed those whole blocks on most lookups.
fn cf_options(cache: &Cache, filtered: bool) -> Options {
    let mut block = BlockBasedOptions::default();
    block.set_block_cache(cache);
    if filtered {
        block.set_bloom_filter(10.0, false);
    }
    block.set_cache_index_and_filter_blocks(true);
    block.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
    block.set_partition_filters(true);
    block.set_metadata_block_size(4096);
    block.set_pin_top_level_index_and_filter(true);
    block.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut opts = Options::default();
    opts.set_block_based_table_factory(&block);
    if filtered {
        // Lookups of absent keys (new addresses, new txid prefixes) skip
        // the memtable's skip list too.
        opts.set_memtable_whole_key_filtering(true);
        opts.set_memtable_prefix_bloom_ratio(0.02);
    }
    // LZ4 while data is young and rewritten often; the bottom level, where
    // most of a large store ends up and stays, in ZSTD (level 3: 15% smaller
    // than LZ4HC on the benchmark chain, all tables together; fast to read).
    // Bulk mode writes the bottom level with plain LZ4 and recompresses it
    // once, in the compaction that ends it.
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
    opts.set_bottommost_compression_options(-14, BOTTOM_ZSTD_LEVEL, 0, 0, true);
    opts.set_write_buffer_size(WRITE_BUFFER_BYTES);
    opts
}

/// The ZSTD level of the bottom level's compression.
const BOTTOM_ZSTD_LEVEL: i32 = 3;

/// Each table's memtable size outside bulk mode.
const WRITE_BUFFER_BYTES: usize = 64 << 20;

/// Each table's memtable size in bulk mode: an eighth of the memtables'
/// share of memory, between 4 and 64 MB (64 MB within the indexers' default
/// 4 GiB bound; the write buffer manager flushes earlier when all tables
/// together reach their share). Tables flush together, and each flush adds
/// a level-0 file to every table that compaction must merge into the
/// levels below, rewriting them: larger memtables mean fewer, larger files
/// and fewer rewrites. On the 2M-transaction scale benchmark, 64 MB against
/// 4 MB memtables cut the bytes compactions wrote from about 1.9 to 0.7 GB
/// and the CPU time of indexing by about 30%; the skip list's cache misses
/// on larger memtables cost less than that.
fn bulk_write_buffer(config: &StoreConfig) -> usize {
    (config.write_buffer_bytes / 8).clamp(4 << 20, 64 << 20)
}

/// Level-0 compaction, slowdown and stop triggers in bulk mode: compaction
/// starts at 4 files per table, as outside bulk mode, and writes are never
/// held back for it. The indexer's thread is the bottleneck of a sync, the
/// other core mostly idle, and every lookup probes each level-0 file: on the
/// 20M-transaction benchmark chain, waiting for 16 files per table left 110
/// to 180 level-0 files in all and the compaction threads nearly idle (53 s
/// of CPU in 13 minutes); starting at 4 kept 21 to 42 and indexed the first
/// 12M transactions in 1,105 s against 1,264 s.
const BULK_L0_TRIGGERS: [u32; 3] = [4, 256, 512];
/// RocksDB's own level-0 triggers, restored when bulk mode ends.
const DEFAULT_L0_TRIGGERS: [u32; 3] = [4, 20, 36];

impl Store {
    /// Opens (creating if needed, in [`OpenMode::ReadWrite`]) the store at
    /// `path` for `schema`.
    ///
    /// # Errors
    /// [`StoreError::Open`] when RocksDB refuses (missing directory in
    /// read-only mode, another writer holding the lock),
    /// [`StoreError::FormatMismatch`] or [`StoreError::SchemaMismatch`] when
    /// the directory holds another layout.
    pub fn open(path: &Path, schema: &'static Schema, mode: OpenMode) -> Result<Store, StoreError> {
        Store::open_with(path, schema, mode, &StoreConfig::default())
    }

    /// [`Store::open`] with the memory and filters of `config`.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(
        path: &Path,
        schema: &'static Schema,
        mode: OpenMode,
        config: &StoreConfig,
    ) -> Result<Store, StoreError> {
        let mut names = vec![Meta::NAME, Undo::NAME];
        names.extend_from_slice(schema.tables);
        let cache = Cache::new_lru_cache(config.cache_bytes);
        let opts = db_options(config, &cache);
        let descriptor = |name: &&'static str| {
            ColumnFamilyDescriptor::new(*name, cf_options(&cache, !config.scan_only.contains(name)))
        };
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        let db = match mode {
            OpenMode::ReadWrite => {
                let cfs = names.iter().map(descriptor);
                DB::open_cf_descriptors(&opts, path, cfs).map_err(open_err)?
            }
            OpenMode::ReadOnly => {
                // Only the tables on disk: a store of an older format may lack
                // some, and should fail the format check below, not here.
                let existing = DB::list_cf(&opts, path).map_err(open_err)?;
                let cfs = names.iter().filter(|name| existing.iter().any(|e| e == *name)).map(descriptor);
                DB::open_cf_descriptors_read_only(&opts, path, cfs, false).map_err(open_err)?
            }
        };
        let store = Store {
            db,
            path: path.to_owned(),
            schema,
            names,
            read_only: mode == OpenMode::ReadOnly,
            bulk: AtomicBool::new(false),
            bulk_buffer: bulk_write_buffer(config),
            last_batch_bytes: AtomicUsize::new(0),
        };
        store.check_format()?;
        Ok(store)
    }

    fn check_format(&self) -> Result<(), StoreError> {
        let found_schema = self.get::<Meta>(&SCHEMA_KEY.to_owned())?;
        let found_format = self.get::<Meta>(&FORMAT_KEY.to_owned())?;
        match (found_schema, found_format) {
            (None, None) if !self.read_only => {
                let mut batch = self.batch();
                batch.put::<Meta>(&SCHEMA_KEY.to_owned(), &self.schema.name.as_bytes().to_vec())?;
                batch.put::<Meta>(&FORMAT_KEY.to_owned(), &self.schema.format.encode())?;
                self.write(batch)
            }
            (None, None) => Ok(()),
            (schema, format) => {
                let schema = String::from_utf8_lossy(&schema.unwrap_or_default()).into_owned();
                if schema != self.schema.name {
                    return Err(StoreError::SchemaMismatch {
                        path: self.path.clone(),
                        found: schema,
                        expected: self.schema.name,
                    });
                }
                let found = format.and_then(|bytes| u32::decode(&bytes).ok()).unwrap_or(0);
                if found != self.schema.format {
                    return Err(StoreError::FormatMismatch {
                        path: self.path.clone(),
                        found,
                        expected: self.schema.format,
                    });
                }
                Ok(())
            }
        }
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema the store was opened with.
    pub fn schema(&self) -> &'static Schema {
        self.schema
    }

    fn index_of(&self, name: &'static str) -> Result<u8, StoreError> {
        let index = self.names.iter().position(|n| *n == name).ok_or(StoreError::UnknownTable(name))?;
        Ok(u8::try_from(index).expect("a schema has far fewer than 256 tables"))
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db.cf_handle(name).ok_or(StoreError::UnknownTable(name))
    }

    fn decode_row<T: Table>(key: &[u8], value: &[u8]) -> Result<(T::Key, T::Value), StoreError> {
        let err = |source| StoreError::Decode { table: T::NAME, key_hex: hex::encode(key), source };
        Ok((T::Key::decode(key).map_err(err)?, T::Value::decode(value).map_err(err)?))
    }

    /// The value at `key` in table `T`, if any.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Decode`].
    pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        let key = key.encode();
        let value = self.db.get_pinned_cf(self.cf(T::NAME)?, &key).map_err(|source| StoreError::Read {
            table: T::NAME,
            key_hex: hex::encode(&key),
            source,
        })?;
        match value {
            None => Ok(None),
            Some(bytes) => Self::decode_row::<T>(&key, &bytes).map(|(_, v)| Some(v)),
        }
    }

    /// The values at several keys of table `T`, in the order of `keys`.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Decode`].
    pub fn multi_get<T: Table>(&self, keys: &[T::Key]) -> Result<Vec<Option<T::Value>>, StoreError> {
        let cf = self.cf(T::NAME)?;
        let encoded: Vec<Vec<u8>> = keys.iter().map(Codec::encode).collect();
        let results = self.db.batched_multi_get_cf(cf, &encoded, false);
        encoded
            .iter()
            .zip(results)
            .map(|(key, result)| {
                let value =
                    result.map_err(|source| StoreError::Read { table: T::NAME, key_hex: hex::encode(key), source })?;
                match value {
                    None => Ok(None),
                    Some(bytes) => Self::decode_row::<T>(key, &bytes).map(|(_, v)| Some(v)),
                }
            })
            .collect()
    }

    /// Rows of table `T` whose encoded key starts with `prefix`, in key order
    /// (`Forward`) or reverse key order (`Reverse`), starting at `from`
    /// (inclusive) when given. A page deep in a long history costs one seek.
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`]; the iterator yields read and decode errors.
    pub fn scan<T: Table>(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        direction: Direction,
    ) -> Result<Rows<'_, T>, StoreError> {
        let cf = self.cf(T::NAME)?;
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(prefix.to_vec());
        if let Some(upper) = prefix_successor(prefix) {
            opts.set_iterate_upper_bound(upper);
        }
        let mut raw = self.db.raw_iterator_cf_opt(cf, opts);
        match (direction, from) {
            (Direction::Forward, Some(start)) => raw.seek(start),
            (Direction::Forward, None) => raw.seek_to_first(),
            (Direction::Reverse, Some(start)) => raw.seek_for_prev(start),
            (Direction::Reverse, None) => raw.seek_to_last(),
        }
        Ok(Rows { raw, direction, first: true, done: false, _table: std::marker::PhantomData })
    }

    /// The last row (in key order) of table `T` whose encoded key starts
    /// with each of `prefixes`, in the order of `prefixes`: the newest row of
    /// each of several histories, for one iterator and one seek apiece.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Decode`].
    pub fn last_rows<T: Table>(&self, prefixes: &[Vec<u8>]) -> Result<Vec<Option<Row<T>>>, StoreError> {
        let mut raw = self.db.raw_iterator_cf(self.cf(T::NAME)?);
        let mut rows = Vec::with_capacity(prefixes.len());
        for prefix in prefixes {
            match prefix_successor(prefix) {
                Some(upper) => {
                    // The last key before `upper`, the first key past the prefix.
                    raw.seek_for_prev(&upper);
                    if raw.valid() && raw.key() == Some(upper.as_slice()) {
                        raw.prev();
                    }
                }
                None => raw.seek_to_last(),
            }
            let row = match raw.key() {
                Some(key) if raw.valid() && key.starts_with(prefix) => {
                    Some(Self::decode_row::<T>(key, raw.value().unwrap_or_default())?)
                }
                _ => {
                    let err = |source| StoreError::Read { table: T::NAME, key_hex: hex::encode(prefix), source };
                    raw.status().map_err(err)?;
                    None
                }
            };
            rows.push(row);
        }
        Ok(rows)
    }

    /// A new, empty batch for this store, recording undo entries.
    pub fn batch(&self) -> Batch<'_> {
        // Capped, so one huge batch does not make every later one huge.
        let reserve = self.last_batch_bytes.load(Ordering::Relaxed).min(64 << 20);
        Batch {
            store: self,
            inner: WriteBatch::with_capacity_bytes(reserve),
            undo: UndoLog::default(),
            tracked: true,
            key: Vec::new(),
            value: Vec::new(),
        }
    }

    /// A new, empty batch that records undo entries only when `tracked`: a
    /// block that keeps no undo record (deeper than the undo window) skips
    /// copying every key and old value; its tracked methods then write as
    /// [`Batch::put`] and [`Batch::delete`] do.
    pub fn batch_tracking(&self, tracked: bool) -> Batch<'_> {
        Batch { tracked, ..self.batch() }
    }

    /// Writes `batch` atomically: all of its changes or none.
    ///
    /// # Errors
    /// [`StoreError::ReadOnly`] or [`StoreError::Write`].
    pub fn write(&self, batch: Batch<'_>) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let entries = batch.inner.len();
        self.last_batch_bytes.store(batch.inner.size_in_bytes(), Ordering::Relaxed);
        let mut opts = WriteOptions::default();
        opts.disable_wal(self.bulk.load(Ordering::Relaxed));
        self.db.write_opt(batch.inner, &opts).map_err(|source| StoreError::Write { entries, source })
    }

    /// The tip recorded by the last batch that set one.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Decode`].
    pub fn tip(&self) -> Result<Option<BlockRef>, StoreError> {
        let Some(bytes) = self.get::<Meta>(&TIP_KEY.to_owned())? else { return Ok(None) };
        let (height, hash) = <(Height, BlockHash)>::decode(&bytes).map_err(|source| StoreError::Decode {
            table: Meta::NAME,
            key_hex: hex::encode(TIP_KEY),
            source,
        })?;
        Ok(Some(BlockRef { height, hash }))
    }

    /// Undoes the block at the tip, `height`, with its undo record: one
    /// atomic batch restores every key it changed (the tip included) and
    /// deletes the record.
    ///
    /// # Errors
    /// [`StoreError::CorruptUndo`] when the record names an unknown table;
    /// read and write errors. A missing record (the block is deeper than the
    /// kept window) returns `Ok(false)` and changes nothing.
    pub fn unwind_block(&self, height: Height) -> Result<bool, StoreError> {
        let Some(log) = self.get::<Undo>(&height.get())? else { return Ok(false) };
        let mut batch = self.batch();
        for entry in log.entries.iter().rev() {
            let name = *self
                .names
                .get(usize::from(entry.table))
                .ok_or(StoreError::CorruptUndo { height: height.get(), table: entry.table })?;
            let cf = self.cf(name)?;
            match &entry.old {
                Some(old) => batch.inner.put_cf(cf, &entry.key, old),
                None => batch.inner.delete_cf(cf, &entry.key),
            }
        }
        batch.inner.delete_cf(self.cf(Undo::NAME)?, height.get().encode());
        self.write(batch)?;
        Ok(true)
    }

    /// Turns bulk mode on or off. In bulk mode writes skip the WAL, memtables
    /// take their bulk size ([`bulk_write_buffer`]), and compaction never
    /// stalls writes ([`BULK_L0_TRIGGERS`]). Turning it off
    /// flushes every table together and compacts once. Compaction is bounded rather than switched off (as write-only
    /// indexers do) because the indexers read while they write: every
    /// lookup checks each level-0 file, and over a mainnet-sized sync those
    /// would otherwise grow without bound. Since tables flush atomically, a
    /// crash in bulk mode loses only the most recent batches, whole, tip
    /// included.
    ///
    /// # Errors
    /// [`StoreError::Maintenance`].
    pub fn set_bulk(&self, on: bool) -> Result<(), StoreError> {
        if self.read_only || self.bulk.swap(on, Ordering::SeqCst) == on {
            return Ok(());
        }
        let l0 = if on { BULK_L0_TRIGGERS } else { DEFAULT_L0_TRIGGERS };
        let l0 = l0.map(|files| files.to_string());
        let buffer = if on { self.bulk_buffer } else { WRITE_BUFFER_BYTES };
        // The memtable's allocation unit, as RocksDB derives it on open.
        let (buffer, arena) = (buffer.to_string(), (buffer / 8).to_string());
        let bottom = if on { "kLZ4Compression" } else { "kZSTD" };
        if !on {
            self.flush()?;
        }
        for name in &self.names {
            self.db
                .set_options_cf(
                    self.cf(name)?,
                    &[
                        ("level0_file_num_compaction_trigger", l0[0].as_str()),
                        ("level0_slowdown_writes_trigger", l0[1].as_str()),
                        ("level0_stop_writes_trigger", l0[2].as_str()),
                        ("write_buffer_size", buffer.as_str()),
                        ("arena_block_size", arena.as_str()),
                        ("bottommost_compression", bottom),
                    ],
                )
                .map_err(|source| StoreError::Maintenance { operation: "changing compaction options", source })?;
        }
        if !on {
            // The bottom level's files too, so that all of it ends up in its
            // own compression, with the sequence numbers zeroed.
            let mut compact = rocksdb::CompactOptions::default();
            compact.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::ForceOptimized);
            for name in &self.names {
                self.db.compact_range_cf_opt(self.cf(name)?, None::<&[u8]>, None::<&[u8]>, &compact);
            }
        }
        Ok(())
    }

    /// Flushes every table's memtable to disk in one atomic flush.
    ///
    /// # Errors
    /// [`StoreError::Maintenance`].
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flush_all(true)
    }

    /// Starts an atomic flush of every table and returns without waiting:
    /// once it completes, everything written before the call is durable even
    /// in bulk mode. The writer carries on meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Maintenance`].
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.flush_all(false)
    }

    fn flush_all(&self, wait: bool) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        let cfs: Vec<&ColumnFamily> = self.names.iter().map(|name| self.cf(name)).collect::<Result<_, _>>()?;
        let mut opts = FlushOptions::default();
        opts.set_wait(wait);
        self.db
            .flush_cfs_opt(&cfs, &opts)
            .map_err(|source| StoreError::Maintenance { operation: "flushing tables", source })
    }

    /// Approximate bytes on disk of all tables (SST files plus memtables).
    pub fn approximate_size(&self) -> u64 {
        self.names
            .iter()
            .filter_map(|name| {
                let cf = self.cf(name).ok()?;
                let sst = self.db.property_int_value_cf(cf, "rocksdb.total-sst-files-size").ok()??;
                let mem = self.db.property_int_value_cf(cf, "rocksdb.cur-size-all-mem-tables").ok()??;
                Some(sst + mem)
            })
            .sum()
    }

    /// Bytes held by all tables' memtables, active and waiting to flush:
    /// what [`StoreConfig::write_buffer_bytes`] bounds.
    pub fn memtable_bytes(&self) -> u64 {
        self.names
            .iter()
            .filter_map(|name| {
                let cf = self.cf(name).ok()?;
                self.db.property_int_value_cf(cf, "rocksdb.cur-size-all-mem-tables").ok()?
            })
            .sum()
    }

    /// How far compaction lags the writer, over all tables: level-0 files
    /// (each lookup checks every one) and the bytes RocksDB estimates its
    /// compactions still have to rewrite. For benchmarks.
    pub fn compaction_debt(&self) -> (u64, u64) {
        let sum = |property: &str| -> u64 {
            self.names
                .iter()
                .filter_map(|name| self.db.property_int_value_cf(self.cf(name).ok()?, property).ok()?)
                .sum()
        };
        (sum("rocksdb.num-files-at-level0"), sum("rocksdb.estimate-pending-compaction-bytes"))
    }

    /// Bytes on disk of each table's SST files (memtables not counted: flush
    /// first for a full figure), in schema order: meta, undo, then the
    /// schema's tables. For benchmarks that say what each table costs.
    pub fn table_sizes(&self) -> Vec<(&'static str, u64)> {
        self.names
            .iter()
            .map(|name| {
                let size = self
                    .cf(name)
                    .ok()
                    .and_then(|cf| self.db.property_int_value_cf(cf, "rocksdb.total-sst-files-size").ok().flatten());
                (*name, size.unwrap_or(0))
            })
            .collect()
    }

    /// A SHA-256 over every row of every indexed table in key order (undo
    /// records and the schema's `digest_excludes` left out). Two stores that
    /// indexed the same chain the same way have the same digest, however
    /// they got there (restarts, reorgs, sources).
    ///
    /// # Errors
    /// Read errors.
    pub fn digest(&self) -> Result<[u8; 32], StoreError> {
        let mut hasher = Sha256::new();
        for name in &self.names {
            if *name == Undo::NAME || self.schema.digest_excludes.contains(name) {
                continue;
            }
            hasher.update((name.len() as u32).to_be_bytes());
            hasher.update(name.as_bytes());
            let mut raw = self.db.raw_iterator_cf(self.cf(name)?);
            raw.seek_to_first();
            while raw.valid() {
                let (key, value) = (raw.key().unwrap_or_default(), raw.value().unwrap_or_default());
                hasher.update((key.len() as u32).to_be_bytes());
                hasher.update(key);
                hasher.update((value.len() as u32).to_be_bytes());
                hasher.update(value);
                raw.next();
            }
            raw.status().map_err(|source| StoreError::Read { table: name, key_hex: String::new(), source })?;
        }
        Ok(hasher.finalize().into())
    }
}

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` when there is none (empty or all `0xff`).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last != 0xff {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// Typed rows of a prefix scan; see [`Store::scan`].
pub struct Rows<'a, T: Table> {
    raw: DBRawIterator<'a>,
    direction: Direction,
    first: bool,
    done: bool,
    _table: std::marker::PhantomData<T>,
}

impl<T: Table> Iterator for Rows<'_, T> {
    type Item = Result<(T::Key, T::Value), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if !self.first {
            match self.direction {
                Direction::Forward => self.raw.next(),
                Direction::Reverse => self.raw.prev(),
            }
        }
        self.first = false;
        if !self.raw.valid() {
            self.done = true;
            return self
                .raw
                .status()
                .err()
                .map(|source| Err(StoreError::Read { table: T::NAME, key_hex: String::new(), source }));
        }
        let (key, value) = (self.raw.key().unwrap_or_default(), self.raw.value().unwrap_or_default());
        Some(Store::decode_row::<T>(key, value))
    }
}

/// Changes to write atomically with [`Store::write`]. The tracked methods
/// ([`insert`](Batch::insert), [`update`](Batch::update),
/// [`remove`](Batch::remove), [`set_tip`](Batch::set_tip)) also record how to
/// undo each change (unless the batch was made untracked,
/// [`Store::batch_tracking`]); [`keep_undo`](Batch::keep_undo) stores that record with
/// the batch so the block can be unwound later.
pub struct Batch<'s> {
    store: &'s Store,
    inner: WriteBatch,
    undo: UndoLog,
    /// Whether the tracked methods record undo entries
    /// ([`Store::batch_tracking`]).
    tracked: bool,
    /// Scratch buffers each key and value is encoded into before RocksDB
    /// copies it into the batch: no allocation per change.
    key: Vec<u8>,
    value: Vec<u8>,
}

impl Batch<'_> {
    /// Sets `key` to `value` without recording undo (for rows that unwind
    /// does not need to restore).
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`].
    pub fn put<T: Table>(&mut self, key: &T::Key, value: &T::Value) -> Result<(), StoreError> {
        self.put_scratch::<T>(key, value)
    }

    /// Encodes `key` and `value` into the scratch buffers and puts them.
    fn put_scratch<T: Table>(&mut self, key: &T::Key, value: &T::Value) -> Result<(), StoreError> {
        let cf = self.store.cf(T::NAME)?;
        self.key.clear();
        key.encode_to(&mut self.key);
        self.value.clear();
        value.encode_to(&mut self.value);
        self.inner.put_cf(cf, &self.key, &self.value);
        Ok(())
    }

    /// Deletes `key` without recording undo.
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`].
    pub fn delete<T: Table>(&mut self, key: &T::Key) -> Result<(), StoreError> {
        let cf = self.store.cf(T::NAME)?;
        self.key.clear();
        key.encode_to(&mut self.key);
        self.inner.delete_cf(cf, &self.key);
        Ok(())
    }

    fn track(&mut self, table: &'static str, key: Vec<u8>, old: Option<Vec<u8>>) -> Result<(), StoreError> {
        let table = self.store.index_of(table)?;
        self.undo.entries.push(UndoEntry { table, key, old });
        Ok(())
    }

    /// Creates `key` (which did not exist) with `value`; undo deletes it.
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`].
    pub fn insert<T: Table>(&mut self, key: &T::Key, value: &T::Value) -> Result<(), StoreError> {
        self.put_scratch::<T>(key, value)?;
        if !self.tracked {
            return Ok(());
        }
        self.track(T::NAME, self.key.clone(), None)
    }

    /// Sets `key` to `value` where it was `old` (`None`: absent); undo
    /// restores `old`.
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`].
    pub fn update<T: Table>(
        &mut self,
        key: &T::Key,
        value: &T::Value,
        old: Option<&T::Value>,
    ) -> Result<(), StoreError> {
        self.put_scratch::<T>(key, value)?;
        if !self.tracked {
            return Ok(());
        }
        self.track(T::NAME, self.key.clone(), old.map(Codec::encode))
    }

    /// Deletes `key`, whose value was `old`; undo restores it.
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`].
    pub fn remove<T: Table>(&mut self, key: &T::Key, old: &T::Value) -> Result<(), StoreError> {
        if !self.tracked {
            return self.delete::<T>(key);
        }
        let key = key.encode();
        self.inner.delete_cf(self.store.cf(T::NAME)?, &key);
        self.track(T::NAME, key, Some(old.encode()))
    }

    /// Records `tip` as the store's tip, where it was `old`; undo restores `old`.
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`].
    pub fn set_tip(&mut self, tip: BlockRef, old: Option<BlockRef>) -> Result<(), StoreError> {
        let encode = |tip: BlockRef| (tip.height, tip.hash).encode();
        self.update::<Meta>(&TIP_KEY.to_owned(), &encode(tip), old.map(encode).as_ref())
    }

    /// Stores the undo record gathered so far under `height`, so that
    /// [`Store::unwind_block`] can take this batch back out; and deletes the
    /// record of `prune`, if given (the block that just left the kept window).
    ///
    /// # Errors
    /// [`StoreError::UnknownTable`].
    pub fn keep_undo(&mut self, height: Height, prune: Option<Height>) -> Result<(), StoreError> {
        let log = std::mem::take(&mut self.undo);
        self.put::<Undo>(&height.get(), &log)?;
        if let Some(prune) = prune {
            self.delete::<Undo>(&prune.get())?;
        }
        Ok(())
    }

    /// How many changes the batch holds.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the batch holds no change.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}
