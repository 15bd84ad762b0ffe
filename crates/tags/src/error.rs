//! The tag crate's error type. Every variant about input names the file (or
//! redacted URL) and, where there is one, the line.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One invalid row of an import: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// Line (text formats) or record number.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// How many invalid rows an error message lists before "and N more".
const LISTED_ROWS: usize = 20;

fn list_rows(rows: &[RowError], count: u64) -> String {
    let mut text = rows.iter().take(LISTED_ROWS).map(ToString::to_string).collect::<Vec<_>>().join("; ");
    let listed = rows.len().min(LISTED_ROWS) as u64;
    if count > listed {
        text.push_str(&format!("; and {} more", count - listed));
    }
    text
}

/// What went wrong in the tag crate.
#[derive(Debug, thiserror::Error)]
pub enum TagsError {
    /// A file could not be read.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A line is longer than the importer accepts (the file is not read further).
    #[error("{file}: line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The file is not well-formed in its format (broken YAML header,
    /// malformed XML, a CSV header missing a mapped column).
    #[error("{file}: line {line}: {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// Rows failed validation and `skip_invalid` was off; nothing was imported.
    #[error("{file}: {count} invalid rows, nothing imported: {}", list_rows(rows, *count))]
    InvalidRows {
        /// The file.
        file: String,
        /// How many rows were invalid.
        count: u64,
        /// The first of them (capped), in file order.
        rows: Vec<RowError>,
    },
    /// The file holds no tags (or no entities, for an ActorPack).
    #[error("{file}: no records found (empty file?)")]
    Empty {
        /// The file.
        file: String,
    },
    /// A source name that no import has created.
    #[error("no tag source named {0:?}")]
    UnknownSource(String),
    /// A version a source does not have.
    #[error("source {source_name:?} has no version {version} (it has 1 to {latest})")]
    UnknownVersion {
        /// The source.
        source_name: String,
        /// The version asked for.
        version: u32,
        /// Its latest version.
        latest: u32,
    },
    /// A listing cursor that is not a `next_cursor` of the same listing.
    #[error("cursor {0:?} is not a next_cursor of this listing")]
    BadCursor(String),
    /// An address given to a query is not valid on its chain.
    #[error("invalid address")]
    Address(#[from] crate::address::AddressError),
    /// Bad options or configuration (mapping, schedule, source entry).
    #[error("{field}: {reason}")]
    Config {
        /// The option or config field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP fetch failed (after retries).
    #[error("fetching {url}: {reason}")]
    Fetch {
        /// The URL, credentials removed.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The store failed.
    #[error("tag store")]
    Store(#[from] chainsleuth_store::StoreError),
}

impl TagsError {
    /// A [`TagsError::Config`] for `field`.
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        TagsError::Config { field: field.into(), reason: reason.into() }
    }
}
