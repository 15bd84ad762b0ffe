//! `chainsleuth demo`: a whole crackdown case in one command. A Bitcoin
//! chain built by the simulator's laundering scenario (written as Bitcoin
//! Core's block files, indexed through the block-file source and the sync
//! loop, clustered) and an Ethereum chain played on an anvil node the demo
//! starts and stops (`chainsleuth-scenario`, indexed by the Ethereum
//! indexer); the case's tag lists imported through the tag importer; then
//! the traces from every seized wallet under all four models, a summary
//! table and the report files.
//!
//! Everything lands in the data directory: the chains' input and ground
//! truth under `demo-input/`, the stores beside it (so every other command
//! works on it afterwards), the reports under `reports/`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use bitcoin::Network;
use chainsleuth_api::tokens::TokenFile;
use chainsleuth_api::Role;
use chainsleuth_btc::index::{BtcIndexer, ClusterOptions};
use chainsleuth_btc::sim::{simulate_to_dir, Scenario, SimConfig};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_case::{CaseConfig, TraceRequest};
use chainsleuth_core::U256;
use chainsleuth_scenario::{CrackdownConfig, EthCase, Node};
use chainsleuth_sync::SyncOptions;
use chainsleuth_tags::{Format, ImportOptions, TagStore};
use chainsleuth_trace::{format_units, Align, Amount, Budget, Report, Table};
use clap::Args;

use crate::eth_cmd::IndexEthArgs;
use crate::serve_cmd::ServeArgs;
use crate::Context;

/// Blocks of the Bitcoin chain: the laundering case needs 109, and
/// clustering runs six blocks behind the tip.
const BTC_BLOCKS: u32 = 130;
/// Everyday transactions per Bitcoin block.
const BTC_TXS_PER_BLOCK: u32 = 20;
/// The stages, for the progress lines.
const STAGES: usize = 5;

const AFTER_HELP: &str = "\
The case, modelled on a national crackdown on unlicensed crypto platforms:
  Bitcoin   the simulator's laundering scenario: platforms whose hot wallets were seized,
            peel chains, a consolidation with clean coins, a CoinJoin, exchange deposit
            addresses swept into tagged hot wallets, a cash-out network, a mixer
  Ethereum  played on an anvil node the demo starts on a free loopback port and stops:
            24 shut-down platforms, 3 licensed bank-connected exchanges (deposit addresses
            swept to hot wallets), a cash-out network, a mixer, 4 seized wallets whose
            earlier outflows were laundered, in ETH and in a USDT-like token whose issuer
            froze one holder and can still freeze the others

Stages (one progress line each on stderr): build and index Bitcoin (with clustering), play
and index Ethereum, import the case's tag lists, trace from every wallet tagged seized
(all four models; Ethereum once in ETH and once in the token), write the reports. Then the
summary table: per model what reached each off-ramp, what the mixer got, what is still held
and what can be frozen now.

Files, under the data directory (a new temporary directory unless --data-dir names a new or
empty one; it is kept, and every other command works on it afterwards):
  demo-input/btc/   the Bitcoin block files, case.json (ground truth), tags.jsonl
  demo-input/eth/   case.json (ground truth), tags.jsonl
  reports/          each trace as JSON, CSV, DOT, GraphML and HTML

With --serve it then creates a read token, prints it, and serves the API and the web view
over the case (as `chainsleuth serve`) until Ctrl-C or SIGTERM.

Needs anvil: $ANVIL_BIN, .tools/anvil/bin/anvil (scripts/install-test-deps.sh --demo) or PATH.";

/// Arguments of `chainsleuth demo`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct DemoArgs {
    /// Seed of both chains (the same seed gives the same case).
    #[arg(long, value_name = "S", default_value_t = 7)]
    pub seed: u64,
    /// Then keep the API and the web view up over the case (until Ctrl-C or
    /// SIGTERM), with a new read token printed.
    #[arg(long)]
    pub serve: bool,
    /// Where --serve listens [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT", requires = "serve")]
    pub listen: Option<SocketAddr>,
}

/// One trace of the demo and its report.
struct Traced {
    /// `btc-BTC`, `eth-ETH`, `eth-USDTL`: the reports' file stem.
    name: String,
    /// What the table calls it.
    title: String,
    report: Report,
}

