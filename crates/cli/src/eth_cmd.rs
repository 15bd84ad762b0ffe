//! `chainsleuth index eth`, `address eth`, `tx eth` and the Ethereum part
//! of `status`: command-line input in, `chainsleuth_eth` calls, text or
//! JSON out. The RPC URL may hold an API key, so it is only ever shown
//! redacted.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use chainsleuth_eth::{
    connect, load_genesis_alloc, parse_address, redact_url, store_path, EthQuery, GenesisBalances, HistoryPage,
    SourceConfig, TraceMode, SCHEMA,
};
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_sync::SyncProgress;
use chainsleuth_tags::TagChain;
use clap::Args;
use serde::Deserialize;

use crate::config::parse_duration;
use crate::sync_args::SyncArgs;

fn parse_traces(text: &str) -> Result<TraceMode, String> {
    text.parse().map_err(|e: chainsleuth_eth::ParseTraceModeError| e.to_string())
}

/// The `[eth]` section of the config file; flags override each key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthConfig {
    /// The node's JSON-RPC URL.
    pub rpc: Option<String>,
    /// `debug`, `parity` or `off`.
    pub traces: Option<String>,
    /// How often to poll for new blocks with `--follow` (`10s`, `2m`).
    pub poll_interval: Option<String>,
    /// A genesis file, `probe` or `off`.
    pub genesis: Option<String>,
    /// WETH-like contracts whose Deposit/Withdrawal mint and burn.
    pub weth: Option<Vec<String>>,
    /// Freezable tokens besides mainnet USDT and USDC (issuer events,
    /// freezes, balances reconciled with balanceOf).
    pub freezable_tokens: Option<Vec<String>>,
    /// Blocks near the tip that keep undo records.
    pub undo_depth: Option<u64>,
    /// Blocks fetched in parallel.
    pub fetch_concurrency: Option<usize>,
    /// Timeout of each JSON-RPC request (`30s`).
    pub timeout: Option<String>,
}

/// Arguments of `chainsleuth index eth`.
#[derive(Debug, Clone, Default, Args)]
pub struct IndexEthArgs {
    /// The node's JSON-RPC URL (http or https).
    #[arg(long, value_name = "URL", env = "CHAINSLEUTH_ETH_RPC", hide_env_values = true, help_heading = "Source")]
    pub rpc: Option<String>,
    /// Internal transfers from: debug (callTracer), parity, off [default: debug].
    #[arg(long, value_name = "MODE", value_parser = parse_traces, help_heading = "Source")]
    pub traces: Option<TraceMode>,
    /// Genesis balances: a genesis.json FILE, probe (node at block 0), off.
    #[arg(long, value_name = "FILE", help_heading = "Source")]
    pub genesis: Option<String>,
    /// A WETH-like contract whose Deposit/Withdrawal mint/burn (repeatable).
    #[arg(long, value_name = "ADDR", help_heading = "Source")]
    pub weth: Vec<String>,
    /// A USDT- or USDC-like token besides mainnet USDT and USDC: issuer
    /// events, freezes, balances reconciled with balanceOf (repeatable).
    #[arg(long = "freezable-token", value_name = "ADDR", help_heading = "Source")]
    pub freezable_tokens: Vec<String>,
    /// Timeout of each JSON-RPC request [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Source")]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub sync: SyncArgs,
}

impl IndexEthArgs {
    /// Fills every flag not given on the command line from `config`.
    ///
    /// # Errors
    /// A config value that does not parse, named by its key.
    pub fn with_config(mut self, config: &EthConfig) -> anyhow::Result<Self> {
        self.rpc = self.rpc.or_else(|| config.rpc.clone());
        if self.traces.is_none() {
            self.traces = config
                .traces
                .as_deref()
                .map(parse_traces)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("[eth] traces")?;
        }
        self.genesis = self.genesis.or_else(|| config.genesis.clone());
        if self.weth.is_empty() {
            self.weth = config.weth.clone().unwrap_or_default();
        }
        if self.freezable_tokens.is_empty() {
            self.freezable_tokens = config.freezable_tokens.clone().unwrap_or_default();
        }
        let poll_interval = config
            .poll_interval
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("[eth] poll_interval")?;
        self.sync = self.sync.or_config(poll_interval, config.undo_depth, config.fetch_concurrency);
        if self.timeout.is_none() {
            self.timeout = config
                .timeout
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("[eth] timeout")?;
        }
        Ok(self)
    }

