//! The `chainsleuth` command line: a thin shell that parses flags and the
//! config file, calls the library crates, and prints text or JSON.
//!
//! Errors print as `chainsleuth: <what failed>: <why>` on one line and exit
//! with status 2; a closed output pipe (`| head`) is not an error.

mod audit_cmd;
mod btc_cmd;
mod cluster_cmd;
mod config;
mod db_cmd;
mod demo;
mod eth_cmd;
mod export_cmd;
mod logging;
mod progress;
mod render;
mod serve_cmd;
mod sync_args;
mod tags_cmd;
mod tokens_cmd;
mod trace_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::logging::LogFormat;

const ABOUT: &str = "Blockchain analytics indexer for investigators: follows Bitcoin and Ethereum \
into RocksDB, tags addresses, traces funds toward off-ramps, and answers queries from the \
command line and over HTTP.";

const AFTER_HELP: &str = "\
Start with `chainsleuth demo`: a whole crackdown case on a Bitcoin and an Ethereum
chain, indexed, tagged and traced, with the reports written to files.

Exit status: 0 on success, 2 on any error (the message says what failed).";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "chainsleuth", version, about = ABOUT, after_help = AFTER_HELP, max_term_width = 100)]
struct Cli {
    /// Directory holding the stores [default: ./chainsleuth-data].
    #[arg(long, global = true, value_name = "DIR", env = "CHAINSLEUTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Read settings from this TOML file (see config/ for examples).
    #[arg(long, short = 'c', global = true, value_name = "FILE", env = "CHAINSLEUTH_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format [default: text].
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// More log output (-v debug, -vv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors in the log.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Index a chain into the data directory (to its tip, or following it).
    #[command(subcommand)]
    Index(IndexCommand),
    /// Show an address's summary and one page of its history, newest first.
    #[command(subcommand)]
    Address(AddressCommand),
    /// Show one transaction.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Show the cluster of addresses an address belongs to (one owner).
    #[command(subcommand)]
    Cluster(cluster_cmd::ClusterCommand),
    /// Show what is indexed: tips and counts of every store.
    Status(db_cmd::StatusArgs),
    /// Store maintenance and checks.
    #[command(subcommand)]
    Db(db_cmd::DbCommand),
    /// Build a test chain (deterministic for a seed) as a node would store it.
    #[command(subcommand)]
    Simulate(SimulateCommand),
    /// Import, inspect and schedule tag lists (who is behind an address).
    #[command(subcommand)]
    Tags(tags_cmd::TagsCommand),
    /// Show an entity (platform, exchange, actor): its records and addresses.
    Entity(tags_cmd::EntityArgs),
    /// Follow funds from seeds toward off-ramps under four taint models; write the report.
    Trace(trace_cmd::TraceArgs),
    /// Show how much of an address's funds came from (or went to) each tagged category and entity.
    Exposure(trace_cmd::ExposureArgs),
    /// Run the service until SIGTERM or Ctrl-C: the API (JSON under /v1), the web view, the
    /// chain workers, scheduled tag imports, trace jobs and the watchlist.
    Serve(serve_cmd::ServeArgs),
    /// Create, list and revoke the API's bearer tokens.
    #[command(subcommand)]
    Tokens(tokens_cmd::TokensCommand),
    /// Show the API's audit log: who asked what, when, and the answer's status.
    Audit(audit_cmd::AuditArgs),
    /// Run a whole crackdown case (Bitcoin and Ethereum): index, tag, trace, report.
    Demo(demo::DemoArgs),
    /// Export the stores for other engines: Parquet files partitioned by block range.
    #[command(subcommand)]
    Export(export_cmd::ExportCommand),
}

#[derive(Debug, Subcommand)]
enum IndexCommand {
    /// Index Bitcoin from Bitcoin Core's block files, REST or JSON-RPC.
    Btc(btc_cmd::IndexBtcArgs),
    /// Index Ethereum (ETH, internal transfers, ERC-20) from a JSON-RPC node.
    Eth(eth_cmd::IndexEthArgs),
}

#[derive(Debug, Subcommand)]
enum AddressCommand {
    /// A Bitcoin address.
    Btc(btc_cmd::AddressBtcArgs),
    /// An Ethereum address: balances per asset, history in one asset.
    Eth(eth_cmd::AddressEthArgs),
}

#[derive(Debug, Subcommand)]
enum TxCommand {
    /// A Bitcoin transaction.
    Btc(btc_cmd::TxBtcArgs),
    /// The transfers of an Ethereum transaction.
    Eth(eth_cmd::TxEthArgs),
}

#[derive(Debug, Subcommand)]
enum SimulateCommand {
    /// A Bitcoin regtest chain: OUT/blocks/blk*.dat and OUT/truth.json.
    Btc(btc_cmd::SimulateBtcArgs),
}

