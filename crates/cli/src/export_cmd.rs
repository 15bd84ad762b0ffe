//! `chainsleuth export parquet`: the stores as Parquet files partitioned by
//! block range, for Spark, DuckDB and Trino (see `chainsleuth-export`).

use std::path::PathBuf;

use chainsleuth_core::Chain;
use chainsleuth_export::{ExportOptions, DEFAULT_PARTITION_BLOCKS};
use clap::{Args, Subcommand, ValueEnum};

use crate::Context;

const AFTER_HELP: &str = "\
Layout (every column is documented in crates/export/SCHEMA.md):
  DIR/btc/{transactions,outputs,inputs,address_history}/block_range=FROM-TO/data.parquet
  DIR/eth/{transfers,address_history}/block_range=FROM-TO/data.parquet
  DIR/<chain>/_partitions/FROM-TO.json      manifest: tip, clustered height, files, sha256
  DIR/tags/snapshot=UNIX_MS/{tags,labels}.parquet   tags with provenance, when they changed

Incremental: each run starts after the last exported partition and stops at the indexed
tip, unless --from-block or --to-block say otherwise. Exported partitions are never
rewritten: a range that overlaps one is refused before anything is written. Files are
written under hidden temporary names and renamed; a partition counts once its manifest
is written, so an interrupted run is simply run again.

Reading the files back, for example with DuckDB:
  SELECT address, sum(received_sat) - sum(sent_sat) AS balance
  FROM read_parquet('DIR/btc/address_history/*/*.parquet', hive_partitioning = true)
  GROUP BY address ORDER BY balance DESC LIMIT 10;
Spark (multi-input clusters and exposure): scripts/spark/README.md.";

/// `chainsleuth export ...`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write the indexed chains and the tags as Parquet files, partitioned by block range.
    #[command(after_help = AFTER_HELP)]
    Parquet(ParquetArgs),
}

/// A chain to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChainArg {
    /// Bitcoin.
    Btc,
    /// Ethereum.
    Eth,
}

/// Arguments of `chainsleuth export parquet`.
#[derive(Debug, Args)]
pub struct ParquetArgs {
    /// The output directory (created if missing; later runs add partitions to it).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Export one chain only [default: every chain the data directory indexes].
    #[arg(long, value_enum, value_name = "CHAIN")]
    pub chain: Option<ChainArg>,
    /// The first block [default: the one after the last exported partition, or 0].
    #[arg(long, value_name = "B")]
    pub from_block: Option<u64>,
    /// The last block [default: the indexed tip].
    #[arg(long, value_name = "B")]
    pub to_block: Option<u64>,
    /// Blocks per partition file (the last one of a run may hold fewer).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARTITION_BLOCKS)]
    pub partition_blocks: u64,
    /// Print what was written as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
}

/// Runs `chainsleuth export`.
pub fn run(ctx: &Context, command: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Parquet(args) = command;
    let options = ExportOptions {
        out: args.out,
        chain: args.chain.map(|c| match c {
            ChainArg::Btc => Chain::Bitcoin,
            ChainArg::Eth => Chain::Ethereum,
        }),
        from_block: args.from_block,
        to_block: args.to_block,
        partition_blocks: args.partition_blocks,
        off_ramps: ctx.config.tags_config()?.off_ramps(),
    };
    let summary = chainsleuth_export::export(&ctx.data_dir, &options, &mut |line| eprintln!("{line}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    for chain in &summary.chains {
        match &chain.skipped {
            Some(why) => println!("{}: nothing written ({why})", chain.chain),
            None => {
                let (first, last) = (&chain.partitions[0], &chain.partitions[chain.partitions.len() - 1]);
                println!(
                    "{}: blocks {}-{} in {} partition(s): {} rows, {} bytes in {:.2} s ({:.0} rows/s)",
                    chain.chain,
                    first.from_block,
                    last.to_block,
                    chain.partitions.len(),
                    chain.rows,
                    chain.bytes,
                    chain.seconds,
                    chain.rows as f64 / chain.seconds.max(1e-9),
                );
            }
        }
    }
    if let Some(previous) = &summary.tags_unchanged {
        println!("tags: unchanged since {previous}");
    }
    if !summary.tags.is_empty() {
        let rows: u64 = summary.tags.iter().map(|f| f.rows).sum();
        println!("tags: {rows} rows in {}", summary.tags[0].path.rsplit_once('/').map_or("", |(dir, _)| dir));
    }
    println!("written under {}", summary.out.display());
    Ok(())
}
