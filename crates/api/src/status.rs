//! What every store in a data directory holds: the body of `GET /v1/status`
//! and of `chainsleuth status --json`.

use std::path::{Path, PathBuf};

use chainsleuth_btc::index::{self, query::BtcStatus};
use chainsleuth_tags::{SourceInfo, TagStore};
use serde::Serialize;

use crate::error::ApiError;

/// Tips and counts of each store; a store that does not exist is `None`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The Bitcoin index.
    pub btc: Option<BtcStatus>,
    /// The Ethereum index.
    pub eth: Option<chainsleuth_eth::Status>,
    /// The tag sources with their versions and last fetches.
    pub tag_sources: Option<Vec<SourceInfo>>,
    /// The chain workers of a `chainsleuth serve` process: indexed tip,
    /// node tip, lag, blocks/s, last error (left out when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<crate::WorkerView>,
}

/// Reads the status of every store under `data_dir`, each opened read-only.
///
/// # Errors
/// A store that exists but cannot be opened or read.
pub fn status(data_dir: &Path) -> Result<Status, ApiError> {
    let btc = if index::store_path(data_dir).exists() {
        Some(index::query::status(&*crate::stores::open_btc(data_dir)?)?)
    } else {
        None
    };
    let eth = if chainsleuth_eth::store_path(data_dir).exists() {
        Some(chainsleuth_eth::EthQuery::new(&*crate::stores::open_eth(data_dir)?).status()?)
    } else {
        None
    };
    let tags_path = TagStore::path_in(data_dir);
    let tag_sources = if tags_path.exists() { Some(crate::stores::open_tags(data_dir)?.sources()?) } else { None };
    Ok(Status { data_dir: data_dir.to_owned(), btc, eth, tag_sources, workers: Vec::new() })
}
