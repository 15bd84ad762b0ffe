//! `chainsleuth status` and `chainsleuth db ...`: what every store holds,
//! and a deterministic digest over all indexed data.

use std::io::Write as _;

use anyhow::Context as _;
use chainsleuth_btc::index;
use chainsleuth_store::{OpenMode, Store};
use clap::{Args, Subcommand};

use crate::Context;

/// Arguments of `chainsleuth status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `chainsleuth db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print a SHA-256 over every indexed row of a chain's store.
    ///
    /// Two stores that indexed the same chain have the same digest, however
    /// they got there: another source, restarts after a crash, reorgs.
    Digest(DigestArgs),
}

/// Arguments of `chainsleuth db digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Which chain's store.
    #[arg(long, value_name = "CHAIN", default_value = "btc")]
    pub chain: chainsleuth_core::Chain,
}

/// Runs `chainsleuth status`.
pub fn run_status(ctx: &Context, args: StatusArgs) -> anyhow::Result<()> {
    let status = chainsleuth_api::status(&ctx.data_dir).context("reading the stores")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &status)?;
        writeln!(out)?;
        return Ok(());
    }
    let chainsleuth_api::Status { btc, eth, tag_sources: tags, .. } = status;
    let eth = eth.map(serde_json::to_value).transpose()?;
    writeln!(out, "data dir    {}", ctx.data_dir.display())?;
    match btc {
        None => writeln!(out, "btc         not indexed")?,
        Some(status) => {
            let tip = match (status.tip_height, status.tip_hash) {
                (Some(height), Some(hash)) => format!("height {height} ({hash})"),
                _ => "empty".to_owned(),
            };
            writeln!(out, "btc         {} {tip}", status.network.as_deref().unwrap_or("?"))?;
            writeln!(
                out,
                "            {} transactions, {} addresses, {:.1} MB on disk",
                status.transactions,
                status.addresses,
                status.store_bytes as f64 / 1e6
            )?;
            match status.clustered_height {
                Some(height) => writeln!(out, "            clustered through block {height}")?,
                None => writeln!(out, "            not clustered yet")?,
            }
        }
    }
    match eth {
        None => writeln!(out, "eth         not indexed")?,
        Some(status) => {
            let tip = match (status["tip"]["height"].as_u64(), status["tip"]["hash"].as_str()) {
                (Some(height), Some(hash)) => format!("height {height} ({hash})"),
                _ => "empty".to_owned(),
            };
            writeln!(out, "eth         {tip}")?;
            writeln!(
                out,
                "            {} transfers, {} addresses, {} tokens, internal transfers {}",
                status["transfers"],
                status["addresses"],
                status["tokens"],
                status["internal_transfers"].as_str().unwrap_or("-")
            )?;
        }
    }
    match tags {
        None => writeln!(out, "tags        none imported")?,
        Some(sources) => {
            writeln!(out, "tags        {} sources", sources.len())?;
            for source in sources {
                let failing = source.status.as_ref().and_then(|s| s.last_error.as_deref());
                let state = failing.map_or_else(String::new, |err| format!("  last fetch failed: {err}"));
                writeln!(out, "            {} v{}{state}", source.name, source.active_version)?;
            }
        }
    }
    Ok(())
}

/// Runs `chainsleuth db ...`.
pub fn run_db(ctx: &Context, cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Digest(args) => {
            let store = match args.chain {
                chainsleuth_core::Chain::Bitcoin => {
                    let path = index::store_path(&ctx.data_dir);
                    anyhow::ensure!(path.exists(), "no Bitcoin index in {}", ctx.data_dir.display());
                    index::open_read_only(&ctx.data_dir).context("opening the Bitcoin store")?
                }
                chainsleuth_core::Chain::Ethereum => {
                    let path = chainsleuth_eth::store_path(&ctx.data_dir);
                    anyhow::ensure!(path.exists(), "no Ethereum index in {}", ctx.data_dir.display());
                    Store::open(&path, &chainsleuth_eth::SCHEMA, OpenMode::ReadOnly)
                        .context("opening the Ethereum store")?
                }
            };
            let digest = store.digest().context("hashing the store")?;
            println!("{}", hex::encode(digest));
            Ok(())
        }
    }
}
