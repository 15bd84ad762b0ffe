//! `chainsleuth trace`: follow funds from seeds toward off-ramps under the
//! four taint models, and write the case report. The wiring only: seeds and
//! flags are checked here, the chain is read through its graph view, labels
//! come from the tag store (direct, or inferred through clusters and deposit
//! addresses) and the kernels and reports live in `chainsleuth-trace`.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use chainsleuth_btc::index::BtcGraph;
use chainsleuth_core::{
    AccountGraph, AddressId, AssetId, Chain, ClusterId, Height, Label, Labels, OutPoint, SourceVersion, UtxoGraph, U256,
};
use chainsleuth_eth::EthGraph;
use chainsleuth_tags::{Category, OffRamps, TagStore, TagsConfig};
use chainsleuth_trace::{
    trace_account, trace_utxo, AddressLabels, Case, ClusterLabels, DepositLabels, Describe, Direction, Model, Params,
    Report, Step, TipView, Unit, UtxoSeed,
};
use clap::{Args, ValueEnum};

use crate::Context;

const AFTER_HELP: &str = "\
Seeds:
  btc:ADDRESS            every coin the address holds at --from-block or receives after
  btc:TXID:VOUT          one Bitcoin coin
  eth:0xADDRESS          the address's whole balance of --asset at --from-block, and
                         everything it receives after
All seeds of one trace are on one chain. --seed-tag category=seized (or entity=NAME)
takes every address with such an active tag.

Each model is computed in the same run (--model all, the default):
  poison   any taint taints everything it touches, in full
  haircut  taint is shared pro rata among a transaction's outputs / an address's balance
  fifo     first in, first out (Clayton's case)
  lifo     last in, first out (the pass-through wallet)
A path stops at an off-ramp (an address tagged, directly or through its cluster or as an
exchange's deposit address, with a fiat off-ramp category: reached), at a mixer, below
--min-amount (dust) or past --max-hops (horizon); what is left is held. For every model but
poison: seeded = reached + held + fees + dust + horizon + mixers.

Formats: table (the default on a terminal), json (the default otherwise; complete, amounts
in the smallest unit), csv, dot, graphml. The report records the index tip, the tag source
versions and every parameter: the same trace on the same data gives the same bytes.

Examples:
  chainsleuth trace --seed btc:bcrt1q... --seed btc:bcrt1p... --max-hops 6
  chainsleuth trace --seed-tag category=seized --chain btc --format json --out case.json
  chainsleuth trace --seed eth:0xabc... --asset 0xdAC17F958D2ee523a2206206994597C13D831ec7";

/// `chainsleuth trace` arguments.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct TraceArgs {
    /// A seed: btc:ADDRESS, btc:TXID:VOUT or eth:ADDRESS (repeat for more).
    #[arg(long = "seed", value_name = "SEED", help_heading = "Seeds")]
    pub seeds: Vec<String>,
    /// Read more seeds from a file, one per line (# starts a comment).
    #[arg(long, value_name = "FILE", help_heading = "Seeds")]
    pub seeds_file: Option<PathBuf>,
    /// Seed every address with an active tag of this category or entity.
    #[arg(long, value_name = "category=NAME|entity=NAME", help_heading = "Seeds")]
    pub seed_tag: Vec<String>,
    /// The chain, when only --seed-tag names the seeds [btc, eth].
    #[arg(long, value_name = "CHAIN", help_heading = "Seeds")]
    pub chain: Option<String>,
    /// The asset on Ethereum: ETH or a token contract [default: ETH].
    #[arg(long, value_name = "ASSET", help_heading = "Seeds")]
    pub asset: Option<String>,
    /// Forward: where the funds went. Backward: where they came from (poison
    /// and haircut).
    #[arg(long, value_enum, default_value = "forward", value_name = "DIRECTION", help_heading = "Model")]
    pub direction: DirectionArg,
    /// Which models to compute [default: all forward, poison and haircut backward].
    #[arg(long, value_enum, value_name = "MODEL", help_heading = "Model")]
    pub model: Option<ModelArg>,
    /// Follow at most this many hops from a seed.
    #[arg(long, default_value_t = 10, value_name = "N", help_heading = "Stops")]
    pub max_hops: u32,
    /// Stop following taint smaller than this (in the smallest unit: sat, wei).
    #[arg(long, default_value = "0", value_name = "AMOUNT", help_heading = "Stops")]
    pub min_amount: String,
    /// Follow funds that left at or after this block [default: 0].
    #[arg(long, value_name = "BLOCK", help_heading = "Window")]
    pub from_block: Option<u64>,
    /// Follow until the end of this block [default: the indexed tip].
    #[arg(long, value_name = "BLOCK", help_heading = "Window")]
    pub to_block: Option<u64>,
    /// Continue through addresses tagged as mixers, under haircut, instead of stopping there.
    #[arg(long, help_heading = "Stops")]
    pub through_mixers: bool,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Output")]
    pub format: Option<Format>,
    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub out: Option<PathBuf>,
}

/// The `[trace]` section of the config file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    /// Token contracts whose issuer can freeze balances, so that holders of
    /// them are flagged freezable [default: mainnet USDT and USDC]; the
    /// `[eth] freezable_tokens` the indexer decodes count too.
    #[serde(default = "default_freezable_tokens")]
    pub freezable_tokens: Vec<String>,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig { freezable_tokens: default_freezable_tokens() }
    }
}

