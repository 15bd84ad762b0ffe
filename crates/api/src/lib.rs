//! The HTTP API of chainsleuth: read-only JSON over the stores in a data
//! directory, under `/v1` behind bearer tokens, plus an unauthenticated
//! `/healthz`. Every error is a JSON body with a stable `code` and a
//! `message` naming the bad field (see [`ApiError`]).
//!
//! Each request opens the stores it needs read-only, so it sees a
//! consistent snapshot while an indexer writes beside it.

mod auth;
mod error;
mod routes;
mod status;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;

pub use auth::{Role, Token, MIN_SECRET_LEN};
pub use error::ApiError;
pub use status::{status, Status};

/// What every request handler needs.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The directory holding the stores.
    pub data_dir: PathBuf,
    /// The tokens `/v1` accepts.
    pub tokens: Arc<[Token]>,
}

impl ApiState {
    /// State serving `data_dir` to holders of `tokens`.
    pub fn new(data_dir: impl Into<PathBuf>, tokens: Vec<Token>) -> ApiState {
        ApiState { data_dir: data_dir.into(), tokens: tokens.into() }
    }
}

/// All routes: `/healthz`, and `/v1/...` behind the token check.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/status", get(routes::status))
        .route("/tags/sources", get(routes::tag_sources))
        .route("/entities/{name}", get(routes::entity))
        .route("/{chain}/address/{address}", get(routes::address))
        .route("/{chain}/tx/{id}", get(routes::tx))
        .route("/{chain}/cluster/{query}", get(routes::cluster))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .nest("/v1", v1)
        .fallback(routes::unknown_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then stops
/// accepting connections and returns once the requests in flight are done.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
