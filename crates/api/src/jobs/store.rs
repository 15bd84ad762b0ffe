//! The trace jobs store (`<data-dir>/jobs`): one JSON record per job and
//! its report in every format once done. `SCHEMA.md` beside this file
//! documents the layout; a test keeps it in step with [`SCHEMA`].

use std::path::Path;

use chainsleuth_case::TraceRequest;
use chainsleuth_store::{tables, Codec, CodecError, Direction, OpenMode, Schema, Store, StoreError};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a free slot.
    Queued,
    /// Tracing.
    Running,
    /// Finished; the report is stored.
    Done,
    /// Stopped by an error, a budget or a restart; `error` says which.
    Failed,
    /// Cancelled by `DELETE`.
    Cancelled,
}

impl JobStatus {
    /// Whether the job has ended (done, failed or cancelled).
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled)
    }

    /// The status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// What the store keeps of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job's id.
    pub id: u64,
    /// Where it is.
    pub status: JobStatus,
    /// What was asked.
    pub request: TraceRequest,
    /// The name of the token that asked, when known.
    pub token: Option<String>,
    /// When it was asked, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When it started.
    pub started_ms: Option<u64>,
    /// When it ended.
    pub finished_ms: Option<u64>,
    /// Coins and transfers visited (final once it ends).
    pub visited: u64,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

/// A record stored as JSON (a few fields, evolving with the request; the
/// schema's format number guards changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize + DeserializeOwned> Codec for Json<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        // A record is strings, numbers, lists and enums: always serialisable.
        serde_json::to_writer(out, &self.0).expect("job records serialise to JSON");
    }

    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let value = serde_json::from_slice(input).map_err(|_| CodecError::Invalid { what: "json job record" })?;
        *input = &[];
        Ok(Json(value))
    }
}

tables! {
    /// Jobs by id, newest last.
    JobRows("jobs"): u64 => Json<JobRecord>;
    /// A done job's report per format, written with its `done` record.
    JobReports("job_reports"): (u64, String) => Vec<u8>;
}

/// The jobs store's schema.
pub static SCHEMA: Schema = Schema { name: "jobs", format: 1, tables: &["jobs", "job_reports"], digest_excludes: &[] };

/// The store's directory in a data directory.
pub fn path_in(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("jobs")
}

/// Opens (creating) the jobs store for writing.
pub(crate) fn open(data_dir: &Path) -> Result<Store, StoreError> {
    Store::open(&path_in(data_dir), &SCHEMA, OpenMode::ReadWrite)
}

/// Writes one record.
pub(crate) fn put(store: &Store, record: &JobRecord) -> Result<(), StoreError> {
    let mut batch = store.batch();
    batch.put::<JobRows>(&record.id, &Json(record.clone()))?;
    store.write(batch)
}

/// Writes a job's `done` record and its reports in one batch.
pub(crate) fn put_done(store: &Store, record: &JobRecord, reports: &[(&str, Vec<u8>)]) -> Result<(), StoreError> {
    let mut batch = store.batch();
    for (format, bytes) in reports {
        batch.put::<JobReports>(&(record.id, (*format).to_owned()), bytes)?;
    }
    batch.put::<JobRows>(&record.id, &Json(record.clone()))?;
    store.write(batch)
}

/// One job.
pub(crate) fn get(store: &Store, id: u64) -> Result<Option<JobRecord>, StoreError> {
    Ok(store.get::<JobRows>(&id)?.map(|Json(r)| r))
}

/// A done job's report in `format`.
pub(crate) fn report(store: &Store, id: u64, format: &str) -> Result<Option<Vec<u8>>, StoreError> {
    store.get::<JobReports>(&(id, format.to_owned()))
}

/// Up to `limit` jobs, newest first, from id `before` (inclusive) down.
pub(crate) fn list(store: &Store, before: Option<u64>, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
    let from = before.map(|id| id.encode());
    let rows = store.scan::<JobRows>(&[], from.as_deref(), Direction::Reverse)?;
    rows.take(limit).map(|row| row.map(|(_, Json(r))| r)).collect()
}

/// Every job, oldest first (for the start-up check).
pub(crate) fn all(store: &Store) -> Result<Vec<JobRecord>, StoreError> {
    store.scan::<JobRows>(&[], None, Direction::Forward)?.map(|row| row.map(|(_, Json(r))| r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_doc_lists_every_table() {
        assert_eq!(SCHEMA.undocumented_tables(include_str!("SCHEMA.md")), Vec::<&str>::new());
    }

    #[test]
    fn records_round_trip_and_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).unwrap();
        for id in 1..=5 {
            let record = JobRecord {
                id,
                status: JobStatus::Queued,
                request: TraceRequest { seeds: vec![format!("btc:a{id}")], ..TraceRequest::default() },
                token: Some("analyst".into()),
                created_ms: id * 1000,
                started_ms: None,
                finished_ms: None,
                visited: 0,
                error: None,
            };
            put(&store, &record).unwrap();
            assert_eq!(get(&store, id).unwrap(), Some(record));
        }
        let ids = |rows: Vec<JobRecord>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(list(&store, None, 2).unwrap()), [5, 4]);
        assert_eq!(ids(list(&store, Some(3), 10).unwrap()), [3, 2, 1]);
        assert_eq!(ids(all(&store).unwrap()), [1, 2, 3, 4, 5]);
    }
}