/// Settings every command needs, after flags and config file are merged.
#[derive(Debug)]
pub struct Context {
    /// Directory holding the stores.
    pub data_dir: PathBuf,
    /// Whether the data directory was given (flag, environment or config
    /// file) rather than the default.
    pub data_dir_given: bool,
    /// The parsed config file (empty without `--config`).
    pub config: Config,
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.config.as_deref().map(Config::load).transpose() {
        Ok(config) => config.unwrap_or_default(),
        Err(err) => return fail(&err),
    };
    // The demo prints its own progress lines; its stages' logs need -v.
    let demo_quiet = matches!(cli.command, Command::Demo(_)) && cli.verbose == 0;
    let verbosity = if cli.quiet || demo_quiet { 0 } else { 1 + cli.verbose };
    logging::init(cli.log_format.or(config.log_format).unwrap_or_default(), verbosity);
    let given = cli.data_dir.clone().or_else(|| config.data_dir.clone());
    let data_dir_given = given.is_some();
    let data_dir = given.unwrap_or_else(|| "chainsleuth-data".into());
    let ctx = Context { data_dir, data_dir_given, config };
    match run(ctx, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("chainsleuth: {err:#}");
    ExitCode::from(2)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(ctx: Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Index(IndexCommand::Btc(args)) => btc_cmd::run_index(&ctx, args),
        Command::Index(IndexCommand::Eth(args)) => {
            let args = args.with_config(&ctx.config.eth)?;
            runtime()?.block_on(async {
                let (progress, watch) = tokio::sync::watch::channel(Default::default());
                let reporter = tokio::spawn(progress::report("eth", watch));
                let result = eth_cmd::run_index(&ctx.data_dir, args, shutdown_on_signals(), progress).await;
                reporter.await.ok();
                result
            })
        }
        Command::Address(AddressCommand::Btc(args)) => btc_cmd::run_address(&ctx, args),
        Command::Address(AddressCommand::Eth(args)) => eth_cmd::run_address(&ctx, args),
        Command::Tx(TxCommand::Btc(args)) => btc_cmd::run_tx(&ctx, args),
        Command::Tx(TxCommand::Eth(args)) => eth_cmd::run_tx(&ctx.data_dir, args),
        Command::Cluster(cmd) => cluster_cmd::run(&ctx, cmd),
        Command::Status(args) => db_cmd::run_status(&ctx, args),
        Command::Db(cmd) => db_cmd::run_db(&ctx, cmd),
        Command::Simulate(SimulateCommand::Btc(args)) => btc_cmd::run_simulate(args),
        Command::Tags(cmd) => tags_cmd::run_tags(&ctx.data_dir, Some(&ctx.config.tags), cmd),
        Command::Entity(args) => tags_cmd::run_entity(&ctx.data_dir, args),
        Command::Trace(args) => trace_cmd::run(&ctx, args),
        Command::Exposure(args) => trace_cmd::run_exposure(&ctx, args),
        Command::Serve(args) => serve_cmd::run(&ctx, args),
        Command::Tokens(cmd) => tokens_cmd::run(&ctx.data_dir, cmd),
        Command::Audit(args) => audit_cmd::run(&ctx.data_dir, args),
        Command::Demo(args) => demo::run(ctx, args),
        Command::Export(cmd) => export_cmd::run(&ctx, cmd),
    }
}

/// Builds the multi-threaded runtime the indexers run on (writes happen on
/// one worker while fetches go on in the others).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// A shutdown signal that turns `true` on SIGTERM or Ctrl-C.
fn shutdown_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler only fails outside a runtime");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("stopping: finishing the current block");
        let _ = tx.send(true);
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn index_btc_takes_exactly_one_source() {
        let both = Cli::try_parse_from(["chainsleuth", "index", "btc", "--rest", "http://x", "--rpc", "http://y"]);
        assert!(both.is_err());
        let one = Cli::try_parse_from([
            "chainsleuth",
            "--data-dir",
            "/tmp/d",
            "index",
            "btc",
            "--blocks-dir",
            "/b",
            "--follow",
        ]);
        let cli = one.unwrap();
        assert_eq!(cli.data_dir, Some(PathBuf::from("/tmp/d")));
        assert!(
            matches!(cli.command, Command::Index(IndexCommand::Btc(ref a)) if a.sync.follow && a.blocks_dir.is_some())
        );
    }

    #[test]
    fn bad_durations_and_networks_are_rejected() {
        assert!(Cli::try_parse_from(["chainsleuth", "index", "btc", "--rest", "u", "--poll-interval", "soon"]).is_err());
        assert!(Cli::try_parse_from(["chainsleuth", "index", "btc", "--rest", "u", "--network", "moon"]).is_err());
    }

    #[test]
    fn page_sizes_outside_1_to_10000_are_rejected() {
        for bad in ["0", "10001", "-3"] {
            assert!(
                Cli::try_parse_from(["chainsleuth", "address", "btc", "bcrt1qxyz", "--limit", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn address_paging_flags_parse() {
        let cli = Cli::try_parse_from([
            "chainsleuth",
            "address",
            "btc",
            "bcrt1qxyz",
            "--limit",
            "7",
            "--cursor",
            "abc",
            "--json",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::Address(AddressCommand::Btc(ref a)) if a.limit == 7 && a.json && a.cursor.as_deref() == Some("abc"))
        );
    }
}
