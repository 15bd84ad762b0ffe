//! `chainsleuth index btc`, `address btc`, `tx btc` and `simulate btc`:
//! command-line input in, library calls, text or JSON out.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use bitcoin::Network;
use chainsleuth_btc::index::{self, query, BtcIndexer, ClusterOptions};
use chainsleuth_btc::sim::{simulate_to_dir, Scenario, SimConfig};
use chainsleuth_btc::source::{
    BlkDirConfig, BlkDirSource, HttpOptions, RestConfig, RestSource, RpcAuth, RpcConfig, RpcSource, XorMode,
};
use chainsleuth_btc::BtcBlock;
use chainsleuth_store::Store;
use chainsleuth_sync::{BlockSource, SyncOptions, SyncProgress, SyncReport};
use chainsleuth_tags::TagChain;
use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::config::de_duration;
use crate::sync_args::SyncArgs;
use crate::Context;

/// The Bitcoin network whose address encoding and block magic apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkArg {
    /// Bitcoin mainnet.
    #[default]
    Mainnet,
    /// Testnet3.
    Testnet,
    /// Testnet4.
    Testnet4,
    /// Signet.
    Signet,
    /// Regtest (local test chains, `chainsleuth simulate`).
    Regtest,
}

impl From<NetworkArg> for bitcoin::Network {
    fn from(network: NetworkArg) -> Self {
        match network {
            NetworkArg::Mainnet => bitcoin::Network::Bitcoin,
            NetworkArg::Testnet => bitcoin::Network::Testnet,
            NetworkArg::Testnet4 => bitcoin::Network::Testnet4,
            NetworkArg::Signet => bitcoin::Network::Signet,
            NetworkArg::Regtest => bitcoin::Network::Regtest,
        }
    }
}

/// The `[btc]` section of the config file; flags override each key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BtcConfig {
    /// The network.
    pub network: Option<NetworkArg>,
    /// A Bitcoin Core data directory's `blocks/` (or the data directory).
    pub blocks_dir: Option<PathBuf>,
    /// `auto`, `off` or a 16-hex-digit key.
    pub xor: Option<String>,
    /// Bitcoin Core REST base URL.
    pub rest: Option<String>,
    /// Bitcoin Core JSON-RPC URL.
    pub rpc: Option<String>,
    /// Bitcoin Core's `.cookie` file.
    pub rpc_cookie: Option<PathBuf>,
    /// JSON-RPC user.
    pub rpc_user: Option<String>,
    /// JSON-RPC password (prefer the cookie file or `CHAINSLEUTH_RPC_PASSWORD`).
    pub rpc_password: Option<String>,
    /// How often to poll for new blocks with `--follow`.
    #[serde(default, deserialize_with = "de_duration")]
    pub poll_interval: Option<Duration>,
    /// Blocks near the tip that keep undo records.
    pub undo_depth: Option<u64>,
    /// Blocks fetched in parallel.
    pub fetch_concurrency: Option<usize>,
    /// The indexer's memory bound in MiB (default 4096): RocksDB's cache and
    /// memtables and the indexer's caches are sized from it.
    pub memory_limit_mib: Option<u64>,
}

/// Arguments of `chainsleuth index btc`.
#[derive(Debug, Clone, Default, Args)]
#[command(group = clap::ArgGroup::new("source").args(["blocks_dir", "rest", "rpc"]))]
pub struct IndexBtcArgs {
    /// Read Bitcoin Core's block files from DIR (its blocks/ or datadir).
    #[arg(long, value_name = "DIR", help_heading = "Source")]
    pub blocks_dir: Option<PathBuf>,
    /// Block-file XOR key: auto (read blocks/xor.dat), off, or 16 hex digits.
    #[arg(long, value_name = "KEY", help_heading = "Source")]
    pub xor: Option<String>,
    /// Fetch blocks from Bitcoin Core's REST interface at URL.
    #[arg(long, value_name = "URL", help_heading = "Source")]
    pub rest: Option<String>,
    /// Fetch blocks from Bitcoin Core's JSON-RPC interface at URL.
    #[arg(long, value_name = "URL", help_heading = "Source")]
    pub rpc: Option<String>,
    /// Authenticate to JSON-RPC with Bitcoin Core's cookie FILE.
    #[arg(long, value_name = "FILE", help_heading = "Source")]
    pub rpc_cookie: Option<PathBuf>,
    /// JSON-RPC user name (with --rpc-password).
    #[arg(long, value_name = "USER", help_heading = "Source")]
    pub rpc_user: Option<String>,
    /// JSON-RPC password; better given in CHAINSLEUTH_RPC_PASSWORD.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "CHAINSLEUTH_RPC_PASSWORD",
        hide_env_values = true,
        help_heading = "Source"
    )]
    pub rpc_password: Option<String>,
    /// Network of the chain [default: mainnet].
    #[arg(long, value_enum, value_name = "NETWORK", help_heading = "Source")]
    pub network: Option<NetworkArg>,
    /// Cluster addresses of a block once N blocks are above it [default: 6].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Sync")]
    pub cluster_depth: Option<u64>,
    #[command(flatten)]
    pub sync: SyncArgs,
}

