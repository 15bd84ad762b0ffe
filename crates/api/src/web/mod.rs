//! The web view: server-rendered HTML pages for people, over the same data
//! functions and the same authentication as the JSON API. Pages work
//! without JavaScript; the templates (maud) are compiled into the binary and
//! the one stylesheet is served by it at `/assets/style.css`, so nothing is
//! fetched from elsewhere.
//!
//! This is not part of the API: the pages are not in the OpenAPI document
//! and their markup is no contract. Scripts and tools use `/v1`.
//!
//! Every page but `/login` and the stylesheet goes through the API's token
//! middleware (a bearer token or the session cookie); a request it turns
//! away is redirected to `/login`. Errors are HTML pages carrying the API's
//! message for the same input.

mod address;
mod cluster;
mod layout;
mod login;
mod search;
mod trace;
mod tx;

use axum::extract::Request;
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::html;

use crate::error::ApiError;
use crate::ApiState;

/// An error shown as an HTML page: the API's status and message for the
/// same input, under a heading that says what kind of failure it is.
#[derive(Debug)]
pub(crate) struct WebError(ApiError);

impl From<ApiError> for WebError {
    fn from(err: ApiError) -> WebError {
        WebError(err)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let ApiError { status, code, message } = self.0;
        let heading = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::UNAUTHORIZED => "Not signed in",
            status if status.is_client_error() => "Cannot answer that",
            _ => "Something went wrong",
        };
        let body = html! {
            h1 { (heading) }
            div.notice.error { p { (message) } p.muted { "code " code { (code) } ", HTTP " (status.as_u16()) } }
            p { a href="/" { "Search again" } }
        };
        (status, layout::page(heading, body)).into_response()
    }
}

/// The stylesheet every page links.
async fn style() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")], include_str!("style.css"))
}

/// Middleware outside the token check: a page it turned away (401) becomes
/// a redirect to the login form, which comes back here after signing in.
async fn to_login(request: Request, next: Next) -> Response {
    let back = match *request.method() {
        Method::GET => request.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned(),
        _ => "/".to_owned(),
    };
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        return Redirect::to(&layout::href("/login", &[("next", &back)])).into_response();
    }
    response
}

/// Any path without a route: an HTML "not found" page for a browser, the
/// API's JSON error for everyone else and under `/v1`.
pub(crate) async fn unknown_route(request: Request) -> Response {
    let wants_html = request
        .headers()
        .get(ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let uri: Uri = request.uri().clone();
    let err = crate::routes::unknown_route(uri.clone()).await;
    if wants_html && !uri.path().starts_with("/v1/") {
        WebError(err).into_response()
    } else {
        err.into_response()
    }
}

/// The web view's routes: the login form and the stylesheet open to all,
/// every other page behind the token middleware.
pub(crate) fn router(state: ApiState) -> Router<ApiState> {
    let pages = Router::new()
        .route("/", get(search::home))
        .route("/search", get(search::search))
        .route("/btc/address/{address}", get(address::btc))
        .route("/eth/address/{address}", get(address::eth))
        .route("/btc/tx/{txid}", get(tx::btc))
        .route("/eth/tx/{hash}", get(tx::eth))
        .route("/btc/cluster/{query}", get(cluster::btc))
        .route("/trace", get(trace::form).post(trace::start))
        .route("/trace/{id}", get(trace::report))
        .route_layer(from_fn_with_state(state, crate::auth::require_token))
        .route_layer(from_fn(to_login));
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", get(login::logout).post(login::logout))
        .route("/assets/style.css", get(style))
        .merge(pages)
}
