//! The records the tag store keeps and returns: a tag and its provenance,
//! entities, source versions, import reports and diffs.
//!
//! These are plain data with serde derives (the CLI prints them as JSON);
//! how they are laid out in RocksDB is in [`crate::tables`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::address::TagChain;
use crate::taxonomy::{Category, Confidence, Status};

/// What a source says about one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The chain of the address.
    pub chain: TagChain,
    /// The address in stored form (see [`crate::address::normalize`]).
    pub address: String,
    /// Our category.
    pub category: Category,
    /// The platform or actor behind the address, as the source names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The source's label for the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// ISO 3166-1 alpha-2 code of the jurisdiction the actor operates from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// The regulator that licensed the actor (e.g. AFSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed_by: Option<String>,
    /// Whether the actor still operates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// How sure the source is.
    pub confidence: Confidence,
    /// The reference the source cites (a URL, a notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The source's own concepts (GraphSense category, abuse, concepts), kept
    /// as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concepts: Vec<String>,
}

/// Where a tag came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The import that first brought the tag in this form.
    pub import_id: u64,
    /// The source version of that import.
    pub version: u32,
    /// The imported file's name (or URL, without credentials).
    pub file: String,
    /// SHA-256 of the imported file, hex.
    pub file_sha256: String,
    /// Line (text formats) or record number (XML) in that file.
    pub record: u64,
    /// When the import ran, seconds since the Unix epoch.
    pub imported_at: u64,
    /// For an inferred tag: the rule that made it (e.g. `cluster:multi-input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For an inferred tag: the evidence (e.g. the txid linking the addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// When and in which version a tag or entity was retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// The first source version without it.
    pub version: u32,
    /// When that version was imported, seconds since the Unix epoch.
    pub at: u64,
}

/// A tag as stored: the tag, its provenance and, once a later version of its
/// source dropped it, when it was retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    /// The tag.
    pub tag: Tag,
    /// Where it came from.
    pub provenance: Provenance,
    /// Set once a later version of the source no longer has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retired>,
}

/// A tag returned by a query, with its source's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagView {
    /// The source's name.
    pub source: String,
    /// The address in display form (EIP-55 for Ethereum).
    pub display_address: String,
    /// The stored record.
    #[serde(flatten)]
    pub record: TagRecord,
}

/// A platform or actor: one record shared by all of its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Entity {
    /// The key: lowercase, single-spaced (see [`entity_id`]).
    pub id: String,
    /// The display name.
    pub name: String,
    /// Other names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// ISO 3166-1 alpha-2 codes of its jurisdictions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jurisdictions: Vec<String>,
    /// Our categories for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Category>,
    /// The regulator that licensed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed_by: Option<String>,
    /// Whether it still operates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Its web address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Free text (sanctions programmes, context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An entity as stored for one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRecord {
    /// The entity.
    pub entity: Entity,
    /// Where it came from.
    pub provenance: Provenance,
    /// Set once a later version of the source no longer has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retired>,
}

/// The key of an entity name: trimmed, lowercase, inner whitespace single.
pub fn entity_id(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// One version of a source, as written when it became active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version number (1, 2, ...).
    pub version: u32,
    /// The import that made it.
    pub import_id: u64,
    /// The file or URL it came from.
    pub file: String,
    /// SHA-256 of the file, hex.
    pub file_sha256: String,
    /// The file's format.
    pub format: String,
    /// When it was imported, seconds since the Unix epoch.
    pub imported_at: u64,
    /// Tags in this version.
    pub tags: u64,
    /// Tags new in this version.
    pub added: u64,
    /// Tags of the previous version dropped by this one.
    pub retired: u64,
    /// Entities in this version.
    pub entities: u64,
    /// Invalid rows skipped (with `skip_invalid`).
    pub invalid: u64,
}

/// The result of one import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The source imported into.
    pub source: String,
    /// The file imported.
    pub file: String,
    /// The file's format.
    pub format: String,
    /// SHA-256 of the file, hex.
    pub file_sha256: String,
    /// `false` when the file was identical to the active version (nothing written).
    pub changed: bool,
    /// The source's active version afterwards.
    pub version: u32,
    /// The import's id (0 when nothing was written).
    pub import_id: u64,
    /// Records read (tags, entities and skipped records).
    pub records: u64,
    /// Valid tags in the file, duplicates included.
    pub tags: u64,
    /// Tags that were new.
    pub added: u64,
    /// Tags of the previous version that this one dropped.
    pub retired: u64,
    /// Tags already present in the previous version.
    pub unchanged: u64,
    /// Repeated tags in the file (same address and content), counted once.
    pub duplicates: u64,
    /// Entities in the file.
    pub entities: u64,
    /// Valid tags per chain (`btc`, `eth`, `ltc`, ...).
    pub per_chain: BTreeMap<String, u64>,
    /// Valid tags on chains chainsleuth does not index (kept, not dropped).
    pub other_chains: u64,
    /// Records that tag a transaction rather than an address (not imported).
    pub skipped_tx_tags: u64,
    /// Invalid rows skipped with `skip_invalid`.
    pub invalid: Vec<crate::RowError>,
    /// How many invalid rows there were (the list may be capped).
    pub invalid_count: u64,
}

/// A source as `tags sources` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The source's name.
    pub name: String,
    /// The active version (0 before the first import).
    pub active_version: u32,
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Scheduled-fetch bookkeeping, if the source was ever synced or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
}

/// The outcome of the last attempts at a source (scheduled or by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunStatus {
    /// Last attempt, seconds since the Unix epoch.
    pub last_attempt: Option<u64>,
    /// Last attempt that imported or confirmed the data.
    pub last_success: Option<u64>,
    /// The last attempt's error, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// The `ETag` of the last imported HTTP response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` of the last imported HTTP response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// What changed in a source between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// The source.
    pub source: String,
    /// The older version.
    pub from: u32,
    /// The newer version.
    pub to: u32,
    /// Tags in `to` but not in `from`.
    pub added: Vec<TagView>,
    /// Tags in `from` but not in `to`.
    pub removed: Vec<TagView>,
}

/// An entity with everything the store knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityView {
    /// The entity's key.
    pub id: String,
    /// Its records, one per source that describes it.
    pub records: Vec<(String, EntityRecord)>,
    /// Its current tags.
    pub tags: Vec<TagView>,
}

impl EntityView {
    /// The distinct addresses of its current tags, as `chain:address`.
    pub fn addresses(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.tags.iter().map(|t| format!("{}:{}", t.record.tag.chain, t.display_address)).collect();
        out.sort();
        out.dedup();
        out
    }
}