    fn source_config(&self) -> anyhow::Result<SourceConfig> {
        let Some(url) = &self.rpc else {
            bail!("no node to index from: pass --rpc URL or set rpc in [eth] of the config")
        };
        let mut config = SourceConfig::new(url.clone());
        config.traces = self.traces.unwrap_or_default();
        config.genesis = match self.genesis.as_deref() {
            None | Some("probe") => GenesisBalances::Probe,
            Some("off") => GenesisBalances::Off,
            Some(file) => {
                let alloc = load_genesis_alloc(Path::new(file)).context("reading --genesis")?;
                GenesisBalances::Alloc(Arc::new(alloc))
            }
        };
        for weth in &self.weth {
            config.decode.wrapped.insert(parse_address(weth).context("--weth")?);
        }
        for token in &self.freezable_tokens {
            config.decode.freezable.insert(parse_address(token).context("--freezable-token")?);
        }
        if let Some(timeout) = self.timeout {
            config.timeout = timeout;
        }
        Ok(config)
    }
}

/// Arguments of `chainsleuth address eth`.
#[derive(Debug, Clone, Args)]
pub struct AddressEthArgs {
    /// The address, 0x and 40 hex digits.
    #[arg(value_name = "ADDR")]
    pub address: String,
    /// History of ETH or of a token contract 0xTOKEN [default: ETH].
    #[arg(long, value_name = "ASSET", default_value = "ETH")]
    pub asset: String,
    /// Rows of history per page.
    // At least 1: an empty page's cursor would point at itself.
    #[arg(long, value_name = "N", default_value_t = 25,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: usize,
    /// Continue from the next_cursor C of a previous page.
    #[arg(long, value_name = "C")]
    pub cursor: Option<String>,
    /// Print JSON (amounts as decimal strings) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `chainsleuth tx eth`.
#[derive(Debug, Clone, Args)]
pub struct TxEthArgs {
    /// The transaction hash, 0x and 64 hex digits.
    #[arg(value_name = "HASH")]
    pub hash: String,
    /// Print JSON (amounts as decimal strings) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Indexes Ethereum from `args.rpc` into `<data_dir>/eth` until caught up
/// (or, with `--follow`, until `shutdown` turns true). Restartable: it
/// carries on from the store's committed tip.
///
/// # Errors
/// Bad arguments, store faults, or a sync error (the store stays at its
/// last whole block).
pub async fn run_index(
    data_dir: &Path,
    args: IndexEthArgs,
    shutdown: tokio::sync::watch::Receiver<bool>,
    progress: tokio::sync::watch::Sender<SyncProgress>,
) -> anyhow::Result<()> {
    let config = args.source_config()?;
    let shown = redact_url(&config.url);
    let path = store_path(data_dir);
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    let store = Arc::new(Store::open(&path, &SCHEMA, OpenMode::ReadWrite).context("opening the Ethereum store")?);
    let (source, indexer) = connect(store, config).with_context(|| format!("connecting to {shown}"))?;
    let opts = args.sync.options();
    let report = chainsleuth_sync::run(&source, indexer, &opts, shutdown, progress)
        .await
        .with_context(|| format!("indexing eth from {shown}"))?;
    if source.traces_missing() {
        tracing::warn!(node = %shown, "the node lacks the trace method: internal transfers were not indexed");
    }
    tracing::info!(
        blocks = report.blocks,
        txs = report.txs,
        unwound = report.unwound,
        tip = report.indexed.map(|t| t.height.get()),
        "eth index done"
    );
    Ok(())
}

pub(crate) fn open_read_only(data_dir: &Path) -> anyhow::Result<Store> {
    let path = store_path(data_dir);
    if !path.exists() {
        bail!("no Ethereum index at {}: run `chainsleuth index eth --rpc URL` first", path.display());
    }
    Store::open(&path, &SCHEMA, OpenMode::ReadOnly).context("opening the Ethereum store")
}

/// `amount` base units with `decimals` as a decimal number (`1.5`).
fn units(amount: &str, decimals: Option<u8>) -> String {
    let Some(decimals) = decimals.map(usize::from).filter(|d| *d > 0) else { return amount.to_owned() };
    let (sign, digits) = amount.strip_prefix('-').map_or(("", amount), |d| ("-", d));
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, frac) = padded.split_at(padded.len() - decimals);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

fn print_page(out: &mut impl std::io::Write, page: &HistoryPage) -> std::io::Result<()> {
    let symbol = page.asset.symbol.clone().unwrap_or_else(|| page.asset.asset.clone());
    writeln!(out, "history in {symbol}, newest first:")?;
    for e in &page.entries {
        let tx = e.tx_hash.clone().unwrap_or_else(|| "-".into());
        let other = e.counterparty.clone().unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "  {:>9} {:<10} {:<4} {:>28} {symbol}  {other}  {tx}",
            e.block,
            e.kind,
            e.direction,
            units(&e.amount, page.asset.decimals)
        )?;
    }
    if let Some(cursor) = &page.next_cursor {
        writeln!(out, "more: --cursor {cursor}")?;
    }
    Ok(())
}

/// Prints an address's balances and one page of its history in one asset.
///
/// # Errors
/// Bad input, a missing store, or store faults.
pub fn run_address(ctx: &crate::Context, args: AddressEthArgs) -> anyhow::Result<()> {
    let data_dir = ctx.data_dir.as_path();
    let store = open_read_only(data_dir)?;
    let query = EthQuery::new(&store);
    let summary = query.address_summary(&args.address)?;
    let page = query.history(&args.address, &args.asset, args.limit, args.cursor.as_deref())?;
    let tags = crate::tags_cmd::address_tags(data_dir, TagChain::ETH, &args.address, bitcoin::Network::Bitcoin)?;
    let inferred = crate::trace_cmd::inferred_eth(ctx, &store, &args.address, &args.asset)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({ "summary": summary, "history": page, "tags": tags, "inferred_tag": inferred });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let Some(summary) = summary else {
        writeln!(out, "{}: not seen in the indexed blocks", page.address)?;
        drop(out);
        return crate::tags_cmd::print_address_tags(&tags);
    };
    writeln!(out, "address {}", summary.address)?;
    for a in &summary.assets {
        let name = a.asset.symbol.clone().unwrap_or_else(|| a.asset.asset.clone());
        writeln!(
            out,
            "  {:>28} {name:<8} {} transfers, blocks {}..{}{}",
            units(&a.balance, a.asset.decimals),
            a.transfers,
            a.first_block,
            a.last_block,
            if a.asset.asset == "ETH" { String::new() } else { format!("  ({})", a.asset.asset) }
        )?;
    }
    print_page(&mut out, &page)?;
    drop(out);
    crate::tags_cmd::print_address_tags(&tags)?;
    Ok(crate::trace_cmd::print_inferred(inferred.as_ref())?)
}

/// Prints the transfers of one transaction.
///
/// # Errors
/// Bad input, a missing store, an unknown transaction, or store faults.
pub fn run_tx(data_dir: &Path, args: TxEthArgs) -> anyhow::Result<()> {
    let store = open_read_only(data_dir)?;
    let Some(tx) = EthQuery::new(&store).tx_transfers(&args.hash)? else {
        bail!("transaction {} is not in the indexed blocks", args.hash.trim());
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&tx)?)?;
        return Ok(());
    }
    let outcome = if tx.success { "success" } else { "failed" };
    writeln!(out, "tx {} block {} position {} from {} ({outcome})", tx.hash, tx.block, tx.tx_index, tx.from)?;
    for t in &tx.transfers {
        let symbol = t.asset.symbol.clone().unwrap_or_else(|| t.asset.asset.clone());
        writeln!(
            out,
            "  {:<10} {:>28} {symbol:<8} {} -> {}",
            t.kind,
            units(&t.amount, t.asset.decimals),
            t.from.as_deref().unwrap_or("(mint)"),
            t.to.as_deref().unwrap_or("(burn)")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Index {
        #[command(flatten)]
        args: IndexEthArgs,
    }

    #[derive(Parser)]
    struct Address {
        #[command(flatten)]
        args: AddressEthArgs,
    }

    #[test]
    fn index_flags_parse_and_override_the_config() {
        let parsed = Index::try_parse_from([
            "x",
            "--rpc",
            "http://127.0.0.1:8545",
            "--traces",
            "parity",
            "--poll-interval",
            "2s",
            "--follow",
            "--weth",
            "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
            "--genesis",
            "off",
            "--undo-depth",
            "64",
            "--fetch-concurrency",
            "3",
            "--stop-at",
            "9",
            "--timeout",
            "5s",
            "--bulk-checkpoint-mb",
            "2",
        ])
        .unwrap()
        .args;
        assert_eq!(parsed.traces, Some(TraceMode::Parity));
        assert_eq!(parsed.sync.poll_interval, Some(Duration::from_secs(2)));
        let config = EthConfig { rpc: Some("http://other".into()), traces: Some("off".into()), ..EthConfig::default() };
        let merged = parsed.with_config(&config).unwrap();
        assert_eq!(merged.rpc.as_deref(), Some("http://127.0.0.1:8545"));
        assert_eq!(merged.traces, Some(TraceMode::Parity));
        let opts = merged.sync.options();
        assert!(opts.follow && opts.retry.attempts.is_none());
        assert_eq!((opts.undo_depth, opts.fetch_concurrency, opts.stop_at.map(|h| h.get())), (64, 3, Some(9)));
        assert_eq!(opts.bulk_checkpoint_bytes, 2 << 20);
        assert!(Index::try_parse_from(["x", "--traces", "nope"]).is_err());
        let from_config = Index::try_parse_from(["x"]).unwrap().args.with_config(&config).unwrap();
        assert_eq!(from_config.traces, Some(TraceMode::Off));
        assert!(IndexEthArgs::default().source_config().unwrap_err().to_string().contains("--rpc"));
        let extra =
            ["x", "--rpc", "http://127.0.0.1:8545", "--freezable-token", "0x00000000000000000000000000000000000000f1"];
        let decode = Index::try_parse_from(extra).unwrap().args.source_config().unwrap().decode;
        assert!(decode.freezable.contains(&chainsleuth_eth::MAINNET_USDT) && decode.freezable.len() == 3);
    }

    #[test]
    fn address_flags_parse() {
        let a = Address::try_parse_from(["x", "0xab", "--asset", "0xcd", "--limit", "5", "--cursor", "c1", "--json"])
            .unwrap()
            .args;
        assert_eq!(
            (a.address.as_str(), a.asset.as_str(), a.limit, a.cursor.as_deref(), a.json),
            ("0xab", "0xcd", 5, Some("c1"), true)
        );
        assert!(Address::try_parse_from(["x", "0xab", "--limit", "0"]).is_err());
    }

    #[test]
    fn units_place_the_decimal_point() {
        assert_eq!(units("1500000", Some(6)), "1.5");
        assert_eq!(units("5", Some(18)), "0.000000000000000005");
        assert_eq!(units("-2000000000000000000", Some(18)), "-2");
        assert_eq!(units("7", None), "7");
    }

    #[test]
    fn read_commands_need_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_tx(dir.path(), TxEthArgs { hash: "0x00".into(), json: false }).unwrap_err();
        assert!(err.to_string().contains("index eth"), "{err}");
    }
}