/// Runs the demo.
pub fn run(ctx: Context, args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let anvil = chainsleuth_scenario::anvil_path()?;
    let data_dir = if ctx.data_dir_given {
        let dir = &ctx.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let used = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_some();
        anyhow::ensure!(!used, "--data-dir {}: the demo builds its case in a new or empty directory", dir.display());
        dir.clone()
    } else {
        let temp =
            tempfile::Builder::new().prefix("chainsleuth-demo-").tempdir().context("creating a temporary directory")?;
        temp.keep()
    };
    let input = data_dir.join("demo-input");
    let stage = |n: usize, text: &str| eprintln!("[{n}/{STAGES}] {text} ({:.1} s)", started.elapsed().as_secs_f64());
    eprintln!("demo: a crackdown case in {}", data_dir.display());

    let btc = index_btc(&data_dir, &input.join("btc"), args.seed)?;
    stage(1, &btc);
    let (eth_case, eth) = index_eth(&data_dir, &input.join("eth"), &anvil, args.seed)?;
    stage(2, &eth);
    let tags = import_tags(&data_dir, &input)?;
    stage(3, &tags);

    let config = CaseConfig {
        freezable_tokens: chainsleuth_case::default_freezable_tokens()
            .into_iter()
            .chain([eth_case.token.address.clone()])
            .collect(),
        ..CaseConfig::default()
    };
    let mut traces = Vec::new();
    let runs = [
        ("btc", None, "Bitcoin", "BTC"),
        ("eth", None, "Ethereum", "ETH"),
        ("eth", Some(eth_case.token.address.clone()), "Ethereum", eth_case.token.symbol.as_str()),
    ];
    for (chain, asset, chain_name, symbol) in runs {
        let request = TraceRequest {
            seed_tag: vec!["category=seized".into()],
            chain: Some(chain.into()),
            asset,
            ..TraceRequest::default()
        };
        let report = chainsleuth_case::run_trace(&data_dir, &config, &request, &Budget::unlimited())
            .with_context(|| format!("tracing {chain_name} {symbol} from the seized wallets"))?;
        let title = format!("{chain_name}, {symbol}: {} seized wallets traced", report.case.seeds.len());
        traces.push(Traced { name: format!("{chain}-{symbol}"), title, report });
    }
    stage(4, "traced from every wallet tagged seized: Bitcoin, Ethereum in ETH and in the token, all four models");

    let reports = data_dir.join("reports");
    let written = write_reports(&reports, &traces)?;
    stage(5, &format!("wrote {written} report files"));

    let mut out = std::io::stdout().lock();
    for t in &traces {
        writeln!(out)?;
        summary(&mut out, t)?;
    }
    writeln!(out, "\nReports (JSON, CSV, DOT, GraphML, HTML) in {}", reports.display())?;
    writeln!(out, "Ground truth and tag lists in {}", input.display())?;
    writeln!(
        out,
        "Carry on, for example:\n  chainsleuth --data-dir {0} status\n  chainsleuth --data-dir {0} trace --seed-tag category=seized --chain btc --format table",
        data_dir.display()
    )?;
    writeln!(out, "Done in {:.1} s.", started.elapsed().as_secs_f64())?;
    if !args.serve {
        return Ok(());
    }
    let secret = TokenFile::in_dir(&data_dir).create("demo-read", Role::Read).context("creating a read token")?;
    writeln!(
        out,
        "\nServing the case: the API under /v1 and the web view at / (log in with the token).\nRead token (shown once): {secret}"
    )?;
    drop(out);
    let serve = Context { data_dir, data_dir_given: true, config: ctx.config };
    crate::serve_cmd::run(&serve, ServeArgs { listen: args.listen })
}

/// Builds the laundering chain into `input` and indexes it, clustering
/// included; returns the progress line.
fn index_btc(data_dir: &Path, input: &Path, seed: u64) -> anyhow::Result<String> {
    let cfg = SimConfig { blocks: BTC_BLOCKS, seed, txs_per_block: BTC_TXS_PER_BLOCK, scenario: Scenario::Laundering };
    simulate_to_dir(input, &cfg, true).context("simulating the Bitcoin chain")?;
    let source =
        BlkDirSource::open(&BlkDirConfig { dir: input.to_owned(), network: Network::Regtest, xor: XorMode::Auto })?;
    let indexer = BtcIndexer::open(data_dir, Network::Regtest)
        .context("opening the Bitcoin store")?
        .with_clustering(ClusterOptions::default());
    let report = crate::runtime()?.block_on(async {
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let (progress, _) = tokio::sync::watch::channel(Default::default());
        chainsleuth_sync::run(&source, indexer, &SyncOptions::default(), shutdown, progress).await
    })?;
    Ok(format!(
        "Bitcoin: laundering scenario, {} blocks and {} transactions in Core block files, indexed and clustered",
        report.blocks, report.txs
    ))
}