/// Arguments of `chainsleuth address btc`.
#[derive(Debug, Args)]
pub struct AddressBtcArgs {
    /// The address (base58 or bech32), or a nonstandard:… pseudo-address.
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Rows of history per page (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = 25,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=query::MAX_PAGE as u64))]
    pub limit: usize,
    /// Continue from the cursor a previous page printed.
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Network the address belongs to [default: the store's].
    #[arg(long, value_enum, value_name = "NETWORK")]
    pub network: Option<NetworkArg>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `chainsleuth tx btc`.
#[derive(Debug, Args)]
pub struct TxBtcArgs {
    /// The transaction id (64 hex digits, as explorers show it).
    #[arg(value_name = "TXID")]
    pub txid: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `chainsleuth simulate btc`.
#[derive(Debug, Args)]
pub struct SimulateBtcArgs {
    /// Write OUT/blocks/blk*.dat and OUT/truth.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Blocks after genesis.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub blocks: u32,
    /// Seed; the same seed gives the same chain.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Target transactions per block.
    #[arg(long, value_name = "N")]
    pub txs_per_block: Option<u32>,
    /// Obfuscate the block files as Bitcoin Core 28+ does (writes xor.dat).
    #[arg(long)]
    pub xor: bool,
    /// What happens besides everyday traffic: basic, or laundering (a laundering case; writes OUT/case.json and
    /// its tags, OUT/tags.jsonl, for `tags import --format jsonl`).
    #[arg(long, value_name = "NAME", default_value = "basic")]
    pub scenario: Scenario,
}

/// A block source chosen on the command line or in the config file.
enum Source {
    BlkDir(BlkDirSource),
    Rest(RestSource),
    Rpc(Box<RpcSource>),
}

/// Merges flags over the `[btc]` config section and opens the block source.
fn open_source(args: &IndexBtcArgs, config: &BtcConfig, network: Network, parallel: usize) -> anyhow::Result<Source> {
    let http = HttpOptions { max_parallel: parallel, ..HttpOptions::default() };
    let flag_given = args.blocks_dir.is_some() || args.rest.is_some() || args.rpc.is_some();
    // A source flag replaces the config file's source; it does not combine with it.
    let (blocks_dir, rest, rpc) = if flag_given {
        (args.blocks_dir.clone(), args.rest.clone(), args.rpc.clone())
    } else {
        (config.blocks_dir.clone(), config.rest.clone(), config.rpc.clone())
    };
    if let Some(dir) = blocks_dir {
        let xor = args.xor.as_deref().or(config.xor.as_deref()).unwrap_or("auto");
        let xor: XorMode = xor.parse().context("--xor")?;
        let source = BlkDirSource::open(&BlkDirConfig { dir: dir.clone(), network, xor })
            .with_context(|| format!("opening blocks directory {}", dir.display()))?;
        return Ok(Source::BlkDir(source));
    }
    if let Some(url) = rest {
        return Ok(Source::Rest(RestSource::new(&RestConfig { url, http }).context("--rest")?));
    }
    let Some(url) = rpc else {
        bail!("no block source: give --blocks-dir, --rest or --rpc (or set one in the [btc] config section)");
    };
    let cookie = args.rpc_cookie.clone().or_else(|| config.rpc_cookie.clone());
    let user = args.rpc_user.clone().or_else(|| config.rpc_user.clone());
    let password = args.rpc_password.clone().or_else(|| config.rpc_password.clone());
    let auth = match (cookie, user, password) {
        (Some(cookie), None, None) => RpcAuth::Cookie(cookie),
        (None, Some(user), Some(password)) => RpcAuth::UserPass { user, password },
        (None, None, None) => bail!("--rpc needs --rpc-cookie FILE, or --rpc-user with --rpc-password"),
        (Some(_), _, _) => bail!("give either --rpc-cookie or --rpc-user/--rpc-password, not both"),
        (None, Some(_), None) => bail!("--rpc-user needs --rpc-password (or CHAINSLEUTH_RPC_PASSWORD)"),
        (None, None, Some(_)) => bail!("--rpc-password needs --rpc-user"),
    };
    Ok(Source::Rpc(Box::new(RpcSource::new(&RpcConfig { url, auth, http }).context("--rpc")?)))
}

/// Runs `chainsleuth index btc`.
pub fn run_index(ctx: &Context, args: IndexBtcArgs) -> anyhow::Result<()> {
    crate::runtime()?.block_on(async {
        let (progress, watch) = tokio::sync::watch::channel(Default::default());
        let reporter = tokio::spawn(crate::progress::report("btc", watch));
        let result = index(&ctx.data_dir, &args, &ctx.config.btc, crate::shutdown_on_signals(), progress).await;
        reporter.await.ok();
        match result?.indexed {
            Some(tip) => tracing::info!(height = %tip.height, hash = %tip.hash.to_reversed_hex(), "stopped at block"),
            None => tracing::info!("the source has no blocks yet"),
        }
        Ok(())
    })
}

/// Indexes Bitcoin into `data_dir` from the source of `args` (or of the
/// `[btc]` section) until caught up, or with `--follow` until `shutdown`
/// turns true; publishes progress after every block.
///
/// # Errors
/// No or a bad source, the store cannot be opened (another writer holds
/// it), or the sync fails (the store stays at its last whole block).
pub(crate) async fn index(
    data_dir: &Path,
    args: &IndexBtcArgs,
    config: &BtcConfig,
    shutdown: tokio::sync::watch::Receiver<bool>,
    progress: tokio::sync::watch::Sender<SyncProgress>,
) -> anyhow::Result<SyncReport> {
    let network: Network = args.network.or(config.network).unwrap_or_default().into();
    let sync_args = args.sync.clone().or_config(config.poll_interval, config.undo_depth, config.fetch_concurrency);
    let opts = sync_args.options();
    let source = open_source(args, config, network, opts.fetch_concurrency)?;
    let clustering = ClusterOptions {
        depth: args.cluster_depth.unwrap_or(index::DEFAULT_CLUSTER_DEPTH),
        ..ClusterOptions::default()
    };
    let memory_limit = config.memory_limit_mib.map_or(index::DEFAULT_MEMORY_LIMIT, |mib| mib.saturating_mul(1 << 20));
    let indexer = BtcIndexer::open_within(data_dir, network, memory_limit)
        .context("opening the Bitcoin store")?
        .with_clustering(clustering);
    match source {
        Source::BlkDir(source) => sync(&source, indexer, &opts, shutdown, progress).await,
        Source::Rest(source) => sync(&source, indexer, &opts, shutdown, progress).await,
        Source::Rpc(source) => sync(source.as_ref(), indexer, &opts, shutdown, progress).await,
    }
}

async fn sync<S: BlockSource<Block = BtcBlock>>(
    source: &S,
    indexer: BtcIndexer,
    opts: &SyncOptions,
    shutdown: tokio::sync::watch::Receiver<bool>,
    progress: tokio::sync::watch::Sender<SyncProgress>,
) -> anyhow::Result<SyncReport> {
    tracing::info!(source = %source.describe(), follow = opts.follow, "indexing bitcoin");
    let report = chainsleuth_sync::run(source, indexer, opts, shutdown, progress).await.context("indexing bitcoin")?;
    tracing::info!(blocks = report.blocks, txs = report.txs, unwound = report.unwound, "bitcoin sync run ended");
    Ok(report)
}

/// Opens the Bitcoin store read-only and finds its network (or `given`).
pub(crate) fn open_for_query(ctx: &Context, given: Option<NetworkArg>) -> anyhow::Result<(Store, Network)> {
    let path = index::store_path(&ctx.data_dir);
    if !path.exists() {
        bail!("no Bitcoin index in {} (run `chainsleuth index btc` first, or pass --data-dir)", ctx.data_dir.display());
    }
    let store = index::open_read_only(&ctx.data_dir).context("opening the Bitcoin store")?;
    let network = match given {
        Some(network) => network.into(),
        None => query::status(&store)?
            .network
            .as_deref()
            .and_then(|name| Network::from_core_arg(name).ok())
            .unwrap_or(Network::Bitcoin),
    };
    Ok((store, network))
}

/// Runs `chainsleuth address btc`.
pub fn run_address(ctx: &Context, args: AddressBtcArgs) -> anyhow::Result<()> {
    let (store, network) = open_for_query(ctx, args.network)?;
    let summary = query::address_summary(&store, &args.address, network)?;
    let page = query::address_history(&store, &args.address, network, args.cursor.as_deref(), args.limit)?;
    let tags = crate::tags_cmd::address_tags(&ctx.data_dir, TagChain::BTC, &summary.address, network)?;
    let inferred = crate::trace_cmd::inferred_btc(ctx, &store, &summary.address)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({ "summary": summary, "history": page, "tags": tags, "inferred_tag": inferred });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    crate::render::address_btc(&mut out, &summary, &page)?;
    drop(out);
    crate::tags_cmd::print_address_tags(&tags)?;
    Ok(crate::trace_cmd::print_inferred(inferred.as_ref())?)
}

/// Runs `chainsleuth tx btc`.
pub fn run_tx(ctx: &Context, args: TxBtcArgs) -> anyhow::Result<()> {
    let (store, network) = open_for_query(ctx, None)?;
    let tx = query::tx(&store, &args.txid, network)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &tx)?;
        writeln!(out)?;
        return Ok(());
    }
    crate::render::tx_btc(&mut out, &tx)?;
    Ok(())
}

