//! Prometheus `GET /metrics`: the text exposition format, written by hand.
//!
//! It shows, per chain, the worker's indexed tip, the node's tip, the lag
//! and blocks/s (from [`crate::Workers`]); tag imports per source and
//! outcome; HTTP requests and their latency by matched route template (never
//! the raw path, so the series stay few), method and status; store opens;
//! trace jobs and alert deliveries.
//!
//! Other modules count into [`Metrics`] (`state.metrics`):
//! [`Metrics::tag_import`], [`Metrics::trace_job`], [`Metrics::alert_stored`]
//! and [`Metrics::alert_delivery`]. Who may read `/metrics` is set by
//! `[serve] metrics_auth` (a read token by default); it is not for building
//! dashboards of secrets: no label holds a token, a path or an address.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::{ApiState, Caller, Role};

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A latency histogram with Prometheus's cumulative buckets; lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or below each bound of [`BUCKETS`] (not cumulative).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines of `name{labels}`.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Who may read `/metrics` (`[serve] metrics_auth`): nobody needs a token
/// (`none`, for a scraper on a private network), or a token of at least the
/// role named (`read`, the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAuth {
    /// No token.
    None,
    /// A read token or above.
    #[default]
    Read,
    /// A trace token or above.
    Trace,
    /// An admin token.
    Admin,
}

impl MetricsAuth {
    /// The role a caller needs; `None` when no token is needed.
    pub fn role(self) -> Option<Role> {
        match self {
            MetricsAuth::None => None,
            MetricsAuth::Read => Some(Role::Read),
            MetricsAuth::Trace => Some(Role::Trace),
            MetricsAuth::Admin => Some(Role::Admin),
        }
    }
}

/// One series of the HTTP request histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct HttpKey {
    route: Arc<str>,
    method: &'static str,
    status: u16,
}

