//! Tag lists for chainsleuth: who is behind an address, and where that
//! claim came from.
//!
//! - [`taxonomy`]: categories (and the default fiat off-ramps), confidence,
//!   status, and the GraphSense concept mapping (see `TAXONOMY.md`);
//! - [`address`]: per-chain address validation and normal form;
//! - [`Format`] readers for CSV, JSON Lines, GraphSense TagPack and
//!   ActorPack YAML, OFAC SDN XML and plain lists, all streaming;
//! - [`TagStore`]: the tag database at `<data-dir>/tags`, with all-or-nothing
//!   versioned imports ([`TagStore::import`]), queries with provenance
//!   ([`TagStore::tags_for`], [`TagStore::history`], [`TagStore::entity`],
//!   [`TagStore::diff`], [`TagStore::sources`], the paged listing
//!   [`TagStore::list`]) and scheduled sources
//!   ([`TagStore::sync_due`]);
//! - the tracer's [`chainsleuth_core::Labels`] over the store: an address's
//!   label from its most confident active tag, every labelled address of a
//!   chain, the source versions in use.
//!
//! Tags are keyed by address, never by cluster. This crate owns the tag-file
//! formats; the CLI and the API are thin shells over it.

pub mod address;
mod db;
mod error;
mod formats;
mod import;
mod labels;
mod lines;
mod list;
mod model;
pub mod schedule;
mod sync;
pub mod tables;
pub mod taxonomy;

pub use address::TagChain;
pub use db::TagStore;
pub use error::{RowError, TagsError};
pub use formats::{Defaults, Field, Format, Mapping};
pub use import::ImportOptions;
pub use lines::{file_sha256, DEFAULT_MAX_LINE};
pub use list::{TagFilter, TagPage, LIST_SCAN_BUDGET, MAX_LIST_PAGE};
pub use model::{
    entity_id, Diff, Entity, EntityRecord, EntityView, ImportReport, Provenance, Retired, RunStatus, SourceInfo, Tag,
    TagRecord, TagView, VersionInfo,
};
pub use sync::{error_chain, redact_url, SourceConfig, SyncOutcome, SyncReport, TagsConfig};
pub use taxonomy::{Category, Confidence, Date, OffRamps, Status};
