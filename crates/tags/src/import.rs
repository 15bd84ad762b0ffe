//! Imports: a file becomes the next version of a source, all or nothing.
//!
//! How an import stays all-or-nothing for files larger than memory:
//!
//! 1. The file's SHA-256 is taken first; identical to the active version's,
//!    the import is a no-op.
//! 2. The new version `v+1` is built beside the active version `v` in
//!    batches of [`ImportOptions::batch_rows`] rows. New tag rows carry
//!    `added = v+1`, which readers do not show while the source's active
//!    version is `v`. A live tag the file still has gets a scratch mark in
//!    `tags_staging` instead of a copy. The first batch also writes a
//!    `tags_pending` row naming the import.
//! 3. After the file, live tags without a mark are retired with
//!    `retired = v+1`, which readers at `v` still show.
//! 4. One small batch switches the source to `v+1`, writes the version row
//!    and the source's entities, and deletes the pending row. This is the
//!    commit point.
//! 5. The scratch marks are deleted.
//!
//! Memory stays bounded by the batch size whatever the file's size, with one
//! exception: entities (ActorPack actors, SDN entries) are held until the
//! switch, which writes them; they number thousands, not millions.
//!
//! A failure (bad rows, malformed file) rolls back at once; a crash leaves
//! the pending row, and the next open rolls back (rows with `added = v+1`
//! deleted, `retired = v+1` cleared), so the source is wholly at `v` or
//! wholly at `v+1`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use chainsleuth_store::{Batch, Codec, Direction};
use sha2::{Digest, Sha256};

use crate::db::TagStore;
use crate::error::{RowError, TagsError};
use crate::formats::{build_tag, default_confidence, read, Defaults, Format, Item, Mapping, ReadContext};
use crate::lines::{file_sha256, DEFAULT_MAX_LINE};
use crate::model::{entity_id, Entity, EntityRecord, ImportReport, Provenance, Retired, Tag, TagRecord, VersionInfo};
use crate::tables::{
    AddrKey, ByEntity, BySource, Entities, EntityKey, Fingerprint, Json, Pending, SourceId, SourceNames, SourceRecord,
    Sources, Spans, Staging, State, TagKey, Tags, Versions,
};

/// How an import reads and validates its file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Import the valid rows and report the invalid ones instead of failing.
    pub skip_invalid: bool,
    /// CSV column or JSON key of each field.
    pub mapping: Mapping,
    /// Values for records that lack them (category and entity for lists).
    pub defaults: Defaults,
    /// The longest line accepted, in bytes.
    pub max_line: usize,
    /// Rows per write batch while staging.
    pub batch_rows: usize,
    /// How many invalid rows an error or report lists (all are counted).
    pub max_listed_errors: usize,
    /// The name recorded as the file in provenance (a URL for fetched
    /// sources); the path when `None`.
    pub file_label: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            skip_invalid: false,
            mapping: Mapping::default(),
            defaults: Defaults::default(),
            max_line: DEFAULT_MAX_LINE,
            batch_rows: 20_000,
            max_listed_errors: 1000,
            file_label: None,
        }
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn fingerprint(tag: &Tag) -> Fingerprint {
    let digest = Sha256::digest(Json(tag.clone()).encode());
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&digest[..16]);
    fp
}

const NEXT_IMPORT: &str = "next_import_id";
const NEXT_SOURCE: &str = "next_source_id";

/// Writes the rows of an import's first batch (pending row, counters, a new
/// source's name).
type Opening<'a> = Box<dyn FnOnce(&mut Batch<'a>) -> Result<(), TagsError> + 'a>;

/// The running state of one import.
struct Run<'a> {
    tags: &'a TagStore,
    source: SourceId,
    name: String,
    import_id: u64,
    version: u32,
    active: u32,
    batch: Batch<'a>,
    /// Keys (`AddrKey ‖ fingerprint`) staged in the unwritten batch.
    in_batch: HashSet<Vec<u8>>,
    /// New rows of the unwritten batch with the tag's earlier spans, put
    /// into it sorted at flush: RocksDB inserts sorted keys into its
    /// memtable several times faster.
    new_rows: Vec<(TagKey, TagRecord, Spans)>,
    /// Whether the pending row has been written (the store is touched).
    started: bool,
    /// Extra rows for the first batch (pending row, counters, source name).
    opening: Option<Opening<'a>>,
}

