//! Trace jobs: `POST /v1/traces` queues a trace (a [`TraceRequest`], the
//! command line's parameters), which runs in the background on a blocking
//! thread, at most [`JobSettings::max_running`] at once, within a time and a
//! size budget; `GET` shows its status, progress and, once done, its
//! report in any format; `DELETE` cancels it.
//!
//! Jobs are kept in their own store (`<data-dir>/jobs`, see
//! `jobs/SCHEMA.md`). A job is written done only together with its whole
//! report, in one batch; a job its server stopped under is marked failed
//! ("interrupted by a restart") when the store is next opened, never left
//! half-written. [`Jobs`] is the Rust API the web view's trace form calls.

mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chainsleuth_case::{CaseConfig, CaseError, TraceRequest};
use chainsleuth_store::{Store, StoreError};
use chainsleuth_trace::{Budget, Stopped};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::routes::{blocking, path_error, query_error};
use crate::{ApiState, Caller, Role};

pub use store::{path_in as store_path, JobRecord, JobStatus};

/// Jobs per page when `limit` is not given, and the most a page holds.
const DEFAULT_LIST_LIMIT: usize = 50;
const MAX_LIST_LIMIT: usize = 500;

/// The report formats a done job is kept in, with their content types.
pub const FORMATS: [(&str, &str); 5] = [
    ("json", "application/json"),
    ("csv", "text/csv; charset=utf-8"),
    ("dot", "text/vnd.graphviz; charset=utf-8"),
    ("graphml", "application/graphml+xml"),
    ("html", "text/html; charset=utf-8"),
];

/// How trace jobs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// Jobs tracing at once; the rest wait in order.
    pub max_running: usize,
    /// How long one trace (or one exposure request) may run.
    pub time_budget: Duration,
    /// How many coins and transfers one trace may visit, over all its models.
    pub max_visited: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings { max_running: 2, time_budget: Duration::from_secs(600), max_visited: 200_000_000 }
    }
}

impl JobSettings {
    /// A fresh budget with these limits, starting now.
    pub fn budget(&self) -> Budget {
        Budget::new(Some(self.time_budget), Some(self.max_visited))
    }
}