/// Starts anvil, plays the crackdown case on it, writes its truth and tags
/// into `input`, indexes the chain and stops the node.
fn index_eth(data_dir: &Path, input: &Path, anvil: &Path, seed: u64) -> anyhow::Result<(EthCase, String)> {
    std::fs::create_dir_all(input).with_context(|| format!("creating {}", input.display()))?;
    let case = crate::runtime()?.block_on(async {
        let node = Node::start(anvil).await?;
        let case = chainsleuth_scenario::play(&node, &CrackdownConfig { seed, ..CrackdownConfig::default() })
            .await
            .context("playing the Ethereum case on anvil")?;
        let args = IndexEthArgs {
            rpc: Some(node.url().to_owned()),
            freezable_tokens: vec![case.token.address.clone()],
            ..IndexEthArgs::default()
        };
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let (progress, _) = tokio::sync::watch::channel(Default::default());
        crate::eth_cmd::run_index(data_dir, args, shutdown, progress).await?;
        anyhow::Ok(case)
    })?;
    case.write_json(&input.join("case.json"))?;
    case.write_tags(&input.join("tags.jsonl"))?;
    let line = format!(
        "Ethereum: crackdown case on anvil, {} transactions in {} blocks (ETH and {}), indexed; anvil stopped",
        case.txs, case.tip, case.token.symbol
    );
    Ok((case, line))
}

/// Imports both chains' tag files through the tag importer.
fn import_tags(data_dir: &Path, input: &Path) -> anyhow::Result<String> {
    let path = TagStore::path_in(data_dir);
    let store = TagStore::open(&path)
        .with_context(|| format!("opening the tag store at {}", path.display()))?
        .with_network(Network::Regtest);
    let mut counts = Vec::new();
    for (source, chain) in [("case-btc", "btc"), ("case-eth", "eth")] {
        let file = input.join(chain).join("tags.jsonl");
        let report = store
            .import(&file, Format::Jsonl, source, &ImportOptions::default())
            .with_context(|| format!("importing {}", file.display()))?;
        counts.push(format!("{} {chain} tags", report.tags));
    }
    Ok(format!("tags: imported {} through the importer", counts.join(" and ")))
}

/// Writes each report in every format; returns how many files.
fn write_reports(dir: &Path, traces: &[Traced]) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0;
    for t in traces {
        let r = &t.report;
        for (ext, text) in [
            ("json", r.to_json()),
            ("csv", r.to_csv()),
            ("dot", r.to_dot()),
            ("graphml", r.to_graphml()),
            ("html", r.to_html()),
        ] {
            let path: PathBuf = dir.join(format!("{}.{ext}", t.name));
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            written += 1;
        }
    }
    Ok(written)
}

/// The summary of one trace: a row per off-ramp entity reached, then the
/// mixers, what is held, what the issuer can still freeze and what sits at
/// custodians a freeze order can reach, a column per model.
fn summary(out: &mut impl std::io::Write, t: &Traced) -> std::io::Result<()> {
    let r = &t.report;
    let show = |v: U256| format_units(v, &r.case.unit);
    let models: Vec<&str> =
        chainsleuth_trace::Model::ALL.iter().map(|m| m.as_str()).filter(|m| r.models.contains_key(*m)).collect();
    let mut rows: BTreeMap<(String, String), BTreeMap<&str, U256>> = BTreeMap::new();
    for &model in &models {
        for o in &r.models[model].offramps {
            let mut what = o.category.clone();
            for extra in [&o.jurisdiction, &o.licensed_by].into_iter().flatten() {
                what.push_str(", ");
                what.push_str(extra);
            }
            *rows.entry((o.entity.clone(), what)).or_default().entry(model).or_insert(U256::ZERO) += o.amount.value;
        }
    }
    let mut align = vec![Align::Left];
    align.resize(models.len() + 1, Align::Right);
    let mut table = Table::new(&align);
    table.row(std::iter::once("reached (entity, category, jurisdiction, licence)").chain(models.iter().copied()));
    let mut line = |label: String, value: &dyn Fn(&str) -> U256| {
        table.row(std::iter::once(label).chain(models.iter().map(|m| show(value(m)))));
    };
    for ((entity, what), amounts) in &rows {
        line(format!("{entity} ({what})"), &|m| amounts.get(m).copied().unwrap_or(U256::ZERO));
    }
    let sum = |list: &mut dyn Iterator<Item = Amount>| list.map(|a| a.value).fold(U256::ZERO, |a, b| a + b);
    line("into mixers".into(), &|m| r.models[m].totals.mixers.value);
    line("still held".into(), &|m| r.models[m].totals.held.value);
    line("freezable now by the issuer".into(), &|m| {
        sum(&mut r.models[m].holders.iter().filter(|h| h.freezable).map(|h| h.amount))
    });
    line("already frozen by the issuer".into(), &|m| {
        sum(&mut r.models[m].holders.iter().filter(|h| h.frozen.is_some()).map(|h| h.amount))
    });
    line("reached, still freezable (order or issuer)".into(), &|m| {
        sum(&mut r.models[m].offramps.iter().filter(|o| o.freezable.is_some()).map(|o| o.amount))
    });
    writeln!(out, "{}", t.title)?;
    out.write_all(table.render("  ").as_bytes())?;
    Ok(())
}