impl<'a> Run<'a> {
    fn flush(&mut self) -> Result<(), TagsError> {
        if let Some(open) = self.opening.take() {
            open(&mut self.batch)?;
        }
        let mut rows = std::mem::take(&mut self.new_rows);
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, _, spans) in &rows {
            self.batch.put::<BySource>(&(key.1, key.0.clone(), key.2), spans)?;
        }
        let mut by_entity: Vec<_> = rows
            .iter()
            .filter_map(|(key, record, _)| {
                let entity = record.tag.entity.as_deref()?;
                Some((EntityKey::new(&entity_id(entity)), key.0.clone(), key.1, key.2, key.3))
            })
            .collect();
        by_entity.sort_unstable();
        for key in &by_entity {
            self.batch.put::<ByEntity>(key, &())?;
        }
        for (key, record, _) in rows {
            self.batch.put::<Tags>(&key, &Json(record))?;
        }
        let batch = std::mem::replace(&mut self.batch, self.tags.store.batch());
        self.tags.store.write(batch)?;
        self.in_batch.clear();
        self.started = true;
        Ok(())
    }

    fn flush_if_full(&mut self, rows: usize) -> Result<(), TagsError> {
        if self.batch.len() + self.new_rows.len() >= rows {
            self.flush()?;
        }
        Ok(())
    }

    fn abort(self) -> Result<(), TagsError> {
        if self.started {
            self.tags.rollback(self.source, self.import_id, self.version, &self.name)?;
        }
        Ok(())
    }

    /// Stages one valid tag; returns whether it was new, already live, or a
    /// repeat within this file.
    fn stage(&mut self, tag: Tag, provenance: &Provenance) -> Result<Staged, TagsError> {
        let fp = fingerprint(&tag);
        let addr = AddrKey::new(&tag.chain, &tag.address);
        let mut mark = addr.encode();
        mark.extend_from_slice(&fp);
        if !self.in_batch.insert(mark.clone()) {
            return Ok(Staged::Repeat);
        }
        let mut spans = Spans::default();
        if self.started || self.active > 0 {
            spans = self.tags.store.get::<BySource>(&(self.source, addr.clone(), fp))?.unwrap_or_default();
            match spans.live() {
                Some(added) if added == self.version => return Ok(Staged::Repeat),
                Some(_) => {
                    self.batch.put::<Staging>(&(self.import_id, mark), &())?;
                    return Ok(Staged::Live);
                }
                None => {}
            }
        }
        spans.0.push((self.version, 0));
        let record = TagRecord { tag, provenance: provenance.clone(), retired: None };
        self.new_rows.push(((addr, self.source, fp, self.version), record, spans));
        Ok(Staged::New)
    }

    /// Retires every live tag of the source that the new file lacks.
    fn retire_missing(&mut self, at: u64, rows: usize) -> Result<u64, TagsError> {
        let mut retired = 0;
        let scan = self.tags.store.scan::<BySource>(&self.source.encode(), None, Direction::Forward)?;
        for row in scan {
            let ((source, addr, fp), mut spans) = row?;
            let Some(added) = spans.live().filter(|added| *added != self.version) else { continue };
            let mut mark = addr.encode();
            mark.extend_from_slice(&fp);
            if self.tags.store.get::<Staging>(&(self.import_id, mark))?.is_some() {
                continue;
            }
            let key = (addr.clone(), source, fp, added);
            if let Some(Json(mut record)) = self.tags.store.get::<Tags>(&key)? {
                record.retired = Some(Retired { version: self.version, at });
                self.batch.put::<Tags>(&key, &Json(record))?;
            }
            if let Some(last) = spans.0.last_mut() {
                last.1 = self.version;
            }
            self.batch.put::<BySource>(&(source, addr, fp), &spans)?;
            retired += 1;
            self.flush_if_full(rows)?;
        }
        Ok(retired)
    }
}

enum Staged {
    New,
    Live,
    Repeat,
}