/// What can stop [`Jobs::open`].
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// The jobs store cannot be opened, read or written.
    #[error("the trace jobs store at {path}")]
    Store {
        /// The store's directory.
        path: PathBuf,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

/// A job in memory while it is queued or running.
#[derive(Debug)]
struct Live {
    case: Arc<CaseConfig>,
    cancel: AtomicBool,
    budget: OnceLock<Arc<Budget>>,
}

/// The trace jobs of one data directory: their store, the slots they run
/// in and the switches of those queued or running.
#[derive(Debug)]
pub struct Jobs {
    store: Store,
    data_dir: PathBuf,
    settings: JobSettings,
    slots: Arc<tokio::sync::Semaphore>,
    live: Mutex<HashMap<u64, Arc<Live>>>,
    /// Held while a record is read and rewritten, so two writers of one
    /// job do not interleave.
    write: Mutex<()>,
    next_id: AtomicU64,
    stopping: AtomicBool,
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job's id.
    pub id: u64,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: JobStatus,
    /// The trace asked.
    pub request: TraceRequest,
    /// The name of the token that asked it.
    pub token: Option<String>,
    /// When it was asked (RFC 3339).
    pub created: String,
    /// When it started.
    pub started: Option<String>,
    /// When it ended.
    pub finished: Option<String>,
    /// Coins and transfers visited so far (the trace's progress; its size
    /// budget counts these).
    pub visited: u64,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Whether a cancel was asked and the job has not stopped yet.
    pub cancel_requested: bool,
    /// Once done, the report (the `json` format).
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobPage {
    /// The jobs (without their results).
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next older page; `null` at the end.
    pub next_cursor: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn store_error(err: StoreError) -> ApiError {
    ApiError::internal("the trace jobs store", &err)
}

fn unknown(id: u64) -> ApiError {
    ApiError::not_found("unknown_job", "id", format!("there is no trace job {id}"))
}

fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError { status: StatusCode::CONFLICT, code, message }
}

impl Jobs {
    /// Opens the jobs store of `data_dir` (creating it) and marks failed
    /// every job a stopped server left queued or running.
    ///
    /// # Errors
    /// The store cannot be opened, read or written.
    pub fn open(data_dir: &Path, settings: JobSettings) -> Result<Jobs, JobsError> {
        let fail = |source| JobsError::Store { path: store::path_in(data_dir), source };
        let store = store::open(data_dir).map_err(fail)?;
        let mut last = 0;
        for mut record in store::all(&store).map_err(fail)? {
            last = last.max(record.id);
            if !record.status.is_final() {
                record.status = JobStatus::Failed;
                record.error = Some("interrupted by a restart".to_owned());
                record.finished_ms = Some(now_ms());
                store::put(&store, &record).map_err(fail)?;
                tracing::warn!(job = record.id, "trace job interrupted by a restart, marked failed");
            }
        }
        Ok(Jobs {
            store,
            data_dir: data_dir.to_owned(),
            slots: Arc::new(tokio::sync::Semaphore::new(settings.max_running.max(1))),
            settings,
            live: Mutex::default(),
            write: Mutex::default(),
            next_id: AtomicU64::new(last + 1),
            stopping: AtomicBool::new(false),
        })
    }

    /// The settings jobs run with.
    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Live>>> {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn view(&self, record: JobRecord, result: Option<Value>) -> JobView {
        let live = self.live().get(&record.id).cloned();
        let visited = match live.as_ref().and_then(|l| l.budget.get()) {
            Some(budget) if record.status == JobStatus::Running => budget.visited(),
            _ => record.visited,
        };
        let cancel_requested = live.is_some_and(|l| l.cancel.load(Ordering::Relaxed)) && !record.status.is_final();
        JobView {
            id: record.id,
            status: record.status,
            created: rfc3339(record.created_ms),
            started: record.started_ms.map(rfc3339),
            finished: record.finished_ms.map(rfc3339),
            request: record.request,
            token: record.token,
            visited,
            error: record.error,
            cancel_requested,
            result,
        }
    }

    /// Rewrites job `id`'s record with `change`, unless it has ended.
    fn update(&self, id: u64, change: impl FnOnce(&mut JobRecord)) -> Result<Option<JobRecord>, StoreError> {
        let _guard = self.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(mut record) = store::get(&self.store, id)? else { return Ok(None) };
        if record.status.is_final() {
            return Ok(Some(record));
        }
        change(&mut record);
        store::put(&self.store, &record)?;
        Ok(Some(record))
    }

    /// Checks `request`, stores it as a queued job asked by `token` and
    /// starts it in the background with the case settings `case` (call
    /// from within a tokio runtime).
    ///
    /// # Errors
    /// A 400 naming the field of a request that cannot run, a 404 when its
    /// chain is not indexed, a 503 while the server is stopping, a 500 when
    /// the store fails.
    pub fn start(
        self: &Arc<Self>,
        case: Arc<CaseConfig>,
        request: TraceRequest,
        token: Option<String>,
    ) -> Result<JobView, ApiError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "stopping",
                message: "request: the server is stopping; ask again once it is back".to_owned(),
            });
        }
        let chain = request.validate()?;
        let indexed = match chain {
            chainsleuth_core::Chain::Bitcoin => chainsleuth_btc::index::store_path(&self.data_dir),
            chainsleuth_core::Chain::Ethereum => chainsleuth_eth::store_path(&self.data_dir),
        };
        if !indexed.exists() {
            return Err(CaseError::NotIndexed(chain).into());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let record = JobRecord {
            id,
            status: JobStatus::Queued,
            request,
            token,
            created_ms: now_ms(),
            started_ms: None,
            finished_ms: None,
            visited: 0,
            error: None,
        };
        let live = Arc::new(Live { case, cancel: AtomicBool::new(false), budget: OnceLock::new() });
        self.live().insert(id, Arc::clone(&live));
        if let Err(err) = store::put(&self.store, &record) {
            self.live().remove(&id);
            return Err(store_error(err));
        }
        tracing::info!(job = id, token = record.token.as_deref().unwrap_or("-"), "trace job queued");
        let jobs = Arc::clone(self);
        tokio::spawn(async move {
            let permit = Arc::clone(&jobs.slots).acquire_owned().await;
            let runner = Arc::clone(&jobs);
            let run_live = Arc::clone(&live);
            if !live.cancel.load(Ordering::Relaxed) && !jobs.stopping.load(Ordering::Relaxed) {
                let ran = tokio::task::spawn_blocking(move || runner.run(id, &run_live)).await;
                if let Err(err) = ran {
                    tracing::error!(job = id, error = %err, "trace job task failed");
                    let failed = jobs.update(id, |r| {
                        r.status = JobStatus::Failed;
                        r.error = Some("the trace stopped unexpectedly; the log has the details".to_owned());
                        r.finished_ms = Some(now_ms());
                    });
                    if let Err(err) = failed {
                        tracing::error!(job = id, error = %err, "writing a trace job's failure failed");
                    }
                }
            }
            drop(permit);
            jobs.live().remove(&id);
        });
        Ok(self.view(record, None))
    }

    /// Runs job `id` on this (blocking) thread and writes how it ended.
    fn run(&self, id: u64, live: &Live) {
        let budget = Arc::new(self.settings.budget());
        live.budget.set(Arc::clone(&budget)).expect("a job runs once");
        if live.cancel.load(Ordering::Relaxed) {
            budget.cancel();
        }
        let started = self.update(id, |r| {
            r.status = JobStatus::Running;
            r.started_ms = Some(now_ms());
        });
        let request = match started {
            Ok(Some(record)) if record.status == JobStatus::Running => record.request,
            Ok(_) => return,
            Err(err) => {
                tracing::error!(job = id, error = %err, "starting a trace job failed");
                return;
            }
        };
        let result = chainsleuth_case::run_trace(&self.data_dir, &live.case, &request, &budget);
        if self.stopping.load(Ordering::Relaxed) {
            // The server is going down: the job stays `running` and is
            // marked failed ("interrupted by a restart") on the next open.
            return;
        }
        let finished = now_ms();
        let written = match result {
            Ok(report) => {
                let visited = report.models.values().map(|m| m.visited).sum();
                let reports = [
                    ("json", report.to_json().into_bytes()),
                    ("csv", report.to_csv().into_bytes()),
                    ("dot", report.to_dot().into_bytes()),
                    ("graphml", report.to_graphml().into_bytes()),
                    ("html", report.to_html().into_bytes()),
                ];
                let _guard = self.write.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                store::get(&self.store, id).and_then(|record| {
                    let Some(mut record) = record else { return Ok(()) };
                    record.status = JobStatus::Done;
                    record.visited = visited;
                    record.finished_ms = Some(finished);
                    record.error = None;
                    store::put_done(&self.store, &record, &reports)
                })
            }
            Err(err) => {
                let (status, message) = match &err {
                    CaseError::Stopped(Stopped::Cancelled) => (JobStatus::Cancelled, err.to_string()),
                    CaseError::Store { .. } => {
                        let cause = ApiError::from(err);
                        (JobStatus::Failed, cause.message)
                    }
                    other => (JobStatus::Failed, other.to_string()),
                };
                self.update(id, |r| {
                    r.status = status;
                    r.error = Some(message);
                    r.visited = budget.visited();
                    r.finished_ms = Some(finished);
                })
                .map(drop)
            }
        };
        match written {
            Ok(()) => tracing::info!(job = id, visited = budget.visited(), "trace job ended"),
            Err(err) => tracing::error!(job = id, error = %err, "writing a trace job's end failed"),
        }
    }

    /// Job `id` with, once done, its JSON report as `result`.
    ///
    /// # Errors
    /// A 404 for an unknown id; a 500 when the store fails.
    pub fn get(&self, id: u64) -> Result<JobView, ApiError> {
        let record = store::get(&self.store, id).map_err(store_error)?.ok_or_else(|| unknown(id))?;
        let result = match record.status {
            JobStatus::Done => {
                let json = store::report(&self.store, id, "json").map_err(store_error)?;
                json.and_then(|bytes| serde_json::from_slice(&bytes).ok())
            }
            _ => None,
        };
        Ok(self.view(record, result))
    }

    /// Up to `limit` jobs, newest first, from the one `cursor` names.
    ///
    /// # Errors
    /// A 400 for a bad cursor or limit; a 500 when the store fails.
    pub fn list(&self, cursor: Option<&str>, limit: usize) -> Result<JobPage, ApiError> {
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                "limit",
                format!("expected a whole number from 1 to {MAX_LIST_LIMIT}, got {limit}"),
            ));
        }
        let before = cursor
            .map(|c| {
                c.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_cursor",
                        "cursor",
                        format!("expected a job's next_cursor, got {c:?}"),
                    )
                })
            })
            .transpose()?;
        let mut rows = store::list(&self.store, before, limit + 1).map_err(store_error)?;
        let next_cursor = if rows.len() > limit { rows.pop().map(|r| r.id.to_string()) } else { None };
        Ok(JobPage { jobs: rows.into_iter().map(|r| self.view(r, None)).collect(), next_cursor })
    }

    /// Cancels job `id`: a queued job is cancelled at once, a running one
    /// at its next step (its status turns `cancelled` then).
    ///
    /// # Errors
    /// A 404 for an unknown id, a 409 for a job that has ended, a 500 when
    /// the store fails.
    pub fn cancel(&self, id: u64) -> Result<JobView, ApiError> {
        let live = self.live().get(&id).cloned();
        if let Some(live) = &live {
            live.cancel.store(true, Ordering::Relaxed);
            if let Some(budget) = live.budget.get() {
                budget.cancel();
            }
        }
        let record = self
            .update(id, |r| {
                if r.status == JobStatus::Queued {
                    r.status = JobStatus::Cancelled;
                    r.error = Some(Stopped::Cancelled.to_string());
                    r.finished_ms = Some(now_ms());
                }
            })
            .map_err(store_error)?
            .ok_or_else(|| unknown(id))?;
        if record.status.is_final() && record.status != JobStatus::Cancelled {
            return Err(conflict(
                "job_ended",
                format!("id: trace job {id} has already ended ({}); nothing to cancel", record.status.as_str()),
            ));
        }
        tracing::info!(job = id, "trace job cancel asked");
        Ok(self.view(record, None))
    }

    /// Job `id`'s report in `format` (one of [`FORMATS`]) and its content
    /// type.
    ///
    /// # Errors
    /// A 400 for an unknown format, a 404 for an unknown id, a 409 for a job
    /// that is not done, a 500 when the store fails.
    pub fn report(&self, id: u64, format: &str) -> Result<(&'static str, Vec<u8>), ApiError> {
        let Some(&(format, content_type)) = FORMATS.iter().find(|(name, _)| *name == format) else {
            let names: Vec<&str> = FORMATS.iter().map(|(name, _)| *name).collect();
            return Err(ApiError::bad_request(
                "invalid_format",
                "format",
                format!("expected one of {}, got {format:?}", names.join(", ")),
            ));
        };
        let record = store::get(&self.store, id).map_err(store_error)?.ok_or_else(|| unknown(id))?;
        if record.status != JobStatus::Done {
            return Err(conflict(
                "job_not_done",
                format!("id: trace job {id} is {}; only a done job has a report", record.status.as_str()),
            ));
        }
        let bytes = store::report(&self.store, id, format).map_err(store_error)?.ok_or_else(|| {
            ApiError::internal(
                "the trace jobs store",
                &std::io::Error::other(format!("job {id} has no {format} report")),
            )
        })?;
        Ok((content_type, bytes))
    }

    /// Stops taking jobs and stops those running, leaving them as they are
    /// in the store (the next open marks them failed), and returns once
    /// none runs. For a server shutting down.
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        for live in self.live().values() {
            live.cancel.store(true, Ordering::Relaxed);
            if let Some(budget) = live.budget.get() {
                budget.cancel();
            }
        }
        while !self.live().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The trace job routes.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(start_trace, list_traces))
        .routes(routes!(get_trace, cancel_trace))
        .routes(routes!(trace_report))
}

