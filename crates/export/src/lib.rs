//! Parquet export of chainsleuth's stores, for engines past one machine
//! (Spark, DuckDB, Trino): Bitcoin transactions, outputs with their
//! spenders, inputs and address history; Ethereum transfers and address
//! history, each partitioned by block range; and a snapshot of the tags with
//! their provenance and of the labels tracers use. The columns are in
//! `SCHEMA.md`, the layout in [`layout`].
//!
//! The stores are read only through their query layers
//! (`chainsleuth_btc::index::BtcGraph`, `chainsleuth_eth::EthQuery`,
//! `chainsleuth_tags::TagStore::list` and its `Labels`), never their tables.
//!
//! Exports are incremental: each run adds partitions after the last one
//! exported (by default up to the indexed tip) and never rewrites one; a
//! range that overlaps an exported partition is refused before anything is
//! written. Files are written under temporary names and renamed; a
//! partition counts once its manifest is written, after its files, so a
//! run stopped half-way leaves at most an unfinished partition that the
//! next run writes again.

pub mod error;
pub mod layout;
pub mod schema;
pub mod sink;

mod btc;
mod eth;
mod tags;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chainsleuth_btc::index::{self as btc_index, BtcGraph};
use chainsleuth_core::Chain;
use chainsleuth_eth::EthQuery;
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_tags::{OffRamps, TagStore};
use serde::Serialize;

pub use error::ExportError;
pub use layout::Manifest;
pub use sink::WrittenFile;

/// How often a long partition reports where it is.
const TICK: std::time::Duration = std::time::Duration::from_secs(10);

/// Progress within a partition: a line every [`TICK`].
pub(crate) struct Ticker<'p> {
    chain: &'static str,
    from: u64,
    to: u64,
    last: Instant,
    progress: &'p mut dyn FnMut(&str),
}

impl Ticker<'_> {
    /// Called as block `height` starts.
    pub(crate) fn block(&mut self, height: u64) {
        if self.last.elapsed() >= TICK {
            (self.progress)(&format!("export {}: at block {height} of {}-{}", self.chain, self.from, self.to));
            self.last = Instant::now();
        }
    }
}

/// Blocks per partition by default.
pub const DEFAULT_PARTITION_BLOCKS: u64 = 10_000;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The output directory.
    pub out: PathBuf,
    /// One chain, or `None` for every chain the data directory indexes.
    pub chain: Option<Chain>,
    /// The first block [default: the one after the last exported partition].
    pub from_block: Option<u64>,
    /// The last block [default: the indexed tip].
    pub to_block: Option<u64>,
    /// Blocks per partition (the last one of a run may be shorter).
    pub partition_blocks: u64,
    /// The categories the `labels` table marks as off-ramps.
    pub off_ramps: OffRamps,
}

/// What one chain's part of an export did.
#[derive(Debug, Clone, Serialize)]
pub struct ChainExport {
    /// `btc` or `eth`.
    pub chain: &'static str,
    /// The partitions written, in block order.
    pub partitions: Vec<Manifest>,
    /// Why nothing was written, when nothing was.
    pub skipped: Option<String>,
    /// Rows written, all tables.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// What an export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    /// The output directory.
    pub out: PathBuf,
    /// Per chain.
    pub chains: Vec<ChainExport>,
    /// The tag snapshot's files (none without a tag store, or when the tags
    /// are those of the latest snapshot).
    pub tags: Vec<WrittenFile>,
    /// The latest snapshot (under the output directory), when the tags have
    /// not changed since it was written.
    pub tags_unchanged: Option<String>,
}

/// Whether the snapshot `previous` (relative to `out`) holds files with the
/// same content as `written`.
fn same_files(out: &Path, previous: &str, written: &[WrittenFile]) -> bool {
    written.iter().all(|file| {
        let name = file.path.rsplit('/').next().unwrap_or_default();
        sink::digest(&out.join(previous).join(name)).is_ok_and(|(_, sha)| sha == file.sha256)
    })
}

/// A chain's store, opened read-only.
struct Opened {
    chain: Chain,
    store: Store,
}

fn open(data_dir: &Path, chain: Chain) -> Result<Option<Opened>, ExportError> {
    let store = match chain {
        Chain::Bitcoin => {
            if !btc_index::store_path(data_dir).exists() {
                return Ok(None);
            }
            btc_index::open_read_only(data_dir)?
        }
        Chain::Ethereum => {
            let path = chainsleuth_eth::store_path(data_dir);
            if !path.exists() {
                return Ok(None);
            }
            Store::open(&path, &chainsleuth_eth::SCHEMA, OpenMode::ReadOnly)
                .map_err(|source| ExportError::Open { what: "Ethereum", source })?
        }
    };
    Ok(Some(Opened { chain, store }))
}