/// The counters and histograms of the process.
#[derive(Debug)]
pub struct Metrics {
    /// The role `/metrics` needs; `None`: no token.
    auth: Mutex<Option<Role>>,
    http: Mutex<HashMap<HttpKey, Arc<Histogram>>>,
    tag_imports: Mutex<BTreeMap<(String, &'static str), u64>>,
    trace_jobs: Mutex<BTreeMap<&'static str, u64>>,
    alerts_stored: AtomicU64,
    alert_deliveries: Mutex<BTreeMap<&'static str, u64>>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Some(Role::Read))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// Empty metrics whose `/metrics` needs a token of role `auth` (`None`:
    /// no token).
    pub fn new(auth: Option<Role>) -> Metrics {
        Metrics {
            auth: Mutex::new(auth),
            http: Mutex::default(),
            tag_imports: Mutex::default(),
            trace_jobs: Mutex::default(),
            alerts_stored: AtomicU64::new(0),
            alert_deliveries: Mutex::default(),
            started: Instant::now(),
        }
    }

    /// Sets the role `/metrics` needs (`None`: no token), for the routers
    /// built after the call.
    pub fn set_auth(&self, auth: Option<Role>) {
        *lock(&self.auth) = auth;
    }

    fn auth(&self) -> Option<Role> {
        *lock(&self.auth)
    }

    /// Counts one import of tag source `source`: `outcome` is `imported`,
    /// `unchanged`, `not_modified` or `failed` (scheduled or uploaded).
    pub fn tag_import(&self, source: &str, outcome: &'static str) {
        *lock(&self.tag_imports).entry((source.to_owned(), outcome)).or_default() += 1;
    }

    /// Counts a trace job event: `started`, then one of `succeeded`,
    /// `failed`, `cancelled` or `over_budget` (a static word: it becomes a
    /// label value).
    pub fn trace_job(&self, event: &'static str) {
        *lock(&self.trace_jobs).entry(event).or_default() += 1;
    }

    /// Counts an alert stored by the watcher.
    pub fn alert_stored(&self) {
        self.alerts_stored.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a webhook delivery attempt of an alert: `delivered`, `failed`
    /// (will be retried) or `abandoned` (a static word: it becomes a label).
    pub fn alert_delivery(&self, outcome: &'static str) {
        *lock(&self.alert_deliveries).entry(outcome).or_default() += 1;
    }

    fn http_request(&self, route: Arc<str>, method: &'static str, status: StatusCode, took: Duration) {
        let key = HttpKey { route, method, status: status.as_u16() };
        let histogram = lock(&self.http).entry(key).or_default().clone();
        histogram.observe(took);
    }

    /// The text exposition of every metric, the workers' figures included.
    fn render(&self, state: &ApiState) -> String {
        let mut out = String::new();
        let workers = state.workers.snapshot();
        let gauge = |out: &mut String, name: &str, help: &str, values: Vec<(&str, Option<f64>)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (chain, value) in values {
                if let Some(value) = value {
                    let _ = writeln!(out, "{name}{{chain=\"{chain}\"}} {value}");
                }
            }
        };
        let per_chain =
            |f: &dyn Fn(&crate::WorkerView) -> Option<f64>| workers.iter().map(|w| (w.chain, f(w))).collect::<Vec<_>>();
        gauge(
            &mut out,
            "chainsleuth_worker_up",
            "1 while the chain's worker runs.",
            per_chain(&|w| Some(f64::from(u8::from(w.running)))),
        );
        gauge(
            &mut out,
            "chainsleuth_indexed_tip",
            "Height of the indexed tip.",
            per_chain(&|w| w.indexed_tip.map(|h| h as f64)),
        );
        gauge(
            &mut out,
            "chainsleuth_node_tip",
            "Height of the node's tip when last asked.",
            per_chain(&|w| w.node_tip.map(|h| h as f64)),
        );
        gauge(
            &mut out,
            "chainsleuth_lag_blocks",
            "Node tip minus indexed tip.",
            per_chain(&|w| w.lag.map(|h| h as f64)),
        );
        gauge(
            &mut out,
            "chainsleuth_blocks_per_second",
            "Blocks indexed per second over the last 30 s.",
            per_chain(&|w| Some(w.blocks_per_second)),
        );
        gauge(
            &mut out,
            "chainsleuth_max_lag_blocks",
            "The lag /readyz accepts.",
            per_chain(&|w| Some(w.max_lag as f64)),
        );
        let _ = writeln!(out, "# HELP chainsleuth_worker_errors_total Errors that stopped a worker run.\n# TYPE chainsleuth_worker_errors_total counter");
        for w in &workers {
            let _ = writeln!(out, "chainsleuth_worker_errors_total{{chain=\"{}\"}} {}", w.chain, w.errors);
        }

        let _ = writeln!(out, "# HELP chainsleuth_tag_imports_total Tag source imports by outcome.\n# TYPE chainsleuth_tag_imports_total counter");
        for ((source, outcome), n) in lock(&self.tag_imports).iter() {
            let _ = writeln!(
                out,
                "chainsleuth_tag_imports_total{{source=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(source)
            );
        }

        let name = "chainsleuth_http_requests";
        let _ = writeln!(
            out,
            "# HELP {name}_total HTTP requests by route template, method and status.\n# TYPE {name}_total counter"
        );
        let mut http: Vec<(HttpKey, Arc<Histogram>)> =
            lock(&self.http).iter().map(|(k, h)| (k.clone(), h.clone())).collect();
        http.sort_by(|a, b| a.0.cmp(&b.0));
        let labels =
            |k: &HttpKey| format!("route=\"{}\",method=\"{}\",status=\"{}\"", escape(&k.route), k.method, k.status);
        for (key, histogram) in &http {
            let _ = writeln!(out, "{name}_total{{{}}} {}", labels(key), histogram.count());
        }
        let name = "chainsleuth_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer, by route template, method and status.\n# TYPE {name} histogram"
        );
        for (key, histogram) in &http {
            histogram.write(&mut out, name, &labels(key));
        }

        let name = "chainsleuth_store_open_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Read-only store opens for requests, by store.\n# TYPE {name} histogram");
        let mut reused = Vec::new();
        crate::stores::stats(&state.data_dir, |store, stats| {
            stats.opens.write(&mut out, name, &format!("store=\"{store}\""));
            reused.push((store, stats.reused.load(Ordering::Relaxed), stats.stale.load(Ordering::Relaxed)));
        });
        let name = "chainsleuth_store_handle_reused_total";
        let _ =
            writeln!(out, "# HELP {name} Requests served by a kept read-only handle, by store.\n# TYPE {name} counter");
        for (store, n, _) in &reused {
            let _ = writeln!(out, "{name}{{store=\"{store}\"}} {n}");
        }
        let name = "chainsleuth_store_handle_stale_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests served by the kept handle while a fresher one was opening, by store.\n# TYPE {name} counter"
        );
        for (store, _, n) in &reused {
            let _ = writeln!(out, "{name}{{store=\"{store}\"}} {n}");
        }

        let name = "chainsleuth_trace_jobs_total";
        let _ = writeln!(out, "# HELP {name} Trace job events.\n# TYPE {name} counter");
        for (event, n) in lock(&self.trace_jobs).iter() {
            let _ = writeln!(out, "{name}{{event=\"{event}\"}} {n}");
        }
        let name = "chainsleuth_alerts_stored_total";
        let _ = writeln!(out, "# HELP {name} Watchlist alerts stored.\n# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", self.alerts_stored.load(Ordering::Relaxed));
        let name = "chainsleuth_alert_deliveries_total";
        let _ = writeln!(out, "# HELP {name} Webhook delivery attempts by outcome.\n# TYPE {name} counter");
        for (outcome, n) in lock(&self.alert_deliveries).iter() {
            let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {n}");
        }
        let name = "chainsleuth_uptime_seconds";
        let _ = writeln!(out, "# HELP {name} Seconds since the process started serving.\n# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {}", self.started.elapsed().as_secs_f64());
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses(
        (status = 200, description = "Prometheus text exposition (version 0.0.4); the token it needs is set by [serve] metrics_auth", body = String, content_type = "text/plain"),
        (status = 401, description = "No or unknown token", body = crate::ErrorBody),
    ))]
