//! `chainsleuth serve`: the read-only HTTP API over the data directory,
//! behind bearer tokens, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use chainsleuth_api::{ApiState, Token};
use clap::Args;
use serde::Deserialize;

use crate::Context;

/// Where `serve` listens unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Arguments of `chainsleuth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Accepted tokens, one `role:secret` per line (role read or admin);
    /// replaces the config file's [serve] tokens.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The `[serve]` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port to listen on (`--listen` overrides).
    pub listen: Option<SocketAddr>,
    /// Accepted tokens: `{ role = "read", secret = "..." }` (`--token-file` replaces them).
    #[serde(default)]
    pub tokens: Vec<Token>,
}

/// Runs `chainsleuth serve`: refuses to start without tokens, serves until
/// a signal, then lets the requests in flight finish.
pub fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let tokens = match &args.token_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading token file {}", path.display()))?;
            Token::parse_file(&text).map_err(|why| anyhow::anyhow!("token file {}: {why}", path.display()))?
        }
        None => ctx.config.serve.tokens.clone(),
    };
    if tokens.is_empty() {
        bail!("no API tokens: pass --token-file FILE (lines of role:secret) or set [serve] tokens in the config file; refusing to serve without authentication");
    }
    let listen = match args.listen.or(ctx.config.serve.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse()?,
    };
    let state = ApiState::new(&ctx.data_dir, tokens);
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
