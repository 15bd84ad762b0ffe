//! `chainsleuth demo`: the whole Bitcoin path on an embedded default. It
//! builds a deterministic regtest chain, writes it as Bitcoin Core writes its
//! block files (XOR-obfuscated, out of height order), indexes it through the
//! same sync loop a real node would feed, and queries the result, checking
//! every address against the builder's ground truth.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{ensure, Context as _};
use bitcoin::Network;
use chainsleuth_btc::index::{query, BtcIndexer};
use chainsleuth_btc::sim::{simulate_to_dir, GroundTruth, SimConfig};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_sync::SyncOptions;
use clap::Args;

/// Arguments of `chainsleuth demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Blocks to simulate after genesis.
    #[arg(long, value_name = "N", default_value_t = 400)]
    pub blocks: u32,
    /// Seed of the simulated chain.
    #[arg(long, value_name = "S", default_value_t = 7)]
    pub seed: u64,
    /// Keep the chain and the store in DIR instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let temp;
    let root = match &args.keep {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().to_owned()
        }
    };
    let chain_dir = root.join("chain");
    let data_dir = root.join("data");
    let mut out = std::io::stdout().lock();

    writeln!(out, "1. Simulating a regtest chain of {} blocks (seed {})", args.blocks, args.seed)?;
    let cfg = SimConfig { blocks: args.blocks, seed: args.seed, ..SimConfig::default() };
    let sim = simulate_to_dir(&chain_dir, &cfg, true).context("simulating the chain")?;
    writeln!(
        out,
        "   {} blocks, {} transactions, {} addresses, {:.1} MB in {} block file(s), XOR-obfuscated like Bitcoin Core 28+",
        sim.blocks,
        sim.txs,
        sim.addresses,
        sim.bytes as f64 / 1e6,
        sim.files
    )?;

    writeln!(out, "2. Indexing {} into RocksDB at {}", sim.blocks_dir.display(), data_dir.display())?;
    let started = std::time::Instant::now();
    let source =
        BlkDirSource::open(&BlkDirConfig { dir: chain_dir.clone(), network: Network::Regtest, xor: XorMode::Auto })?;
    let indexer = BtcIndexer::open(&data_dir, Network::Regtest)?;
    let store = indexer.store().clone();
    let report = crate::runtime()?.block_on(async {
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let (progress, watch) = tokio::sync::watch::channel(Default::default());
        let reporter = tokio::spawn(crate::progress::report("btc", watch));
        let report = chainsleuth_sync::run(&source, indexer, &SyncOptions::default(), shutdown, progress).await;
        reporter.await.ok();
        report
    })?;
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "   {} blocks, {} transactions in {:.2} s ({:.0} tx/s)",
        report.blocks,
        report.txs,
        secs,
        report.txs as f64 / secs.max(1e-9)
    )?;

    writeln!(out, "3. Checking every address against the builder's ground truth")?;
    let truth = GroundTruth::read_json(&sim.truth_file)?;
    for (address, want) in &truth.addresses {
        let got = query::address_summary(&store, address, Network::Regtest)?;
        ensure!(
            (got.balance, got.received, got.sent, got.tx_count)
                == (want.balance, want.received, want.sent, want.tx_count),
            "{address}: indexed {got:?}, ground truth {want:?}"
        );
    }
    writeln!(out, "   all {} addresses match (balance, received, sent, tx count)", truth.addresses.len())?;

    let busiest = truth.addresses.iter().max_by_key(|(_, t)| t.tx_count).map(|(a, _)| a.clone());
    let richest = truth.addresses.iter().max_by_key(|(_, t)| t.balance).map(|(a, _)| a.clone());
    for (label, address) in [("busiest", busiest), ("richest", richest)] {
        let Some(address) = address else { continue };
        writeln!(out, "\n4. The {label} address: chainsleuth address btc {address} --limit 5")?;
        let summary = query::address_summary(&store, &address, Network::Regtest)?;
        let page = query::address_history(&store, &address, Network::Regtest, None, 5)?;
        crate::render::address_btc(&mut out, &summary, &page)?;
        if label == "busiest" {
            if let Some(row) = page.rows.first() {
                writeln!(out, "\n5. Its newest transaction: chainsleuth tx btc {}", row.txid)?;
                let tx = query::tx(&store, &row.txid.to_string(), Network::Regtest)?;
                crate::render::tx_btc(&mut out, &tx)?;
            }
        }
    }

    store.flush()?;
    writeln!(out, "\ndb digest   {}", hex::encode(store.digest()?))?;
    match &args.keep {
        Some(dir) => {
            writeln!(out, "kept in {}: try `chainsleuth --data-dir {} status`", dir.display(), data_dir.display())?
        }
        None => writeln!(out, "(all of it lived in a temporary directory; pass --keep DIR to keep it)")?,
    }
    Ok(())
}