impl TagStore {
    /// Imports `path` in `format` as the next version of source `name`.
    ///
    /// Identical content (same SHA-256 as the active version) changes
    /// nothing. Otherwise tags new in the file are added, tags the file no
    /// longer has are retired (kept, with the version and time), and the
    /// source switches to the new version in one atomic write.
    ///
    /// # Errors
    /// [`TagsError::InvalidRows`] (listing lines and reasons) unless
    /// `skip_invalid`; [`TagsError::Malformed`], [`TagsError::LineTooLong`],
    /// [`TagsError::Empty`], [`TagsError::Io`], store errors. On any error
    /// the store is as it was.
    pub fn import(
        &self,
        path: &Path,
        format: Format,
        name: &str,
        options: &ImportOptions,
    ) -> Result<ImportReport, TagsError> {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(TagsError::config("source", "a source name is 1 to 200 characters"));
        }
        let file = options.file_label.clone().unwrap_or_else(|| path.display().to_string());
        let (sha256, len) = file_sha256(path)?;
        if len == 0 {
            return Err(TagsError::Empty { file });
        }
        let existing = self.source_id(name)?;
        let active = match existing {
            Some(id) => self.store.get::<Sources>(&id)?.map_or(0, |Json(s)| s.active),
            None => 0,
        };
        let mut report = ImportReport {
            source: name.to_owned(),
            file: file.clone(),
            format: format.to_string(),
            file_sha256: sha256.clone(),
            changed: false,
            version: active,
            import_id: 0,
            records: 0,
            tags: 0,
            added: 0,
            retired: 0,
            unchanged: 0,
            duplicates: 0,
            entities: 0,
            per_chain: BTreeMap::new(),
            other_chains: 0,
            skipped_tx_tags: 0,
            invalid: Vec::new(),
            invalid_count: 0,
        };
        if let Some(id) = existing.filter(|_| active > 0) {
            if let Some(Json(current)) = self.store.get::<Versions>(&(id, active))? {
                if current.file_sha256 == sha256 {
                    tracing::info!(source = name, version = active, "identical content, nothing to import");
                    report.tags = current.tags;
                    report.unchanged = current.tags;
                    return Ok(report);
                }
            }
        }
        let import_id = self.store.get::<State>(&NEXT_IMPORT.to_owned())?.unwrap_or(1);
        let (source, new_source_id) = match existing {
            Some(id) => (id, None),
            None => {
                let id = self.store.get::<State>(&NEXT_SOURCE.to_owned())?.unwrap_or(1);
                (u32::try_from(id).map_err(|_| TagsError::config("source", "too many sources"))?, Some(id))
            }
        };
        let version = active + 1;
        let imported_at = now_secs();
        let owned_name = name.to_owned();
        let opening = move |batch: &mut Batch<'_>| -> Result<(), TagsError> {
            batch.put::<State>(&NEXT_IMPORT.to_owned(), &(import_id + 1))?;
            batch.put::<Pending>(&source, &(import_id, version, owned_name.clone()))?;
            if let Some(id) = new_source_id {
                batch.put::<State>(&NEXT_SOURCE.to_owned(), &(id + 1))?;
                batch.put::<SourceNames>(&owned_name, &source)?;
            }
            Ok(())
        };
        let mut run = Run {
            tags: self,
            source,
            name: name.to_owned(),
            import_id,
            version,
            active,
            batch: self.store.batch(),
            in_batch: HashSet::new(),
            new_rows: Vec::new(),
            started: false,
            opening: Some(Box::new(opening)),
        };
        let provenance = |record: u64| Provenance {
            import_id,
            version,
            file: file.clone(),
            file_sha256: sha256.clone(),
            record,
            imported_at,
            rule: None,
            evidence: None,
        };
        let mut entities: BTreeMap<String, (Entity, u64)> = BTreeMap::new();
        let outcome = self.stage_file(path, format, options, &file, &mut run, &mut report, &mut entities, &provenance);
        if let Err(err) = outcome {
            run.abort()?;
            return Err(err);
        }
        if report.invalid_count > 0 && !options.skip_invalid {
            run.abort()?;
            return Err(TagsError::InvalidRows { file, count: report.invalid_count, rows: report.invalid });
        }
        if report.tags == 0 && entities.is_empty() {
            run.abort()?;
            return Err(TagsError::Empty { file });
        }
        let finish = (|| -> Result<(), TagsError> {
            run.flush()?;
            if active > 0 {
                report.retired = run.retire_missing(imported_at, options.batch_rows)?;
                run.flush()?;
            }
            Ok(())
        })();
        if let Err(err) = finish {
            run.abort()?;
            return Err(err);
        }
        report.entities = entities.len() as u64;
        let info = VersionInfo {
            version,
            import_id,
            file: file.clone(),
            file_sha256: sha256.clone(),
            format: format.to_string(),
            imported_at,
            tags: report.added + report.unchanged,
            added: report.added,
            retired: report.retired,
            entities: report.entities,
            invalid: report.invalid_count,
        };
        let switch = (|| -> Result<(), TagsError> {
            let mut batch = self.store.batch();
            self.write_entities(&mut batch, source, &entities, version, imported_at, &provenance)?;
            batch.put::<Versions>(&(source, version), &Json(info))?;
            batch.put::<Sources>(&source, &Json(SourceRecord { name: name.to_owned(), active: version }))?;
            batch.delete::<Pending>(&source)?;
            self.store.write(batch)?;
            Ok(())
        })();
        if let Err(err) = switch {
            run.abort()?;
            return Err(err);
        }
        self.clear_staging(import_id)?;
        report.changed = true;
        report.version = version;
        report.import_id = import_id;
        tracing::info!(
            source = name,
            version,
            added = report.added,
            retired = report.retired,
            unchanged = report.unchanged,
            "import done"
        );
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn stage_file(
        &self,
        path: &Path,
        format: Format,
        options: &ImportOptions,
        file: &str,
        run: &mut Run<'_>,
        report: &mut ImportReport,
        entities: &mut BTreeMap<String, (Entity, u64)>,
        provenance: &dyn Fn(u64) -> Provenance,
    ) -> Result<(), TagsError> {
        let cx = ReadContext { file, mapping: &options.mapping, max_line: options.max_line };
        let fallback = default_confidence(format);
        let mut staging = true;
        for item in read(format, path, &cx)? {
            report.records += 1;
            let invalid = match item? {
                Item::Tag(draft) => match build_tag(&draft, &options.defaults, &fallback, self.network) {
                    Ok(tag) => {
                        report.tags += 1;
                        *report.per_chain.entry(tag.chain.as_str().to_owned()).or_default() += 1;
                        if matches!(tag.chain, crate::address::TagChain::Other(_)) {
                            report.other_chains += 1;
                        }
                        if staging {
                            match run.stage(tag, &provenance(draft.line))? {
                                Staged::New => report.added += 1,
                                Staged::Live => report.unchanged += 1,
                                Staged::Repeat => report.duplicates += 1,
                            }
                            run.flush_if_full(options.batch_rows)?;
                        }
                        None
                    }
                    Err(reason) => Some(RowError { line: draft.line, reason }),
                },
                Item::Entity { line, entity } => {
                    entities.insert(entity.id.clone(), (entity, line));
                    None
                }
                Item::TxTag => {
                    report.skipped_tx_tags += 1;
                    None
                }
                Item::Invalid(row) => Some(row),
            };
            if let Some(row) = invalid {
                report.invalid_count += 1;
                if report.invalid.len() < options.max_listed_errors {
                    report.invalid.push(row);
                }
                if !options.skip_invalid {
                    // Nothing will be kept; read on only to list every bad row.
                    staging = false;
                }
            }
        }
        Ok(())
    }

    /// Puts the source's entities into the switching batch and retires the
    /// ones the new version lacks.
    fn write_entities(
        &self,
        batch: &mut Batch<'_>,
        source: SourceId,
        entities: &BTreeMap<String, (Entity, u64)>,
        version: u32,
        at: u64,
        provenance: &dyn Fn(u64) -> Provenance,
    ) -> Result<(), TagsError> {
        for row in self.store.scan::<Entities>(&[], None, Direction::Forward)? {
            let ((key, owner), Json(mut record)) = row?;
            if owner == source && record.retired.is_none() && !entities.contains_key(&key.0) {
                record.retired = Some(Retired { version, at });
                batch.put::<Entities>(&(key, owner), &Json(record))?;
            }
        }
        for (id, (entity, line)) in entities {
            let record = EntityRecord { entity: entity.clone(), provenance: provenance(*line), retired: None };
            batch.put::<Entities>(&(EntityKey::new(id), source), &Json(record))?;
        }
        Ok(())
    }
}
