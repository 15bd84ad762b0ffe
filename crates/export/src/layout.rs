//! Where an export puts its files, and the partition manifests that say
//! which block ranges are done.
//!
//! ```text
//! <out>/<chain>/<table>/block_range=<from>-<to>/data.parquet
//! <out>/<chain>/_partitions/<from>-<to>.json
//! <out>/tags/snapshot=<unix ms>/{tags,labels}.parquet
//! ```
//!
//! Block numbers are zero-padded to 10 digits, so names sort in block
//! order. `block_range=` is a Hive-style partition directory: Spark, DuckDB
//! (`hive_partitioning`) and Trino see a `block_range` string column. A
//! partition counts as exported once its manifest exists; the manifest is
//! written (atomically) after all of its tables' files.

use std::path::{Path, PathBuf};

use chainsleuth_core::Chain;
use serde::{Deserialize, Serialize};

use crate::error::ExportError;
use crate::sink::WrittenFile;

/// What a partition holds and the state of the store it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `btc` or `eth`.
    pub chain: String,
    /// The first block.
    pub from_block: u64,
    /// The last block.
    pub to_block: u64,
    /// The indexed tip when it was exported.
    pub tip_height: u64,
    /// The tip's hash.
    pub tip_hash: String,
    /// Bitcoin: the network (Core's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Bitcoin: the last block the store had clustered when it was exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered_height: Option<u64>,
    /// Bitcoin: the spender columns of `outputs` name spenders up to this
    /// block (the last block of the export run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spenders_through: Option<u64>,
    /// Ethereum: how many genesis credits the partitions up to this one hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_credits: Option<u64>,
    /// When it was written, seconds since the Unix epoch.
    pub exported_at: u64,
    /// The chainsleuth version that wrote it.
    pub chainsleuth_version: String,
    /// Its files.
    pub files: Vec<WrittenFile>,
}

/// `<from>-<to>`, zero-padded.
pub fn range_name(from: u64, to: u64) -> String {
    format!("{from:010}-{to:010}")
}

/// The file of `table` in a partition, and its path relative to `out`.
pub fn table_file(out: &Path, chain: Chain, table: &str, from: u64, to: u64) -> (PathBuf, String) {
    let relative = format!("{}/{table}/block_range={}/data.parquet", chain.as_str(), range_name(from, to));
    (out.join(&relative), relative)
}

fn manifests_dir(out: &Path, chain: Chain) -> PathBuf {
    out.join(chain.as_str()).join("_partitions")
}

/// The manifest of a partition.
pub fn manifest_path(out: &Path, chain: Chain, from: u64, to: u64) -> PathBuf {
    manifests_dir(out, chain).join(format!("{}.json", range_name(from, to)))
}

/// The manifests of `chain`'s exported partitions, in block order.
///
/// # Errors
/// [`ExportError::Io`] for an unreadable directory or file;
/// [`ExportError::Manifest`] for a file that is no manifest.
pub fn manifests(out: &Path, chain: Chain) -> Result<Vec<Manifest>, ExportError> {
    let dir = manifests_dir(out, chain);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ExportError::Io { path: dir, source: e }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(ExportError::io(&dir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(ExportError::io(&path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ExportError::Manifest { path: path.clone(), reason: e.to_string() })?;
        out.push(manifest);
    }
    out.sort_by_key(|m| m.from_block);
    Ok(out)
}

/// Writes a partition's manifest (the partition then counts as exported).
///
/// # Errors
/// [`ExportError::Io`].
pub fn write_manifest(out: &Path, chain: Chain, manifest: &Manifest) -> Result<(), ExportError> {
    let path = manifest_path(out, chain, manifest.from_block, manifest.to_block);
    let mut bytes = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    bytes.push(b'\n');
    crate::sink::write_atomic(&path, &bytes)
}

/// The latest tag snapshot's directory, relative to `out`.
///
/// # Errors
/// [`ExportError::Io`] for an unreadable directory.
pub fn latest_snapshot(out: &Path) -> Result<Option<String>, ExportError> {
    let dir = out.join("tags");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ExportError::Io { path: dir, source: e }),
    };
    let mut latest = None;
    for entry in entries {
        let name = entry.map_err(ExportError::io(&dir))?.file_name().to_string_lossy().into_owned();
        if name.starts_with("snapshot=") && latest.as_ref().is_none_or(|l: &String| name > *l) {
            latest = Some(name);
        }
    }
    Ok(latest.map(|name| format!("tags/{name}")))
}