/// Tether USD and USD Coin on Ethereum mainnet.
fn default_freezable_tokens() -> Vec<String> {
    vec!["0xdAC17F958D2ee523a2206206994597C13D831ec7".into(), "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48".into()]
}

/// `--model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// Poison.
    Poison,
    /// Haircut.
    Haircut,
    /// First in, first out.
    Fifo,
    /// Last in, first out.
    Lifo,
    /// All four.
    All,
}

/// `--direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    /// Where did the funds go.
    Forward,
    /// Where did they come from.
    Backward,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A summary for people.
    Table,
    /// The complete report.
    Json,
    /// Totals, off-ramps, holders and paths as rows.
    Csv,
    /// Graphviz.
    Dot,
    /// GraphML.
    Graphml,
}

/// A seed as given, before it is resolved against the index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SeedText {
    Address(String),
    Coin(String, u32),
}

/// Runs `chainsleuth trace`.
pub fn run(ctx: &Context, args: TraceArgs) -> anyhow::Result<()> {
    let (chain, seeds) = gather_seeds(ctx, &args)?;
    let models = match args.model {
        None if args.direction == DirectionArg::Backward => vec![Model::Poison, Model::Haircut],
        None | Some(ModelArg::All) => Model::ALL.to_vec(),
        Some(ModelArg::Poison) => vec![Model::Poison],
        Some(ModelArg::Haircut) => vec![Model::Haircut],
        Some(ModelArg::Fifo) => vec![Model::Fifo],
        Some(ModelArg::Lifo) => vec![Model::Lifo],
    };
    let min_amount: U256 = args
        .min_amount
        .parse()
        .with_context(|| format!("--min-amount {:?}: expected a whole number of the smallest unit", args.min_amount))?;
    let report = match chain {
        Chain::Bitcoin => trace_btc(ctx, &args, seeds, models, min_amount)?,
        Chain::Ethereum => trace_eth(ctx, &args, seeds, models, min_amount)?,
    };
    let format = args.format.unwrap_or(if args.out.is_none() && std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let text = match format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json(),
        Format::Csv => report.to_csv(),
        Format::Dot => report.to_dot(),
        Format::Graphml => report.to_graphml(),
    };
    match &args.out {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
    }
}