/// Parses a JSON body into `T`, naming the field that is wrong.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would take a list as the fields in order; only an object names them.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request("invalid_body", "body", "expected a JSON object of the trace's fields"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        // A body that is not JSON at all is about the body, not a field.
        let path = err.path().to_string();
        let syntax = err.inner().is_syntax() || err.inner().is_eof();
        let field = if syntax || path == "." || path.is_empty() { "body" } else { path.as_str() };
        ApiError::bad_request("invalid_body", field, err.inner())
    })?;
    de.end().map_err(|err| ApiError::bad_request("invalid_body", "body", err))?;
    Ok(value)
}

pub(crate) fn job_id(path: Result<UrlPath<String>, PathRejection>) -> Result<u64, ApiError> {
    let UrlPath(text) = path.map_err(path_error)?;
    text.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "id", format!("expected a trace job's number, got {text:?}")))
}

/// `POST /v1/traces`.
#[utoipa::path(post, path = "/v1/traces", tag = "traces", security(("bearer" = ["trace"])),
    request_body(content = TraceRequest, description = "The trace's seeds and parameters, as `chainsleuth trace` \
takes them (defaults alike); unknown fields are refused"),
    responses(
        (status = 202, description = "Queued: `{id, status}` and the rest of the job", body = JobView),
        (status = 400, description = "A body or parameter that cannot run: the message names the field", body = ErrorBody),
        (status = 403, description = "The token's role is below trace", body = ErrorBody),
        (status = 404, description = "The trace's chain is not indexed", body = ErrorBody),
    ))]