/// The indexed tip of a store: height and hash.
fn tip(opened: &Opened) -> Result<Option<(u64, String)>, ExportError> {
    Ok(match opened.chain {
        Chain::Bitcoin => {
            let status = btc_index::query::status(&opened.store)?;
            status.tip_height.zip(status.tip_hash).map(|(h, hash)| (h.get(), hash.to_string()))
        }
        Chain::Ethereum => EthQuery::new(&opened.store).status()?.tip.map(|t| (t.height, t.hash)),
    })
}

/// The block range a run exports, or why it exports nothing: `done` are
/// the exported partitions' ranges in block order.
///
/// # Errors
/// [`ExportError::EmptyRange`], [`ExportError::BeyondTip`],
/// [`ExportError::Overlap`].
pub fn plan(
    chain: Chain,
    tip: u64,
    done: &[(u64, u64)],
    from: Option<u64>,
    to: Option<u64>,
    out: &Path,
) -> Result<Result<(u64, u64), String>, ExportError> {
    for (flag, block) in [("--from-block", from), ("--to-block", to)] {
        if let Some(block) = block.filter(|b| *b > tip) {
            return Err(ExportError::BeyondTip { flag, chain, block, tip });
        }
    }
    let next = done.iter().map(|&(_, b)| b + 1).max().unwrap_or(0);
    let (start, end) = (from.unwrap_or(next), to.unwrap_or(tip));
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ExportError::EmptyRange { from, to });
        }
    }
    if start > end && from.is_none() && to.is_none() {
        return Ok(Err(format!("nothing new: blocks up to {} are exported and the tip is {tip}", next - 1)));
    }
    let (start, end) = (start.min(end), end);
    if let Some(&(a, b)) = done.iter().find(|&&(a, b)| a <= end && start <= b) {
        return Err(ExportError::Overlap {
            chain,
            from: start,
            to: end,
            done_from: a,
            done_to: b,
            next,
            out: out.to_owned(),
        });
    }
    Ok(Ok((start, end)))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Exports what `options` asks from the stores in `data_dir`; `progress`
