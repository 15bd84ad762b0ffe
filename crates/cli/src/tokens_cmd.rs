//! `chainsleuth tokens`: create, list and revoke the API's bearer tokens.
//! The secret is printed once, on creation; the data directory keeps only
//! its SHA-256 (see `chainsleuth_api::tokens`). A running `serve` picks up
//! every change within a second.

use std::io::Write as _;

use anyhow::Context as _;
use chainsleuth_api::tokens::TokenFile;
use chainsleuth_api::Role;
use clap::{Args, Subcommand};

use crate::tags_cmd::print_json;

/// `chainsleuth tokens ...`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a token and print its secret (shown this once only).
    Create(CreateArgs),
    /// List the tokens: name, role, created, revoked (never secrets).
    List(ListArgs),
    /// Revoke a token: a running server refuses it (and its web sessions).
    Revoke(RevokeArgs),
}

/// Arguments of `tokens create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the token may do: read (queries), trace (and trace jobs) or
    /// admin (everything: imports, the watchlist).
    #[arg(long, value_name = "ROLE")]
    pub role: Role,
    /// The token's name, as the audit log shows it (letters, digits, . _ -).
    #[arg(long, value_name = "NAME")]
    pub name: String,
}

/// Arguments of `tokens list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tokens revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Runs a `tokens` subcommand on `data_dir`.
pub fn run(data_dir: &std::path::Path, command: TokensCommand) -> anyhow::Result<()> {
    let file = TokenFile::in_dir(data_dir);
    let mut out = std::io::stdout().lock();
    match command {
        TokensCommand::Create(args) => {
            let secret =
                file.create(&args.name, args.role).with_context(|| format!("creating token {:?}", args.name))?;
            writeln!(out, "{secret}")?;
            eprintln!(
                "created {} token {:?}; its secret is above and is not shown again: send it as `Authorization: Bearer <secret>`",
                args.role.as_str(),
                args.name
            );
        }
        TokensCommand::List(args) => {
            let tokens = file.list()?;
            if args.json {
                return print_json(&tokens);
            }
            if tokens.is_empty() {
                writeln!(out, "no tokens: create one with `chainsleuth tokens create --role read --name NAME`")?;
                return Ok(());
            }
            let width = tokens.iter().map(|t| t.name.len()).max().unwrap_or(0).max(4);
            writeln!(out, "{:<width$}  {:<5}  {:<20}  revoked", "name", "role", "created")?;
            for token in &tokens {
                let revoked = token.revoked.as_deref().unwrap_or("-");
                writeln!(out, "{:<width$}  {:<5}  {:<20}  {revoked}", token.name, token.role.as_str(), token.created)?;
            }
        }
        TokensCommand::Revoke(args) => {
            file.revoke(&args.name).with_context(|| format!("revoking token {:?}", args.name))?;
            eprintln!("revoked token {:?}", args.name);
        }
    }
    Ok(())
}
