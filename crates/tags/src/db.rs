//! [`TagStore`]: the tag database at `<data-dir>/tags` and its queries (an
//! address's tags with provenance, its history, sources, entities, diffs
//! between versions). Imports are in [`crate::import`], scheduled fetches in
//! [`crate::sync`].
//!
//! The tag store is its own RocksDB database, separate from the chain
//! stores, so imports can run while indexers run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chainsleuth_store::{Codec, Direction, OpenMode, Store};

use crate::address::{display_form, normalize, TagChain};
use crate::error::TagsError;
use crate::model::{entity_id, Diff, EntityView, SourceInfo, TagRecord, TagView, VersionInfo};
use crate::tables::{
    AddrKey, ByEntity, BySource, Entities, EntityKey, Json, Pending, Runs, SourceId, SourceNames, SourceRecord,
    Sources, Spans, Staging, Tags, Versions, SCHEMA,
};

/// The tag database.
#[derive(Debug)]
pub struct TagStore {
    pub(crate) store: Store,
    pub(crate) network: bitcoin::Network,
}

impl TagStore {
    /// The tag store's directory under a data directory: `<data_dir>/tags`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("tags")
    }

    /// Opens (creating it if missing) the tag store at `path` for writing,
    /// and rolls back any import a crash left unfinished.
    ///
    /// # Errors
    /// [`TagsError::Store`] when RocksDB refuses (another writer holds it).
    pub fn open(path: &Path) -> Result<TagStore, TagsError> {
        let store = Store::open(path, &SCHEMA, OpenMode::ReadWrite)?;
        let tags = TagStore { store, network: bitcoin::Network::Bitcoin };
        tags.recover()?;
        Ok(tags)
    }

    /// Opens the tag store at `path` for reading beside a running writer;
    /// it sees the data as of opening.
    ///
    /// # Errors
    /// [`TagsError::Store`] (for instance when the store does not exist).
    pub fn open_read_only(path: &Path) -> Result<TagStore, TagsError> {
        let store = Store::open(path, &SCHEMA, OpenMode::ReadOnly)?;
        Ok(TagStore { store, network: bitcoin::Network::Bitcoin })
    }

    /// Sets the Bitcoin network addresses are validated for (mainnet by default).
    pub fn with_network(mut self, network: bitcoin::Network) -> Self {
        self.network = network;
        self
    }

    /// The Bitcoin network addresses are validated for.
    pub fn network(&self) -> bitcoin::Network {
        self.network
    }

    /// The underlying store (for its digest, size and flush).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Rolls back every import a crash left pending and deletes the scratch
    /// rows of finished ones.
    fn recover(&self) -> Result<(), TagsError> {
        let pending: Vec<_> = self.store.scan::<Pending>(&[], None, Direction::Forward)?.collect::<Result<_, _>>()?;
        for (source, (import_id, version, name)) in pending {
            tracing::warn!(source = %name, import_id, version, "rolling back an import a crash interrupted");
            self.rollback(source, import_id, version, &name)?;
        }
        let mut leftover: Vec<u64> = Vec::new();
        for row in self.store.scan::<Staging>(&[], None, Direction::Forward)? {
            let ((import_id, _), ()) = row?;
            if leftover.last() != Some(&import_id) {
                leftover.push(import_id);
            }
        }
        for import_id in leftover {
            self.clear_staging(import_id)?;
        }
        Ok(())
    }

    /// Undoes everything import `import_id` (version `version` of `source`)
    /// wrote: its new rows are deleted, the rows it retired are live again,
    /// its scratch rows and pending mark go, and a source it created is
    /// forgotten. Safe to repeat after a crash part way.
    pub(crate) fn rollback(&self, source: SourceId, import_id: u64, version: u32, name: &str) -> Result<(), TagsError> {
        let mut batch = self.store.batch();
        for row in self.store.scan::<BySource>(&source.encode(), None, Direction::Forward)? {
            let ((_, addr, fp), mut spans) = row?;
            let before = spans.clone();
            if let Some(&(added, _)) = spans.0.last().filter(|(added, _)| *added == version) {
                let tag_key = (addr.clone(), source, fp, added);
                if let Some(Json(record)) = self.store.get::<Tags>(&tag_key)? {
                    if let Some(entity) = &record.tag.entity {
                        batch.delete::<ByEntity>(&(
                            EntityKey::new(&entity_id(entity)),
                            addr.clone(),
                            source,
                            fp,
                            added,
                        ))?;
                    }
                }
                batch.delete::<Tags>(&tag_key)?;
                spans.0.pop();
            }
            if let Some(last) = spans.0.last_mut().filter(|(_, retired)| *retired == version) {
                last.1 = 0;
                let tag_key = (addr.clone(), source, fp, last.0);
                if let Some(Json(mut record)) = self.store.get::<Tags>(&tag_key)? {
                    record.retired = None;
                    batch.put::<Tags>(&tag_key, &Json(record))?;
                }
            }
            if spans.0.is_empty() {
                batch.delete::<BySource>(&(source, addr, fp))?;
            } else if spans != before {
                batch.put::<BySource>(&(source, addr, fp), &spans)?;
            }
            if batch.len() >= 100_000 {
                self.store.write(std::mem::replace(&mut batch, self.store.batch()))?;
            }
        }
        self.store.write(batch)?;
        self.clear_staging(import_id)?;
        let mut batch = self.store.batch();
        batch.delete::<Pending>(&source)?;
        if self.store.get::<Sources>(&source)?.is_none() {
            batch.delete::<SourceNames>(&name.to_owned())?;
        }
        self.store.write(batch)?;
        Ok(())
    }

    /// Deletes the scratch rows of `import_id`.
    pub(crate) fn clear_staging(&self, import_id: u64) -> Result<(), TagsError> {
        let mut batch = self.store.batch();
        for row in self.store.scan::<Staging>(&import_id.encode(), None, Direction::Forward)? {
            let (key, ()) = row?;
            batch.delete::<Staging>(&key)?;
            if batch.len() >= 100_000 {
                self.store.write(std::mem::replace(&mut batch, self.store.batch()))?;
            }
        }
        self.store.write(batch)?;
        Ok(())
    }

    /// The id of source `name`, if it exists.
    pub(crate) fn source_id(&self, name: &str) -> Result<Option<SourceId>, TagsError> {
        Ok(self.store.get::<SourceNames>(&name.to_owned())?)
    }

    /// Every activated source by id.
    pub(crate) fn source_records(&self) -> Result<HashMap<SourceId, SourceRecord>, TagsError> {
        self.store
            .scan::<Sources>(&[], None, Direction::Forward)?
            .map(|row| row.map(|(id, Json(record))| (id, record)).map_err(TagsError::from))
            .collect()
    }

    /// The versions of source `id`, oldest first.
    pub(crate) fn versions_of(&self, id: SourceId) -> Result<Vec<VersionInfo>, TagsError> {
        self.store
            .scan::<Versions>(&id.encode(), None, Direction::Forward)?
            .map(|row| row.map(|(_, Json(info))| info).map_err(TagsError::from))
            .collect()
    }

    pub(crate) fn view(
        &self,
        sources: &HashMap<SourceId, SourceRecord>,
        source: SourceId,
        record: TagRecord,
    ) -> TagView {
        TagView {
            source: sources.get(&source).map(|s| s.name.clone()).unwrap_or_default(),
            display_address: display_form(&record.tag.chain, &record.tag.address),
            record,
        }
    }

    fn address_rows(&self, chain: &TagChain, address: &str, include_retired: bool) -> Result<Vec<TagView>, TagsError> {
        let stored = normalize(chain, address, self.network)?;
        let sources = self.source_records()?;
        let prefix = AddrKey::new(chain, &stored).encode();
        let mut out = Vec::new();
        for row in self.store.scan::<Tags>(&prefix, None, Direction::Forward)? {
            let ((_, source, _, added), record) = row?;
            if let Some(record) = visible(&sources, source, added, record, include_retired) {
                out.push(self.view(&sources, source, record));
            }
        }
        out.sort_by_key(|t| (t.record.provenance.imported_at, t.source.clone()));
        Ok(out)
    }

    /// The current tags of every address on `chain`, from every source, in
    /// one prefix scan; grouped by address (in key order: shorter stored
    /// addresses first), each address's tags in source order.
    ///
    /// # Errors
    /// Store errors.
    pub fn tags_of_chain(&self, chain: &TagChain) -> Result<Vec<TagView>, TagsError> {
        let sources = self.source_records()?;
        let mut out = Vec::new();
        for row in self.store.scan::<Tags>(&AddrKey::chain_prefix(chain), None, Direction::Forward)? {
            let ((_, source, _, added), record) = row?;
            if let Some(record) = visible(&sources, source, added, record, false) {
                out.push(self.view(&sources, source, record));
            }
        }
        Ok(out)
    }

    /// The current tags of `address` on `chain`, from every source, each with
    /// its provenance; oldest first.
    ///
    /// # Errors
    /// [`TagsError::Address`] when the address is not valid on the chain;
    /// store errors.
    pub fn tags_for(&self, chain: &TagChain, address: &str) -> Result<Vec<TagView>, TagsError> {
        self.address_rows(chain, address, false)
    }

    /// Every tag `address` ever had, retired ones included (with when they
    /// were retired), oldest first.
    ///
    /// # Errors
    /// As [`TagStore::tags_for`].
    pub fn history(&self, chain: &TagChain, address: &str) -> Result<Vec<TagView>, TagsError> {
        self.address_rows(chain, address, true)
    }

    /// Every source: versions, last import, counts and the last fetch status.
    ///
    /// # Errors
    /// Store errors.
    pub fn sources(&self) -> Result<Vec<SourceInfo>, TagsError> {
        let mut out = Vec::new();
        let records = self.source_records()?;
        let mut ids: Vec<_> = records.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let record = &records[&id];
            out.push(SourceInfo {
                name: record.name.clone(),
                active_version: record.active,
                versions: self.versions_of(id)?,
                status: self.run_status(&record.name)?,
            });
        }
        for row in self.store.scan::<Runs>(&[], None, Direction::Forward)? {
            let (name, Json(status)) = row?;
            if !out.iter().any(|s| s.name == name) {
                out.push(SourceInfo { name, active_version: 0, versions: Vec::new(), status: Some(status) });
            }
        }
        Ok(out)
    }

    /// One source by name, if it was ever imported or synced.
    ///
    /// # Errors
    /// Store errors.
    pub fn source(&self, name: &str) -> Result<Option<SourceInfo>, TagsError> {
        Ok(self.sources()?.into_iter().find(|s| s.name == name))
    }

    /// The entity called `name` (its id, display name or an alias): its
    /// records per source and its current tags. `None` if nothing is known.
    ///
    /// # Errors
    /// Store errors.
    pub fn entity(&self, name: &str) -> Result<Option<EntityView>, TagsError> {
        let sources = self.source_records()?;
        let source_name = |id: SourceId| sources.get(&id).map(|s| s.name.clone()).unwrap_or_default();
        let Some(id) = self.entity_key(name)? else { return Ok(None) };
        let records = self.entity_records(&id, &source_name)?;
        let mut tags = Vec::new();
        for row in self.store.scan::<ByEntity>(&EntityKey::new(&id).encode(), None, Direction::Forward)? {
            let ((_, addr, source, fp, added), ()) = row?;
            let active = sources.get(&source).map_or(0, |s| s.active);
            if added > active {
                continue;
            }
            if let Some(Json(record)) = self.store.get::<Tags>(&(addr, source, fp, added))? {
                if record.retired.is_none_or(|r| r.version > active) {
                    tags.push(self.view(&sources, source, TagRecord { retired: None, ..record }));
                }
            }
        }
        if records.is_empty() && tags.is_empty() {
            return Ok(None);
        }
        Ok(Some(EntityView { id, records, tags }))
    }

    fn entity_records(
        &self,
        id: &str,
        source_name: &dyn Fn(SourceId) -> String,
    ) -> Result<Vec<(String, crate::model::EntityRecord)>, TagsError> {
        let mut out = Vec::new();
        for row in self.store.scan::<Entities>(&EntityKey::new(id).encode(), None, Direction::Forward)? {
            let ((_, source), Json(record)) = row?;
            if record.retired.is_none() {
                out.push((source_name(source), record));
            }
        }
        Ok(out)
    }

    /// What changed in `source` from version `from` to version `to`.
    ///
    /// # Errors
    /// [`TagsError::UnknownSource`], [`TagsError::UnknownVersion`], store errors.
    pub fn diff(&self, source: &str, from: u32, to: u32) -> Result<Diff, TagsError> {
        let id = self.source_id(source)?.ok_or_else(|| TagsError::UnknownSource(source.to_owned()))?;
        let sources = self.source_records()?;
        let latest = sources.get(&id).map_or(0, |s| s.active);
        for version in [from, to] {
            if version == 0 || version > latest {
                return Err(TagsError::UnknownVersion { source_name: source.to_owned(), version, latest });
            }
        }
        let live_at = |spans: &Spans, at: u32| {
            spans.0.iter().find(|(added, retired)| *added <= at && (*retired == 0 || *retired > at)).map(|s| s.0)
        };
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for row in self.store.scan::<BySource>(&id.encode(), None, Direction::Forward)? {
            let ((_, addr, fp), spans) = row?;
            let (before, after) = (live_at(&spans, from), live_at(&spans, to));
            if before.is_some() == after.is_some() {
                continue;
            }
            let (first, list) = match (before, after) {
                (None, Some(first)) => (first, &mut added),
                (Some(first), _) => (first, &mut removed),
                (None, None) => continue,
            };
            if let Some(Json(record)) = self.store.get::<Tags>(&(addr, id, fp, first))? {
                list.push(self.view(&sources, id, record));
            }
        }
        Ok(Diff { source: source.to_owned(), from, to, added, removed })
    }
}

/// A tag row as a reader at its source's active version sees it: `None`
/// while an unfinished import stages it, and once retired unless
/// `include_retired`; a live row is returned without its retirement mark
/// (set by an import that has not switched yet).
pub(crate) fn visible(
    sources: &HashMap<SourceId, SourceRecord>,
    source: SourceId,
    added: u32,
    Json(record): Json<TagRecord>,
    include_retired: bool,
) -> Option<TagRecord> {
    let active = sources.get(&source).map_or(0, |s| s.active);
    if added > active {
        return None;
    }
    let live = record.retired.is_none_or(|r| r.version > active);
    match (live, include_retired) {
        (true, _) => Some(TagRecord { retired: None, ..record }),
        (false, true) => Some(record),
        (false, false) => None,
    }
}