/// The seeds of `--seed`, `--seeds-file` and `--seed-tag`, all on one chain.
fn gather_seeds(ctx: &Context, args: &TraceArgs) -> anyhow::Result<(Chain, BTreeSet<SeedText>)> {
    let mut given: Vec<(String, String)> = args.seeds.iter().map(|s| ("--seed".to_owned(), s.clone())).collect();
    if let Some(path) = &args.seeds_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading --seeds-file {}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                given.push((format!("{}:{}", path.display(), n + 1), line.to_owned()));
            }
        }
    }
    let asked_chain =
        args.chain.as_deref().map(|c| c.parse::<Chain>()).transpose().map_err(|e| anyhow::anyhow!("--chain: {e}"))?;
    let mut chain = asked_chain;
    let mut seeds = BTreeSet::new();
    for (place, text) in &given {
        let (c, seed) = parse_seed(text).with_context(|| format!("{place}: seed {text:?}"))?;
        match chain {
            Some(prev) if prev != c => {
                bail!("{place}: seed {text:?} is on {c}, but the trace is on {prev} (one chain per trace)")
            }
            _ => chain = Some(c),
        }
        seeds.insert(seed);
    }
    if !args.seed_tag.is_empty() {
        let Some(c) = chain else {
            bail!("--seed-tag needs the chain: add --chain btc or --chain eth (or a --seed)");
        };
        let tags = open_tags(ctx, bitcoin_network(ctx, c)?)?
            .with_context(|| format!("--seed-tag: no tag store in {}", ctx.data_dir.display()))?;
        let labelled = tags.labelled(c)?;
        for query in &args.seed_tag {
            let (key, value) = query
                .split_once('=')
                .with_context(|| format!("--seed-tag {query:?}: expected category=NAME or entity=NAME"))?;
            let before = seeds.len();
            for (address, label) in &labelled {
                let hit = match key.trim() {
                    "category" => label.category == value.trim(),
                    "entity" => label.entity.eq_ignore_ascii_case(value.trim()),
                    other => bail!("--seed-tag {query:?}: unknown key {other:?} (expected category or entity)"),
                };
                if hit {
                    seeds.insert(SeedText::Address(address.clone()));
                }
            }
            if seeds.len() == before {
                bail!("--seed-tag {query:?}: no {c} address has such a tag");
            }
        }
    }
    let Some(chain) = chain else {
        bail!("no seeds: give --seed CHAIN:ADDRESS, --seeds-file FILE or --seed-tag category=NAME");
    };
    Ok((chain, seeds))
}

fn parse_seed(text: &str) -> anyhow::Result<(Chain, SeedText)> {
    let (chain, rest) = text.trim().split_once(':').context("expected CHAIN:ADDRESS or btc:TXID:VOUT")?;
    let chain: Chain = chain.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    if chain == Chain::Bitcoin {
        if let Some((txid, vout)) = rest.split_once(':') {
            let vout = vout.parse().with_context(|| format!("output index {vout:?} is not a number"))?;
            if txid.len() != 64 || !txid.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("txid {txid:?} is not 64 hex digits");
            }
            return Ok((chain, SeedText::Coin(txid.to_ascii_lowercase(), vout)));
        }
    }
    if rest.is_empty() {
        bail!("no address after {chain}:");
    }
    Ok((chain, SeedText::Address(rest.to_owned())))
}

fn bitcoin_network(ctx: &Context, chain: Chain) -> anyhow::Result<bitcoin::Network> {
    Ok(match chain {
        Chain::Bitcoin => crate::btc_cmd::open_for_query(ctx, None)?.1,
        Chain::Ethereum => bitcoin::Network::Bitcoin,
    })
}

