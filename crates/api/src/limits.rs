//! What keeps one client from hurting the service or a browser from being
//! turned against its user: per-token rate limits (a token bucket each),
//! a request body size limit, a request timeout, CORS (off unless origins
//! are configured) and security headers on every response. Page sizes are
//! capped where each route parses `limit` (`MAX_PAGE`).
//!
//! The middlewares here are layered by [`crate::router`]; the rate limit is
//! applied by [`crate::auth::require_token`], which knows the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;

use crate::error::ApiError;
use crate::ApiState;

/// The content security policy of every response: resources from this
/// server only, inline styles allowed for the server-rendered pages, no
/// scripts, no framing, forms posting back here only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The limits of a server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests per second each token may make on average; 0 turns the
    /// rate limit off.
    pub rate_per_second: f64,
    /// Requests a token may make in a burst above the average.
    pub rate_burst: u32,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Origins (`https://host:port`) whose pages may call the API from a
    /// browser; none by default, and then no CORS headers are sent at all.
    pub cors_origins: Vec<String>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            rate_per_second: 50.0,
            rate_burst: 100,
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(60),
            cors_origins: Vec::new(),
        }
    }
}

/// The limits and each token's bucket.
#[derive(Debug, Default)]
pub struct Limiter {
    limits: Limits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    /// Requests the token may still make now (fractions refill over time).
    left: f64,
    at: Instant,
}

/// A 429: the token is over its rate; it may try again after `retry_after`.
#[derive(Debug)]
pub struct RateLimited {
    name: String,
    limits: (f64, u32),
    retry_after: u64,
}

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let (rate, burst) = self.limits;
        let error = ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited",
            message: format!(
                "Authorization: token {:?} is over its limit of {rate} requests/s (bursts of {burst}); retry after {} s",
                self.name, self.retry_after
            ),
        };
        ([(header::RETRY_AFTER, HeaderValue::from(self.retry_after))], error).into_response()
    }
}

impl Limiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: Limits) -> Limiter {
        Limiter { limits, buckets: Mutex::default() }
    }

    /// The limits enforced.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes one request from the bucket of token `name`.
    ///
    /// # Errors
    /// [`RateLimited`] when the bucket is empty, with the whole seconds
    /// until it holds a request again.
    pub fn admit(&self, name: &str) -> Result<(), RateLimited> {
        let (rate, burst) = (self.limits.rate_per_second, f64::from(self.limits.rate_burst.max(1)));
        if rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(name.to_owned()).or_insert(Bucket { left: burst, at: now });
        bucket.left = (bucket.left + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.left >= 1.0 {
            bucket.left -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.left) / rate).ceil().max(1.0);
        Err(RateLimited {
            name: name.to_owned(),
            limits: (rate, self.limits.rate_burst),
            // A rate below one request a day would wait longer; none is that slow.
            retry_after: wait.min(86_400.0) as u64,
        })
    }
}

fn body_too_large(max: usize) -> Response {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "body_too_large",
        message: format!("body: larger than the limit of {max} bytes"),
    }
    .into_response()
}

/// Middleware: reads the request body into memory, up to the limit (413
/// past it), hands it to the audit record, and passes it on.
pub async fn limit_body(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let max = state.limits.limits.max_body_bytes;
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return body_too_large(max);
    }
    let (parts, body) = request.into_parts();
    let bytes = match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => return body_too_large(max),
        Err(_) => {
            return ApiError::bad_request("unreadable_body", "body", "the request body could not be read")
                .into_response()
        }
    };
    crate::audit::note_body(&parts, &bytes);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Middleware: answers 503 `timeout` when the rest of the stack takes longer
/// than the configured timeout.
pub async fn timeout(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let limit = state.limits.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "timeout",
            message: format!("request: not answered within {} s", limit.as_secs_f64()),
        }
        .into_response(),
    }
}

/// Middleware: CORS for the configured origins only. A request from any
/// other origin (or any request when none is configured) gets no CORS
/// headers, so browsers keep other sites' pages from reading the answers.
pub async fn cors(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let origins = &state.limits.limits.cors_origins;
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .filter(|origin| origins.iter().any(|allowed| allowed.as_bytes() == origin.as_bytes()))
        .cloned();
    let Some(origin) = allowed else { return next.run(request).await };
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if preflight {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
}

/// The headers [`security_headers`] sets on every response.
pub const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
];

/// Middleware: [`SECURITY_HEADERS`] on every response, and `Cache-Control:
/// no-store` unless the handler chose a caching policy (answers name
/// suspects and should not linger in shared caches).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_the_rate() {
        let limiter = Limiter::new(Limits { rate_per_second: 10.0, rate_burst: 3, ..Limits::default() });
        for _ in 0..3 {
            limiter.admit("a").unwrap();
        }
        let limited = limiter.admit("a").unwrap_err();
        assert_eq!(limited.retry_after, 1);
        limiter.admit("b").expect("each token has its own bucket");
        std::thread::sleep(Duration::from_millis(120));
        limiter.admit("a").expect("one request refilled after 100 ms");
        let off = Limiter::new(Limits { rate_per_second: 0.0, rate_burst: 1, ..Limits::default() });
        for _ in 0..100 {
            off.admit("a").unwrap();
        }
    }

    #[tokio::test]
    async fn a_slow_request_is_answered_503_in_json() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { request_timeout: Duration::from_millis(200), ..Limits::default() };
        let state = ApiState::open(dir.path(), crate::Settings { limits, ..crate::Settings::default() }).unwrap();
        let app = axum::Router::new()
            .route("/slow", axum::routing::get(|| tokio::time::sleep(Duration::from_secs(5))))
            .route("/quick", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(state, timeout));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let started = Instant::now();
        let slow = reqwest::get(format!("{base}/slow")).await.unwrap();
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < Duration::from_secs(2));
        let body: serde_json::Value = slow.json().await.unwrap();
        assert_eq!(body["code"], "timeout");
        assert_eq!(body["message"], "request: not answered within 0.2 s");
        assert_eq!(reqwest::get(format!("{base}/quick")).await.unwrap().status(), StatusCode::OK);
    }
}