/// gets one line per partition and per stage.
///
/// # Errors
/// [`ExportError`] naming the flag, range or file at fault. Every range is
/// checked before anything is written.
pub fn export(
    data_dir: &Path,
    options: &ExportOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ExportSummary, ExportError> {
    if options.partition_blocks == 0 {
        return Err(ExportError::ZeroPartition);
    }
    let chains: Vec<Chain> = match options.chain {
        Some(chain) => vec![chain],
        None => Chain::ALL.to_vec(),
    };
    // Plan every chain first: a bad range writes nothing.
    let mut plans = Vec::new();
    let mut summary =
        ExportSummary { out: options.out.clone(), chains: Vec::new(), tags: Vec::new(), tags_unchanged: None };
    let mut network = None;
    for chain in chains {
        let skipped = |why: String| ChainExport {
            chain: chain.as_str(),
            partitions: Vec::new(),
            skipped: Some(why),
            rows: 0,
            bytes: 0,
            seconds: 0.0,
        };
        let Some(opened) = open(data_dir, chain)? else {
            if options.chain.is_some() {
                return Err(ExportError::NotIndexed { chain });
            }
            summary.chains.push(skipped("not indexed in this data directory".into()));
            continue;
        };
        if chain == Chain::Bitcoin {
            network = btc_index::query::status(&opened.store)?.network;
        }
        let Some((tip_height, tip_hash)) = tip(&opened)? else {
            summary.chains.push(skipped("the store holds no block yet".into()));
            continue;
        };
        let done = layout::manifests(&options.out, chain)?;
        let ranges: Vec<(u64, u64)> = done.iter().map(|m| (m.from_block, m.to_block)).collect();
        match plan(chain, tip_height, &ranges, options.from_block, options.to_block, &options.out)? {
            Ok(range) => plans.push((opened, range, tip_height, tip_hash, done)),
            Err(why) => summary.chains.push(skipped(why)),
        }
    }
    for (opened, (from, to), tip_height, tip_hash, done) in plans {
        summary.chains.push(export_chain(&opened, options, from, to, tip_height, &tip_hash, &done, progress)?);
    }
    let tag_path = TagStore::path_in(data_dir);
    if tag_path.exists() {
        let network = network
            .as_deref()
            .and_then(|n| bitcoin::Network::from_core_arg(n).ok())
            .unwrap_or(bitcoin::Network::Bitcoin);
        let store = TagStore::open_read_only(&tag_path)?.with_network(network);
        let mut stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let relative = loop {
            let relative = format!("tags/snapshot={stamp:013}");
            if !options.out.join(&relative).exists() {
                break relative;
            }
            stamp += 1;
        };
        let previous = layout::latest_snapshot(&options.out)?;
        let dir = options.out.join(&relative);
        let written = tags::write_snapshot(&store, &options.off_ramps, &dir, &relative)?;
        if let Some(previous) = previous.filter(|p| same_files(&options.out, p, &written)) {
            // The same tags as the latest snapshot: keep that one only.
            std::fs::remove_dir_all(&dir).map_err(ExportError::io(&dir))?;
            progress(&format!("export tags: unchanged since {previous}"));
            summary.tags_unchanged = Some(previous);
        } else {
            let rows: u64 = written.iter().map(|f| f.rows).sum();
            progress(&format!("export tags: {rows} rows into {relative}"));
            summary.tags = written;
        }
    }
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn export_chain(
    opened: &Opened,
    options: &ExportOptions,
    from: u64,
    to: u64,
    tip_height: u64,
    tip_hash: &str,
    done: &[Manifest],
    progress: &mut dyn FnMut(&str),
) -> Result<ChainExport, ExportError> {
    let started = Instant::now();
    let chain = opened.chain;
    let name = chain.as_str();
    let count = (to - from) / options.partition_blocks + 1;
    let mut result =
        ChainExport { chain: name, partitions: Vec::new(), skipped: None, rows: 0, bytes: 0, seconds: 0.0 };
    let mut genesis_done = done.iter().filter_map(|m| m.genesis_credits).max().unwrap_or(0);
    let (graph, clustered) = match chain {
        Chain::Bitcoin => {
            let clustered = btc_index::query::clustered_height(&opened.store)?.map(|h| h.get());
            (Some(BtcGraph::new(&opened.store)?), clustered)
        }
        Chain::Ethereum => (None, None),
    };
    let network = graph.as_ref().map(|g| g.network().to_core_arg().to_owned());
    for (i, start) in (from..=to).step_by(usize::try_from(options.partition_blocks).unwrap_or(usize::MAX)).enumerate() {
        let end = to.min(start.saturating_add(options.partition_blocks - 1));
        let part_started = Instant::now();
        let mut manifest = Manifest {
            chain: name.to_owned(),
            from_block: start,
            to_block: end,
            tip_height,
            tip_hash: tip_hash.to_owned(),
            network: network.clone(),
            clustered_height: clustered,
            spenders_through: None,
            genesis_credits: None,
            exported_at: 0,
            chainsleuth_version: env!("CARGO_PKG_VERSION").to_owned(),
            files: Vec::new(),
        };
        let mut ticker = Ticker { chain: name, from: start, to: end, last: Instant::now(), progress: &mut *progress };
        manifest.files = match &graph {
            Some(graph) => {
                manifest.spenders_through = Some(to);
                btc::write_partition(graph, &options.out, start, end, to, &mut ticker)?
            }
            None => {
                let query = EthQuery::new(&opened.store);
                let (files, credits) =
                    eth::write_partition(&query, &options.out, (start, end), genesis_done, &mut ticker)?;
                genesis_done = credits;
                manifest.genesis_credits = Some(credits);
                files
            }
        };
        manifest.exported_at = now_secs();
        layout::write_manifest(&options.out, chain, &manifest)?;
        let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
        let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
        let secs = part_started.elapsed().as_secs_f64();
        let tables: Vec<String> = manifest.files.iter().map(|f| format!("{} {}", f.rows, f.table)).collect();
        progress(&format!(
            "export {name}: [{}/{count}] blocks {start}-{end}: {} ({rows} rows, {bytes} bytes, {:.0} rows/s)",
            i + 1,
            tables.join(", "),
            rows as f64 / secs.max(1e-9),
        ));
        result.rows += rows;
        result.bytes += bytes;
        result.partitions.push(manifest);
    }
    result.seconds = started.elapsed().as_secs_f64();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(done: &[(u64, u64)], from: Option<u64>, to: Option<u64>) -> Result<Result<(u64, u64), String>, String> {
        plan(Chain::Bitcoin, 100, done, from, to, Path::new("/x")).map_err(|e| e.to_string())
    }

    #[test]
    fn ranges_default_to_after_the_last_partition_up_to_the_tip() {
        assert_eq!(plan_of(&[], None, None), Ok(Ok((0, 100))));
        assert_eq!(plan_of(&[(0, 49)], None, None), Ok(Ok((50, 100))));
        assert_eq!(plan_of(&[(0, 49)], None, Some(60)), Ok(Ok((50, 60))));
        assert_eq!(plan_of(&[(0, 49)], Some(70), None), Ok(Ok((70, 100))));
        assert!(plan_of(&[(0, 100)], None, None).unwrap().is_err(), "nothing new is not an error");
    }

    #[test]
    fn bad_and_overlapping_ranges_name_the_flag() {
        let err = plan_of(&[], Some(10), Some(5)).unwrap_err();
        assert!(err.contains("--from-block 10 is after --to-block 5"), "{err}");
        let err = plan_of(&[], None, Some(101)).unwrap_err();
        assert!(err.contains("--to-block 101 is beyond the indexed btc tip 100"), "{err}");
        let err = plan_of(&[], Some(200), None).unwrap_err();
        assert!(err.contains("--from-block 200"), "{err}");
        let err = plan_of(&[(0, 49)], Some(40), Some(60)).unwrap_err();
        assert!(err.contains("overlap the exported partition 0-49") && err.contains("from block 50"), "{err}");
        let err = plan_of(&[(0, 49)], None, Some(30)).unwrap_err();
        assert!(err.contains("overlap"), "{err}");
    }
}