async fn start_trace(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    caller.require(Role::Trace)?;
    let request: TraceRequest = parse_body(&body)?;
    let jobs = Arc::clone(&state.jobs);
    let name = caller.name.to_string();
    let case = Arc::clone(&state.case);
    let view = blocking(move || jobs.start(case, request, Some(name))).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Query parameters of the job list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Jobs per page, 1 to 500 [default: 50].
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `next_cursor` of an earlier page.
    cursor: Option<String>,
}

/// `GET /v1/traces`.
#[utoipa::path(get, path = "/v1/traces", tag = "traces", params(ListParams),
    responses(
        (status = 200, description = "Trace jobs, newest first, without their results", body = JobPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
    ))]
async fn list_traces(
    State(state): State<ApiState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<JobPage>, ApiError> {
    let Query(params) = query.map_err(query_error)?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIST_LIMIT,
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_limit",
                "limit",
                format!("expected a whole number from 1 to {MAX_LIST_LIMIT}, got {text:?}"),
            )
        })?,
    };
    let jobs = Arc::clone(&state.jobs);
    blocking(move || jobs.list(params.cursor.as_deref(), limit)).await.map(Json)
}

/// `GET /v1/traces/{id}`.
#[utoipa::path(get, path = "/v1/traces/{id}", tag = "traces",
    params(("id" = u64, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Status, progress (`visited`), times, error, and once done `result`: the \
report as `?format=json` gives it", body = JobView),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
async fn get_trace(
    State(state): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<Json<JobView>, ApiError> {
    let id = job_id(path)?;
    let jobs = Arc::clone(&state.jobs);
    blocking(move || jobs.get(id)).await.map(Json)
}

/// `DELETE /v1/traces/{id}`.
#[utoipa::path(delete, path = "/v1/traces/{id}", tag = "traces", security(("bearer" = ["trace"])),
    params(("id" = u64, Path, description = "The job's id")),
    responses(
        (status = 202, description = "Cancelled (queued) or cancelling (running: `cancel_requested`, and \
`cancelled` at its next step)", body = JobView),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 403, description = "The token's role is below trace", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job has already ended", body = ErrorBody),
    ))]
async fn cancel_trace(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    caller.require(Role::Trace)?;
    let id = job_id(path)?;
    let jobs = Arc::clone(&state.jobs);
    let view = blocking(move || jobs.cancel(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Query parameters of a report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// json (default), csv, dot, graphml or html.
    format: Option<String>,
}

/// `GET /v1/traces/{id}/report`.
#[utoipa::path(get, path = "/v1/traces/{id}/report", tag = "traces",
    params(("id" = u64, Path, description = "The job's id"), ReportParams),
    responses(
        (status = 200, description = "The report: JSON (application/json), CSV (text/csv), DOT \
(text/vnd.graphviz), GraphML (application/graphml+xml) or one self-contained HTML page (text/html)",
            content((String = "application/json"), (String = "text/csv"), (String = "text/vnd.graphviz"),
                (String = "application/graphml+xml"), (String = "text/html"))),
        (status = 400, description = "Bad id or format", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not done", body = ErrorBody),
    ))]
async fn trace_report(
    State(state): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = job_id(path)?;
    let Query(params) = query.map_err(query_error)?;
    let format = params.format.unwrap_or_else(|| "json".to_owned());
    let jobs = Arc::clone(&state.jobs);
    let (content_type, bytes) = blocking(move || jobs.report(id, &format)).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}