/// The tag store, when there is one (a trace without tags still runs: it
/// reaches no off-ramp and says where everything is held), with the
/// off-ramp categories of the config's `[tags] off_ramps`.
fn open_tags(ctx: &Context, network: bitcoin::Network) -> anyhow::Result<Option<CaseTags>> {
    let path = TagStore::path_in(&ctx.data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let store = crate::tags_cmd::open_read(&path)?.with_network(network);
    Ok(Some(CaseTags { store, off_ramps: off_ramps(ctx)? }))
}

/// The off-ramp categories: `[tags] off_ramps`, or the taxonomy's default.
fn off_ramps(ctx: &Context) -> anyhow::Result<OffRamps> {
    let mut wrapper = toml::Table::new();
    wrapper.insert("tags".to_owned(), toml::Value::Table(ctx.config.tags.clone()));
    let config = TagsConfig::from_toml(&wrapper.to_string()).context("the [tags] section of the config")?;
    Ok(config.off_ramps())
}

/// The tag store as the tracer's labels, with the configured off-ramps.
struct CaseTags {
    store: TagStore,
    off_ramps: OffRamps,
}

impl CaseTags {
    fn adjust(&self, mut label: Label) -> Label {
        if let Ok(category) = label.category.parse::<Category>() {
            label.off_ramp = self.off_ramps.contains(category);
        }
        label
    }
}

impl Labels for CaseTags {
    type Error = chainsleuth_tags::TagsError;
    fn label(&self, chain: Chain, address: &str) -> Result<Option<Label>, Self::Error> {
        Ok(Labels::label(&self.store, chain, address)?.map(|l| self.adjust(l)))
    }
    fn labelled(&self, chain: Chain) -> Result<Vec<(String, Label)>, Self::Error> {
        Ok(self.store.labelled(chain)?.into_iter().map(|(a, l)| (a, self.adjust(l))).collect())
    }
    fn sources(&self) -> Result<Vec<SourceVersion>, Self::Error> {
        Labels::sources(&self.store)
    }
}

fn sources(tags: Option<&CaseTags>) -> anyhow::Result<Vec<SourceVersion>> {
    Ok(match tags {
        Some(t) => t.sources()?,
        None => Vec::new(),
    })
}

fn params(args: &TraceArgs, tip: Height, models: Vec<Model>, min_amount: U256) -> anyhow::Result<Params> {
    let mut params = Params::new(tip);
    params.models = models;
    params.max_hops = args.max_hops;
    params.min_amount = min_amount;
    params.from_block = Height::new(args.from_block.unwrap_or(0));
    params.to_block = args.to_block.map_or(tip, Height::new);
    params.through_mixers = args.through_mixers;
    params.direction = match args.direction {
        DirectionArg::Forward => Direction::Forward,
        DirectionArg::Backward => Direction::Backward,
    };
    params.check(tip)?;
    Ok(params)
}

fn trace_btc(
    ctx: &Context,
    args: &TraceArgs,
    seeds: BTreeSet<SeedText>,
    models: Vec<Model>,
    min_amount: U256,
) -> anyhow::Result<Report> {
    if let Some(asset) = args.asset.as_deref().filter(|a| !a.eq_ignore_ascii_case("BTC")) {
        bail!("--asset {asset:?}: Bitcoin traces follow BTC only");
    }
    let (store, network) = crate::btc_cmd::open_for_query(ctx, None)?;
    let graph = BtcGraph::new(&store)?;
    let tip = graph.tip()?.context("the Bitcoin index is empty")?;
    let params = params(args, tip.height, models, min_amount)?;
    let mut resolved = Vec::new();
    let mut names = Vec::new();
    for seed in &seeds {
        match seed {
            SeedText::Address(text) => {
                resolved.push(UtxoSeed::Address(btc_address(&graph, text)?));
                names.push(format!("btc:{text}"));
            }
            SeedText::Coin(txid, vout) => {
                let num = graph
                    .tx_num(txid)
                    .with_context(|| format!("seed btc:{txid}:{vout}"))?
                    .with_context(|| format!("seed btc:{txid}:{vout}: the transaction is not in the index"))?;
                let outpoint = OutPoint { tx: num, vout: *vout };
                if graph.coin(outpoint)?.is_none() {
                    bail!("seed btc:{txid}:{vout}: the transaction has no output {vout}");
                }
                resolved.push(UtxoSeed::Coin(outpoint));
                names.push(format!("btc:{txid}:{vout}"));
            }
        }
    }
    let tags = open_tags(ctx, network)?;
    let mut labels = match &tags {
        Some(t) => ClusterLabels::new(&graph, t, Chain::Bitcoin).map_err(anyhow::Error::msg)?,
        None => ClusterLabels::new(&graph, &NoTags, Chain::Bitcoin).map_err(anyhow::Error::msg)?,
    };
    let started = std::time::Instant::now();
    let flows = trace_utxo(&graph, &mut labels, &resolved, &params)?;
    log_done(&flows, started);
    let case = Case {
        chain: "btc".into(),
        asset: "BTC".into(),
        direction: params.direction,
        unit: Unit { symbol: "BTC".into(), decimals: 8 },
        index_tip: TipView { height: tip.height.get(), hash: tip.hash.to_reversed_hex() },
        tag_sources: sources(tags.as_ref())?,
        off_ramps: off_ramps(ctx)?.iter().map(|c| c.as_str().to_owned()).collect(),
        parameters: params,
        seeds: names,
    };
    let mut describe = BtcDescribe { graph: &graph, labels: &mut labels };
    Report::build(case, &flows, &mut describe).map_err(anyhow::Error::msg)
}

fn trace_eth(
    ctx: &Context,
    args: &TraceArgs,
    seeds: BTreeSet<SeedText>,
    models: Vec<Model>,
    min_amount: U256,
) -> anyhow::Result<Report> {
    let store = crate::eth_cmd::open_read_only(&ctx.data_dir)?;
    let graph = EthGraph::new(&store);
    let tip = graph.tip()?.context("the Ethereum index is empty")?;
    let (asset, asset_text) = eth_asset(&graph, args.asset.as_deref())?;
    let params = params(args, tip.height, models, min_amount)?;
    let mut ids = Vec::new();
    let mut names = Vec::new();
    for seed in &seeds {
        let SeedText::Address(text) = seed else { bail!("Ethereum seeds are addresses, not outpoints") };
        let id = eth_address(&graph, text)?;
        ids.push(id);
        names.push(format!("eth:{}", graph.address_text(id)?));
    }
    let tags = open_tags(ctx, bitcoin::Network::Bitcoin)?;
    let assets: Vec<AssetId> = if asset == AssetId::NATIVE { vec![asset] } else { vec![AssetId::NATIVE, asset] };
    let mut labels = match &tags {
        Some(t) => DepositLabels::new(&graph, t, Chain::Ethereum, &assets, tip.height),
        None => DepositLabels::new(&graph, &NoTags, Chain::Ethereum, &assets, tip.height),
    }
    .map_err(anyhow::Error::msg)?;
    let started = std::time::Instant::now();
    let flows = trace_account(&graph, &mut labels, asset, &ids, &params)?;
    log_done(&flows, started);
    let (symbol, decimals) = token_unit(&store, &asset_text)?;
    let indexed_freezable = ctx.config.eth.freezable_tokens.iter().flatten();
    let freezable =
        ctx.config.trace.freezable_tokens.iter().chain(indexed_freezable).any(|t| t.eq_ignore_ascii_case(&asset_text));
    let case = Case {
        chain: "eth".into(),
        asset: graph.asset_text(asset)?,
        direction: params.direction,
        unit: Unit { symbol: symbol.clone(), decimals },
        index_tip: TipView { height: tip.height.get(), hash: format!("0x{}", tip.hash.to_hex()) },
        tag_sources: sources(tags.as_ref())?,
        off_ramps: off_ramps(ctx)?.iter().map(|c| c.as_str().to_owned()).collect(),
        parameters: params,
        seeds: names,
    };
    let token = freezable.then_some(symbol);
    let mut describe = EthDescribe { graph: &graph, labels: &mut labels, asset, freezable_token: token };
    Report::build(case, &flows, &mut describe).map_err(anyhow::Error::msg)
}

fn btc_address(graph: &BtcGraph<'_>, text: &str) -> anyhow::Result<AddressId> {
    let id = graph.address_id(text).with_context(|| format!("seed btc:{text}"))?;
    id.with_context(|| format!("seed btc:{text}: the address has no transactions in the index"))
}

fn eth_address(graph: &EthGraph<'_>, text: &str) -> anyhow::Result<AddressId> {
    let id = graph.address_id(text).with_context(|| format!("seed eth:{text}"))?;
    id.with_context(|| format!("seed eth:{text}: the address has no transfers in the index"))
}

/// The asset named by `--asset` (ETH by default) on Ethereum.
fn eth_asset(graph: &EthGraph<'_>, asset: Option<&str>) -> anyhow::Result<(AssetId, String)> {
    let text = asset.unwrap_or("ETH").to_owned();
    let id = graph
        .asset_id(&text)
        .with_context(|| format!("--asset {text:?}"))?
        .with_context(|| format!("--asset {text:?}: the index has never seen this token"))?;
    Ok((id, text))
}

/// Logs how long the kernels took and how much they read (not in the
/// report, which must be the same bytes every run).
fn log_done(flows: &[chainsleuth_trace::Flows], started: std::time::Instant) {
    let visited: u64 = flows.iter().map(|f| f.visited).sum();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(models = flows.len(), visited, seconds, "traced");
}

/// The symbol and decimals to show an Ethereum asset in.
fn token_unit(store: &chainsleuth_store::Store, asset: &str) -> anyhow::Result<(String, u8)> {
    if asset.eq_ignore_ascii_case("ETH") {
        return Ok(("ETH".into(), 18));
    }
    let query = chainsleuth_eth::EthQuery::new(store);
    for (contract, meta) in query.all_tokens()? {
        if contract.to_string().eq_ignore_ascii_case(asset) {
            return Ok((meta.symbol.unwrap_or_else(|| asset.to_owned()), meta.decimals.unwrap_or(0)));
        }
    }
    Ok((asset.to_owned(), 0))
}

/// Why funds at a labelled address can be frozen: an exchange holds them.
fn custodial(label: Option<&Label>) -> Option<String> {
    label.filter(|l| l.custodial).map(|l| format!("custodial: held by {} ({})", l.entity, l.category))
}

struct BtcDescribe<'a, 'g> {
    graph: &'a BtcGraph<'g>,
    labels: &'a mut ClusterLabels<'a, BtcGraph<'g>>,
}

impl Describe for BtcDescribe<'_, '_> {
    fn address(&mut self, id: AddressId) -> Result<String, String> {
        self.graph.address_text(id).map_err(|e| e.to_string())
    }
    fn cluster(&mut self, id: AddressId) -> Result<Option<ClusterId>, String> {
        self.graph.cluster_of(id).map_err(|e| e.to_string())
    }
    fn label(&mut self, id: AddressId) -> Result<Option<Arc<Label>>, String> {
        self.labels.label(id)
    }
    fn step(&mut self, step: Step) -> Result<String, String> {
        match step {
            Step::Tx(num) => self.graph.txid(num).map_err(|e| e.to_string()),
            Step::Transfer(pos) => Ok(format!("{}:{}:{}", pos.height, pos.tx_pos, pos.ordinal)),
        }
    }
    fn freeze(&mut self, _: AddressId, label: Option<&Label>) -> Result<(Option<String>, Option<String>), String> {
        Ok((custodial(label), None))
    }
}

struct EthDescribe<'a, 'g> {
    graph: &'a EthGraph<'g>,
    labels: &'a mut DepositLabels,
    asset: AssetId,
    freezable_token: Option<String>,
}

impl Describe for EthDescribe<'_, '_> {
    fn address(&mut self, id: AddressId) -> Result<String, String> {
        self.graph.address_text(id).map_err(|e| e.to_string())
    }
    fn cluster(&mut self, _: AddressId) -> Result<Option<ClusterId>, String> {
        Ok(None)
    }
    fn label(&mut self, id: AddressId) -> Result<Option<Arc<Label>>, String> {
        self.labels.label(id)
    }
    fn step(&mut self, step: Step) -> Result<String, String> {
        match step {
            Step::Transfer(pos) => Ok(self
                .graph
                .tx_hash(pos)
                .map_err(|e| e.to_string())?
                .unwrap_or_else(|| format!("block {}", pos.height))),
            Step::Tx(num) => Ok(num.to_string()),
        }
    }
    fn freeze(&mut self, id: AddressId, label: Option<&Label>) -> Result<(Option<String>, Option<String>), String> {
        let frozen = self.graph.frozen(id, self.asset).map_err(|e| e.to_string())?;
        let reason = custodial(label)
            .or_else(|| self.freezable_token.as_ref().map(|t| format!("{t}: the token's issuer can freeze balances")));
        Ok((reason, frozen))
    }
}

/// Labels when no tag store exists yet.
struct NoTags;

impl Labels for NoTags {
    type Error = std::convert::Infallible;
    fn label(&self, _: Chain, _: &str) -> Result<Option<Label>, Self::Error> {
        Ok(None)
    }
    fn labelled(&self, _: Chain) -> Result<Vec<(String, Label)>, Self::Error> {
        Ok(Vec::new())
    }
    fn sources(&self) -> Result<Vec<SourceVersion>, Self::Error> {
        Ok(Vec::new())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// so a reader never sees half a report.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing {}", path.display()))?;
    tmp.write_all(bytes)?;
    tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `chainsleuth exposure` arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Exposure is a trace from the one address that stops at every tagged address: of what the
address received (or sent), the amount and share that came from (went to) each category and
entity, through one hop (direct) or through untagged hops (indirect). The rest is untagged;
under haircut, FIFO and LIFO the rows and untagged add up to 100%. Received runs backward
(poison and haircut); sent runs forward.

Example:
  chainsleuth exposure btc bcrt1q... --direction received --max-hops 6")]
pub struct ExposureArgs {
    /// Chain: btc or eth.
    #[arg(value_name = "CHAIN")]
    pub chain: String,
    /// The address.
    #[arg(value_name = "ADDR")]
    pub address: String,
    /// Where the funds came from (received) or went to (sent).
    #[arg(long, value_enum, default_value = "received", value_name = "DIRECTION")]
    pub direction: ExposureDirection,
    /// Follow at most this many hops.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_hops: u32,
    /// The taint model.
    #[arg(long, value_enum, default_value = "haircut", value_name = "MODEL")]
    pub model: ModelArg,
    /// The asset on Ethereum: ETH or a token contract [default: ETH].
    #[arg(long, value_name = "ASSET")]
    pub asset: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `exposure --direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExposureDirection {
    /// Where the funds came from.
    Received,
    /// Where the funds went.
    Sent,
}

/// Runs `chainsleuth exposure`.
pub fn run_exposure(ctx: &Context, args: ExposureArgs) -> anyhow::Result<()> {
    let chain: Chain = args.chain.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let model = match args.model {
        ModelArg::Poison => Model::Poison,
        ModelArg::Haircut => Model::Haircut,
        ModelArg::Fifo => Model::Fifo,
        ModelArg::Lifo => Model::Lifo,
        ModelArg::All => bail!("--model all: exposure takes one model"),
    };
    let direction = match args.direction {
        ExposureDirection::Received => Direction::Backward,
        ExposureDirection::Sent => Direction::Forward,
    };
    let setup = |tip: Height| -> anyhow::Result<Params> {
        let mut params = Params::new(tip);
        params.models = vec![model];
        params.max_hops = args.max_hops;
        params.direction = direction;
        params.any_label = true;
        params.check(tip)?;
        Ok(params)
    };
    let (exposure, address) = match chain {
        Chain::Bitcoin => {
            if args.asset.is_some() {
                bail!("--asset: Bitcoin exposure is in BTC only");
            }
            let (store, network) = crate::btc_cmd::open_for_query(ctx, None)?;
            let graph = BtcGraph::new(&store)?;
            let tip = graph.tip()?.context("the Bitcoin index is empty")?;
            let params = setup(tip.height)?;
            let seed = UtxoSeed::Address(btc_address(&graph, &args.address)?);
            let tags = open_tags(ctx, network)?;
            let mut labels = match &tags {
                Some(t) => ClusterLabels::new(&graph, t, Chain::Bitcoin),
                None => ClusterLabels::new(&graph, &NoTags, Chain::Bitcoin),
            }
            .map_err(anyhow::Error::msg)?;
            let flows = trace_utxo(&graph, &mut labels, &[seed], &params)?;
            (
                chainsleuth_trace::exposure(&flows[0], &mut labels, true).map_err(anyhow::Error::msg)?,
                args.address.clone(),
            )
        }
        Chain::Ethereum => {
            let store = crate::eth_cmd::open_read_only(&ctx.data_dir)?;
            let graph = EthGraph::new(&store);
            let tip = graph.tip()?.context("the Ethereum index is empty")?;
            let params = setup(tip.height)?;
            let (asset, _) = eth_asset(&graph, args.asset.as_deref())?;
            let id = eth_address(&graph, &args.address)?;
            let tags = open_tags(ctx, bitcoin::Network::Bitcoin)?;
            let assets: Vec<AssetId> =
                if asset == AssetId::NATIVE { vec![asset] } else { vec![AssetId::NATIVE, asset] };
            let mut labels = match &tags {
                Some(t) => DepositLabels::new(&graph, t, Chain::Ethereum, &assets, tip.height),
                None => DepositLabels::new(&graph, &NoTags, Chain::Ethereum, &assets, tip.height),
            }
            .map_err(anyhow::Error::msg)?;
            let flows = trace_account(&graph, &mut labels, asset, &[id], &params)?;
            (
                chainsleuth_trace::exposure(&flows[0], &mut labels, false).map_err(anyhow::Error::msg)?,
                graph.address_text(id)?,
            )
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "chain": chain.as_str(),
            "address": address,
            "direction": match args.direction { ExposureDirection::Received => "received", ExposureDirection::Sent => "sent" },
            "max_hops": args.max_hops,
            "exposure": exposure,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let verb = match args.direction {
        ExposureDirection::Received => "received from",
        ExposureDirection::Sent => "sent to",
    };
    writeln!(
        out,
        "{address}: {} {verb}, model {}, up to {} hops",
        exposure.total.value,
        exposure.model.as_str(),
        args.max_hops
    )?;
    writeln!(out, "{:<22} {:<28} {:>20} {:>20} {:>8}", "category", "entity", "direct", "indirect", "share")?;
    for row in &exposure.rows {
        writeln!(
            out,
            "{:<22} {:<28} {:>20} {:>20} {:>7.2}%",
            row.category,
            row.entity,
            row.direct.value,
            row.indirect.value,
            row.share * 100.0
        )?;
    }
    writeln!(
        out,
        "{:<22} {:<28} {:>20} {:>20} {:>7.2}%",
        "untagged",
        "-",
        "",
        exposure.untagged.value,
        exposure.untagged_share * 100.0
    )?;
    Ok(())
}

/// The label a Bitcoin address inherits from a tagged member of its
/// multi-input cluster (`None` when it has its own tag, no cluster, or no
/// tagged member), for the `address` and `cluster` views.
pub(crate) fn inferred_btc(
    ctx: &Context,
    store: &chainsleuth_store::Store,
    network: bitcoin::Network,
    address: &str,
) -> anyhow::Result<Option<Label>> {
    let Some(tags) = open_tags(ctx, network)? else { return Ok(None) };
    let graph = BtcGraph::new(store)?;
    let Some(id) = graph.address_id(address)? else { return Ok(None) };
    let mut labels = ClusterLabels::new(&graph, &tags, Chain::Bitcoin).map_err(anyhow::Error::msg)?;
    let label = labels.label(id).map_err(anyhow::Error::msg)?;
    Ok(label.filter(|l| l.inferred.is_some()).map(|l| (*l).clone()))
}

/// The label an Ethereum address inherits as an exchange's deposit address
/// of ETH or of `asset`, for the `address` view.
pub(crate) fn inferred_eth(
    ctx: &Context,
    store: &chainsleuth_store::Store,
    address: &str,
    asset: &str,
) -> anyhow::Result<Option<Label>> {
    let Some(tags) = open_tags(ctx, bitcoin::Network::Bitcoin)? else { return Ok(None) };
    let graph = EthGraph::new(store);
    let Some(tip) = graph.tip()? else { return Ok(None) };
    let Some(id) = graph.address_id(address)? else { return Ok(None) };
    let mut assets = vec![AssetId::NATIVE];
    assets.extend(graph.asset_id(asset)?.filter(|a| *a != AssetId::NATIVE));
    let mut labels =
        DepositLabels::new(&graph, &tags, Chain::Ethereum, &assets, tip.height).map_err(anyhow::Error::msg)?;
    let label = labels.label(id).map_err(anyhow::Error::msg)?;
    Ok(label.filter(|l| l.inferred.is_some()).map(|l| (*l).clone()))
}

/// Prints an inferred label under an address's own tags.
pub(crate) fn print_inferred(label: Option<&Label>) -> std::io::Result<()> {
    let Some((label, how)) = label.and_then(|l| l.inferred.as_ref().map(|how| (l, how))) else { return Ok(()) };
    writeln!(
        std::io::stdout().lock(),
        "\ninferred tag: {} ({}), rule {} with {}, evidence {}",
        label.entity,
        label.category,
        how.rule,
        how.via,
        how.evidence
    )
}

/// Tagged members of a cluster page with their tags, and the cluster's label.
type ClusterTags = (Vec<(String, Label)>, Option<Label>);

/// The labels of a page of a cluster's members: each member's own tag, and
/// the label the cluster carries (from its first tagged member).
pub(crate) fn cluster_labels(
    ctx: &Context,
    store: &chainsleuth_store::Store,
    network: bitcoin::Network,
    members: &[String],
) -> anyhow::Result<ClusterTags> {
    let Some(tags) = open_tags(ctx, network)? else { return Ok((Vec::new(), None)) };
    let mut direct = Vec::new();
    for member in members {
        if let Some(label) = tags.label(Chain::Bitcoin, member)? {
            direct.push((member.clone(), label));
        }
    }
    let graph = BtcGraph::new(store)?;
    let mut labels = ClusterLabels::new(&graph, &tags, Chain::Bitcoin).map_err(anyhow::Error::msg)?;
    let mut cluster = None;
    for member in members {
        let Some(id) = graph.address_id(member)? else { continue };
        if let Some(label) = labels.label(id).map_err(anyhow::Error::msg)? {
            let mut label = (*label).clone();
            label.inferred = None;
            cluster = Some(label);
            break;
        }
    }
    Ok((direct, cluster))
}
