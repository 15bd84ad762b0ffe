//! How request handlers open the stores of the data directory: read-only,
//! beside the workers that write them, each request on its own consistent
//! view. A store that does not exist yet is a 404 `not_indexed`.

use std::path::Path;

use chainsleuth_btc::index;
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_tags::TagStore;

use crate::error::ApiError;

fn not_indexed(chain: &str) -> ApiError {
    ApiError::not_found("not_indexed", "chain", format!("nothing is indexed for {chain} in this data directory"))
}

/// Opens the Bitcoin store read-only; 404 `not_indexed` when there is none.
pub(crate) fn open_btc(data_dir: &Path) -> Result<Store, ApiError> {
    if !index::store_path(data_dir).exists() {
        return Err(not_indexed("btc"));
    }
    Ok(index::open_read_only(data_dir)?)
}

/// Opens the Ethereum store read-only; 404 `not_indexed` when there is none.
pub(crate) fn open_eth(data_dir: &Path) -> Result<Store, ApiError> {
    let path = chainsleuth_eth::store_path(data_dir);
    if !path.exists() {
        return Err(not_indexed("eth"));
    }
    Store::open(&path, &chainsleuth_eth::SCHEMA, OpenMode::ReadOnly)
        .map_err(|err| ApiError::internal("opening the eth store", &err))
}

/// Opens the tag store read-only; 404 `not_indexed` when nothing was imported.
pub(crate) fn open_tags(data_dir: &Path) -> Result<TagStore, ApiError> {
    let path = TagStore::path_in(data_dir);
    if !path.exists() {
        return Err(ApiError::not_found("not_indexed", "tags", "no tag list has been imported"));
    }
    Ok(TagStore::open_read_only(&path)?)
}