pub async fn metrics(State(state): State<ApiState>) -> Response {
    let text = state.metrics.render(&state);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// Lets a request through when its caller has the role `/metrics` needs.
async fn require_metrics_role(State(state): State<ApiState>, caller: Caller, request: Request, next: Next) -> Response {
    match state.metrics.auth().map(|role| caller.require(role)) {
        Some(Err(denied)) => denied.into_response(),
        _ => next.run(request).await,
    }
}

/// The `/metrics` route, behind a token unless `[serve] metrics_auth` is `none`.
pub(crate) fn router(state: &ApiState) -> Router<ApiState> {
    let route = Router::new().route("/metrics", get(metrics));
    if state.metrics.auth().is_none() {
        return route;
    }
    route
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_metrics_role))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::require_token))
}

/// The matched route template of a response, put there by [`tag_route`].
#[derive(Debug, Clone)]
struct RouteTemplate(Arc<str>);

/// Marks the response with the route template that matched (a route layer:
/// it runs only for requests that matched a route).
pub(crate) async fn tag_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(RouteTemplate(matched.as_str().into()));
    }
    response
}

/// Times every request and counts it under its route template (`unmatched`
/// for paths without a route), method and status.
pub(crate) async fn track(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = response.extensions().get::<RouteTemplate>().map_or_else(|| Arc::from("unmatched"), |r| r.0.clone());
    state.metrics.http_request(route, method, response.status(), started.elapsed());
    response
}

/// The method as a label; any method outside the standard ones is `other`,
/// so a client cannot add series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(300));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram.write(&mut out, "x", "route=\"/a\"");
        assert!(out.contains("x_bucket{route=\"/a\",le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{route=\"/a\",le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{route=\"/a\",le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{route=\"/a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{route=\"/a\"} 3\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
