//! `chainsleuth serve`: the read-only HTTP API over the data directory,
//! behind bearer tokens, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use chainsleuth_api::tokens::TokenFile;
use chainsleuth_api::{ApiState, Limits, SessionSettings, Settings};
use clap::Args;
use serde::Deserialize;

use crate::config::de_duration;
use crate::Context;

/// Where `serve` listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Arguments of `chainsleuth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

/// The `[serve]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port to listen on (`--listen` overrides).
    pub listen: Option<SocketAddr>,
    /// Requests per second each token may make on average (50 by
    /// default; 0 turns the limit off).
    pub rate_limit: Option<f64>,
    /// Requests a token may make in a burst above the average (100).
    pub rate_burst: Option<u32>,
    /// The largest request body in bytes (16 MiB by default).
    pub max_body_bytes: Option<usize>,
    /// How long a request may take before it is answered 503 (`60s`).
    #[serde(default, deserialize_with = "de_duration")]
    pub request_timeout: Option<Duration>,
    /// Origins whose pages may call the API from a browser (CORS); none
    /// by default, and then no CORS headers are sent.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Mark the web session cookie `Secure` (set it behind HTTPS).
    #[serde(default)]
    pub secure_cookies: bool,
    /// How long a web session lasts (`12h` by default).
    #[serde(default, deserialize_with = "de_duration")]
    pub session_ttl: Option<Duration>,
}

/// The API's limits and session settings from `[serve]`.
fn api_settings(config: &ServeConfig) -> Settings {
    let defaults = Settings::default();
    Settings {
        limits: Limits {
            rate_per_second: config.rate_limit.unwrap_or(defaults.limits.rate_per_second),
            rate_burst: config.rate_burst.unwrap_or(defaults.limits.rate_burst),
            max_body_bytes: config.max_body_bytes.unwrap_or(defaults.limits.max_body_bytes),
            request_timeout: config.request_timeout.unwrap_or(defaults.limits.request_timeout),
            cors_origins: config.cors_origins.clone(),
        },
        sessions: SessionSettings {
            ttl: config.session_ttl.unwrap_or(defaults.sessions.ttl),
            secure_cookies: config.secure_cookies,
        },
        jobs: defaults.jobs,
    }
}

/// Runs `chainsleuth serve`: refuses to start without tokens, serves until
/// a signal, then lets the requests in flight finish.
pub fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let token_file = TokenFile::in_dir(&ctx.data_dir);
    if token_file.live().context("reading the API tokens")?.is_empty() {
        bail!(
            "no API tokens in {}: run `chainsleuth tokens create --role read --name NAME` first; refusing to serve without authentication",
            token_file.path().display()
        );
    }
    let listen = match args.listen.or(ctx.config.serve.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse()?,
    };
    let state = ApiState::open(&ctx.data_dir, api_settings(&ctx.config.serve))?;
    crate::runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        let local = listener.local_addr()?;
        eprintln!("listening on http://{local}");
        tracing::info!(data_dir = %ctx.data_dir.display(), "serving the API on http://{local}");
        let mut stop = crate::shutdown_on_signals();
        let shutdown = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        chainsleuth_api::serve(listener, state, shutdown).await.context("serving the API")?;
        tracing::info!("stopped serving");
        anyhow::Ok(())
    })
}
