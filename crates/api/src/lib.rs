//! The HTTP API of chainsleuth: read-only JSON over the stores in a data
//! directory, under `/v1` behind bearer tokens, plus an unauthenticated
//! `/healthz`. Every error is a JSON body with a stable `code` and a
//! `message` naming the bad field (see [`ApiError`]).
//!
//! Each request opens the stores it needs read-only, so it sees a
//! consistent snapshot while an indexer writes beside it.
//!
//! Every route is declared once, with its OpenAPI entry (`utoipa`), in the
//! `routes()` of the module that handles it; [`router`] merges them and
//! serves the generated document at `/v1/openapi.json`. A handler takes a
//! [`Caller`] and calls [`Caller::require`] when it needs more than `read`.

pub mod audit;
mod auth;
mod error;
mod exposure;
pub mod jobs;
mod limits;
mod metrics;
mod ready;
mod routes;
pub mod session;
mod status;
mod stores;
mod tags;
pub mod tokens;
pub mod watch;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{Caller, Role, Token, MIN_SECRET_LEN};
pub use error::{ApiError, ErrorBody};
pub use limits::{Limits, CONTENT_SECURITY_POLICY, SECURITY_HEADERS};
pub use metrics::{Histogram, Metrics, MetricsAuth};
pub use ready::{Readiness, WorkerHandle, WorkerView, Workers};
pub use session::{login, logout, SessionSettings, SESSION_COOKIE};
pub use status::{status, Status};
pub use stores::set_caching as set_store_caching;

/// What every request handler needs.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The directory holding the stores.
    pub data_dir: PathBuf,
    /// The live tokens (the data directory's token file).
    pub tokens: Arc<tokens::TokenRegistry>,
    /// Web sessions.
    pub sessions: Arc<session::Sessions>,
    /// Rate, size and time limits.
    pub limits: Arc<limits::Limiter>,
    /// The audit log's writer.
    pub audit: Arc<audit::AuditLog>,
    /// The watchlist, shared with the watcher task ([`watch::run`]).
    pub watch: Arc<watch::Watch>,
    /// The chain workers' reports (`/readyz`, `/metrics`, `/v1/status`).
    pub workers: Arc<Workers>,
    /// Counters and histograms of `/metrics`, for every module to bump.
    pub metrics: Arc<Metrics>,
    /// Held by each tag import (uploaded or scheduled): one at a time.
    pub tag_imports: Arc<tokio::sync::Mutex<()>>,
    /// The config's `[tags]` section, whose sources `POST /v1/tags/imports`
    /// runs by name; `None` without one.
    pub tags_config: Option<Arc<chainsleuth_tags::TagsConfig>>,
    /// The case settings (off-ramps, freezable tokens) of labels and traces.
    pub case: Arc<chainsleuth_case::CaseConfig>,
    /// Trace jobs: their store, slots and budgets.
    pub jobs: Arc<jobs::Jobs>,
}

/// How a server is set up, beyond its data directory.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Rate, size and time limits, CORS.
    pub limits: Limits,
    /// Web sessions.
    pub sessions: SessionSettings,
    /// Trace jobs: how many run at once, their time and size budget.
    pub jobs: jobs::JobSettings,
}

/// What can stop [`ApiState::open`].
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The token file is unreadable or damaged.
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    /// The audit store cannot be opened.
    #[error("opening the audit log")]
    Audit(#[from] audit::AuditError),
    /// The trace jobs store cannot be opened.
    #[error("opening the trace jobs")]
    Jobs(#[from] jobs::JobsError),
}

impl ApiState {
    /// State serving `data_dir` with `settings`: the tokens of its token
    /// file, its audit log (opened for writing: one server per data
    /// directory).
    ///
    /// # Errors
    /// The token file or the audit store cannot be opened.
    pub fn open(data_dir: impl Into<PathBuf>, settings: Settings) -> Result<ApiState, OpenError> {
        let data_dir = data_dir.into();
        let metrics = Arc::<Metrics>::default();
        Ok(ApiState {
            tokens: Arc::new(tokens::TokenRegistry::open(&data_dir)?),
            sessions: Arc::new(session::Sessions::new(settings.sessions)),
            limits: Arc::new(limits::Limiter::new(settings.limits)),
            audit: Arc::new(audit::AuditLog::open(&data_dir)?),
            watch: Arc::new(watch::Watch::new(&data_dir).with_metrics(metrics.clone())),
            workers: Arc::default(),
            metrics,
            tag_imports: Arc::default(),
            tags_config: None,
            case: Arc::default(),
            jobs: Arc::new(jobs::Jobs::open(&data_dir, settings.jobs)?),
            data_dir,
        })
    }

    /// For tests: stores `tokens` in `data_dir`'s token file (beside any
    /// already there) and opens the state with default settings.
    ///
    /// # Panics
    /// The token file or the audit store cannot be written or opened, or a
    /// token's name is taken by another token.
    pub fn new(data_dir: impl Into<PathBuf>, tokens: Vec<Token>) -> ApiState {
        let data_dir = data_dir.into();
        let file = tokens::TokenFile::in_dir(&data_dir);
        for token in &tokens {
            file.add(token).unwrap_or_else(|err| panic!("storing token {:?}: {err}", token.name()));
        }
        ApiState::open(&data_dir, Settings::default())
            .unwrap_or_else(|err| panic!("opening the API state in {}: {err}", data_dir.display()))
    }

    /// The state with the config's case settings (off-ramps, freezable tokens).
    pub fn with_case_config(mut self, config: chainsleuth_case::CaseConfig) -> ApiState {
        self.case = Arc::new(config);
        self
    }

    /// The state with the config's `[tags]` section, for imports by source name.
    pub fn with_tags_config(mut self, config: chainsleuth_tags::TagsConfig) -> ApiState {
        self.tags_config = Some(Arc::new(config));
        self
    }
}

/// The root of the OpenAPI document; the paths come from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "chainsleuth", description = "Address, transaction, cluster, tag and trace queries over the chainsleuth index. Every route but /healthz needs `Authorization: Bearer <token>`; every error is a JSON body with a stable `code` and a `message` naming the bad field."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// Declares the bearer token scheme the document's `security` names.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route behind the token check, with the OpenAPI document.
fn v1_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::routes())
        .merge(tags::routes())
        .merge(jobs::routes())
        .merge(exposure::routes())
        .merge(watch::routes())
}

/// The OpenAPI 3 document of every route, as `/v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = v1_routes().split_for_parts();
    let (_, health) = OpenApiRouter::<ApiState>::new()
        .routes(utoipa_axum::routes!(routes::healthz))
        .routes(utoipa_axum::routes!(ready::readyz))
        .routes(utoipa_axum::routes!(metrics::metrics))
        .split_for_parts();
    doc.merge(health);
    doc
}

/// All routes: `/healthz`, and `/v1/...` behind the token check.
pub fn router(state: ApiState) -> Router {
    let (v1, _) = v1_routes().split_for_parts();
    let doc = Arc::new(openapi());
    let v1 = v1
        .route("/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(ready::readyz))
        .merge(metrics::router(&state))
        .merge(v1)
        .merge(web::router(state.clone()))
        .route_layer(axum::middleware::from_fn(metrics::tag_route))
        .fallback(web::unknown_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::limit_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::cors))
        .layer(axum::middleware::from_fn(limits::security_headers))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then stops
/// accepting connections, returns once the requests in flight are done and
/// their audit records written, and closes the audit log.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let audit = Arc::clone(&state.audit);
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    tokio::task::spawn_blocking(move || audit.close()).await.map_err(std::io::Error::other)?;
    served
}
