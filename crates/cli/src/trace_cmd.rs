//! `chainsleuth trace` and `chainsleuth exposure`: flags into a
//! [`TraceRequest`] or an [`ExposureRequest`], run by `chainsleuth-case`
//! over the data directory, and the report printed or written. The checks,
//! the stores and the labels are the case crate's (the API runs the same).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chainsleuth_case::{
    CaseConfig, CaseError, ExposureDirection as CaseExposureDirection, ExposureRequest, ModelChoice, TraceDirection,
    TraceRequest,
};
use chainsleuth_core::Label;
use chainsleuth_trace::Align::{Left, Right};
use chainsleuth_trace::{format_units, Amount, Budget, Table};
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
in the smallest unit), csv, dot, graphml, html. The report records the index tip, the tag source
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
    #[serde(default = "chainsleuth_case::default_freezable_tokens")]
    pub freezable_tokens: Vec<String>,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig { freezable_tokens: chainsleuth_case::default_freezable_tokens() }
    }
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
    /// One self-contained HTML page for people (prints well).
    Html,
}

/// Runs `chainsleuth trace`.
pub fn run(ctx: &Context, args: TraceArgs) -> anyhow::Result<()> {
    let request = request(&args)?;
    let report = chainsleuth_case::run_trace(&ctx.data_dir, &case_config(ctx)?, &request, &Budget::unlimited())
        .map_err(|e| cli_error(ctx, e))?;
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
        Format::Html => report.to_html(),
    };
    match &args.out {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
    }
}

/// The request the flags ask, with `--seeds-file`'s lines among the seeds.
fn request(args: &TraceArgs) -> anyhow::Result<TraceRequest> {
    let mut seeds = args.seeds.clone();
    if let Some(path) = &args.seeds_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading --seeds-file {}", path.display()))?;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                seeds.push(line.to_owned());
            }
        }
    }
    Ok(TraceRequest {
        seeds,
        seed_tag: args.seed_tag.clone(),
        chain: args.chain.clone(),
        asset: args.asset.clone(),
        direction: match args.direction {
            DirectionArg::Forward => TraceDirection::Forward,
            DirectionArg::Backward => TraceDirection::Backward,
        },
        model: args.model.map(model_choice),
        max_hops: args.max_hops,
        min_amount: args.min_amount.clone(),
        from_block: args.from_block,
        to_block: args.to_block,
        through_mixers: args.through_mixers,
    })
}

fn model_choice(model: ModelArg) -> ModelChoice {
    match model {
        ModelArg::Poison => ModelChoice::Poison,
        ModelArg::Haircut => ModelChoice::Haircut,
        ModelArg::Fifo => ModelChoice::Fifo,
        ModelArg::Lifo => ModelChoice::Lifo,
        ModelArg::All => ModelChoice::All,
    }
}

/// A case error in the command line's words (flags, not field names), with
/// the data directory when nothing is indexed there.
fn cli_error(ctx: &Context, err: CaseError) -> anyhow::Error {
    match err {
        CaseError::Invalid(_) | CaseError::NotFound(_) => anyhow::anyhow!(err.for_cli()),
        CaseError::NotIndexed(_) => anyhow::anyhow!("{err}: {} (or pass --data-dir)", ctx.data_dir.display()),
        other => anyhow::Error::new(other),
    }
}

/// The case settings of the config file: `[tags] off_ramps` (or the
/// taxonomy's default), `[trace]` and `[eth] freezable_tokens`.
pub(crate) fn case_config(ctx: &Context) -> anyhow::Result<CaseConfig> {
    let tags = ctx.config.tags_config()?;
    Ok(CaseConfig {
        off_ramps: tags.off_ramps(),
        freezable_tokens: ctx.config.trace.freezable_tokens.clone(),
        indexed_freezable_tokens: ctx.config.eth.freezable_tokens.clone().unwrap_or_default(),
    })
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
(poison and haircut); sent runs forward. Amounts show in the asset's unit (the total also in
its smallest unit: sat, wei); --json gives integers of the smallest unit, with the asset and
the unit's decimals.

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
    let request = ExposureRequest {
        chain: args.chain.clone(),
        address: args.address.clone(),
        direction: match args.direction {
            ExposureDirection::Received => CaseExposureDirection::Received,
            ExposureDirection::Sent => CaseExposureDirection::Sent,
        },
        max_hops: args.max_hops,
        model: model_choice(args.model),
        asset: args.asset.clone(),
    };
    let answer = chainsleuth_case::run_exposure(&ctx.data_dir, &case_config(ctx)?, &request, &Budget::unlimited())
        .map_err(|e| cli_error(ctx, e))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
        return Ok(());
    }
    let (exposure, unit) = (&answer.exposure, &answer.unit);
    let show = |a: &Amount| format_units(a.value, unit);
    let verb = match args.direction {
        ExposureDirection::Received => "received from",
        ExposureDirection::Sent => "sent to",
    };
    writeln!(
        out,
        "{}: {} ({} {}) {verb}, model {}, up to {} hops",
        answer.address,
        show(&exposure.total),
        exposure.total.value,
        answer.smallest_unit(),
        exposure.model.as_str(),
        answer.max_hops
    )?;
    let share = |s: f64| format!("{:.2}%", s * 100.0);
    let mut table = Table::new(&[Left, Left, Right, Right, Right]);
    table.row(["category", "entity", "direct", "indirect", "share"]);
    for row in &exposure.rows {
        table.row([row.category.clone(), row.entity.clone(), show(&row.direct), show(&row.indirect), share(row.share)]);
    }
    table.row([
        "untagged".to_owned(),
        "-".to_owned(),
        String::new(),
        show(&exposure.untagged),
        share(exposure.untagged_share),
    ]);
    out.write_all(table.render("").as_bytes())?;
    Ok(())
}

/// The label a Bitcoin address inherits from a tagged member of its
/// multi-input cluster, for the `address` and `cluster` views.
pub(crate) fn inferred_btc(
    ctx: &Context,
    store: &chainsleuth_store::Store,
    address: &str,
) -> anyhow::Result<Option<Label>> {
    Ok(chainsleuth_case::inferred_btc(&ctx.data_dir, &case_config(ctx)?, store, address)?)
}

/// The label an Ethereum address inherits as an exchange's deposit address
/// of ETH or of `asset`, for the `address` view.
pub(crate) fn inferred_eth(
    ctx: &Context,
    store: &chainsleuth_store::Store,
    address: &str,
    asset: &str,
) -> anyhow::Result<Option<Label>> {
    Ok(chainsleuth_case::inferred_eth(&ctx.data_dir, &case_config(ctx)?, store, address, asset)?)
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

/// The labels of a page of a cluster's members: each member's own tag, and
/// the label the cluster carries.
pub(crate) fn cluster_labels(
    ctx: &Context,
    store: &chainsleuth_store::Store,
    members: &[String],
) -> anyhow::Result<chainsleuth_case::ClusterTags> {
    Ok(chainsleuth_case::cluster_labels(&ctx.data_dir, &case_config(ctx)?, store, members)?)
}