/// Runs `chainsleuth simulate btc`.
pub fn run_simulate(args: SimulateBtcArgs) -> anyhow::Result<()> {
    let defaults = SimConfig::default();
    let cfg = SimConfig {
        blocks: args.blocks,
        seed: args.seed,
        txs_per_block: args.txs_per_block.unwrap_or(defaults.txs_per_block),
        scenario: args.scenario,
    };
    if cfg.blocks < cfg.scenario.min_blocks() {
        bail!("the {} scenario needs --blocks {} or more", cfg.scenario, cfg.scenario.min_blocks());
    }
    let summary = simulate_to_dir(&args.out, &cfg, args.xor)?;
    println!(
        "wrote {} blocks ({} transactions, {} addresses, {} bytes in {} files) to {}",
        summary.blocks,
        summary.txs,
        summary.addresses,
        summary.bytes,
        summary.files,
        summary.blocks_dir.display()
    );
    println!("tip {} at height {}", summary.tip_hash, summary.tip_height);
    println!("ground truth in {}", summary.truth_file.display());
    if let (Some(case), Some(tags)) = (&summary.case_file, &summary.tags_file) {
        println!("case in {}, its tags in {}", case.display(), tags.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Index {
        #[command(flatten)]
        args: IndexBtcArgs,
    }

    fn args(flags: &[&str]) -> IndexBtcArgs {
        Index::try_parse_from(std::iter::once("x").chain(flags.iter().copied())).unwrap().args
    }

    #[test]
    fn cluster_depth_is_at_least_one() {
        assert_eq!(args(&["--cluster-depth", "3"]).cluster_depth, Some(3));
        assert_eq!(args(&[]).cluster_depth, None);
        assert!(Index::try_parse_from(["x", "--cluster-depth", "0"]).is_err());
    }

    #[test]
    fn a_source_flag_replaces_the_config_files_source() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blk00000.dat"), b"").unwrap();
        let config = BtcConfig { rest: Some("http://127.0.0.1:1/".into()), ..BtcConfig::default() };
        let from_flag =
            open_source(&args(&["--blocks-dir", dir.path().to_str().unwrap()]), &config, Network::Regtest, 2);
        assert!(matches!(from_flag, Ok(Source::BlkDir(_))), "{:#}", from_flag.err().unwrap());
        let from_file = open_source(&args(&[]), &config, Network::Regtest, 2);
        assert!(matches!(from_file, Ok(Source::Rest(_))));
    }

    #[test]
    fn rpc_credentials_are_checked_before_connecting() {
        let config = BtcConfig::default();
        let err = |flags: &[&str]| match open_source(&args(flags), &config, Network::Regtest, 2) {
            Err(err) => format!("{err:#}"),
            Ok(_) => panic!("{flags:?} should fail"),
        };
        assert!(err(&["--rpc", "http://127.0.0.1:1/"]).contains("--rpc-cookie"));
        assert!(err(&["--rpc", "http://127.0.0.1:1/", "--rpc-user", "u"]).contains("--rpc-password"));
        assert!(err(&["--rpc", "http://127.0.0.1:1/", "--rpc-cookie", "/nonexistent/.cookie"])
            .contains("/nonexistent/.cookie"));
        assert!(err(&[]).contains("no block source"));
        let config = BtcConfig { rpc_password: Some("pw".into()), ..BtcConfig::default() };
        let Err(err) = open_source(&args(&["--rpc", "http://127.0.0.1:1/"]), &config, Network::Regtest, 2) else {
            panic!("a password without a user should fail")
        };
        assert!(format!("{err:#}").contains("--rpc-user"));
    }
}
