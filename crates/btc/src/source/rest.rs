//! Blocks from Bitcoin Core's REST interface (`bitcoind -rest=1`):
//! `/rest/chaininfo.json` for the tip, `/rest/blockhashbyheight/<h>.bin`
//! for hashes and `/rest/block/<hash>.bin` for blocks. REST needs no
//! credentials; for a node that only serves JSON-RPC use
//! [`RpcSource`](super::RpcSource).

use std::str::FromStr;

use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_sync::BlockSource;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::error::BtcSourceError;
use super::http::{decode_expected, snippet, status_error, HttpClient, HttpOptions};
use crate::{to_core_hash, BtcBlock};

/// Where the REST interface is and how patiently to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// The node's base URL, e.g. `http://127.0.0.1:8332/` (no credentials).
    pub url: String,
    /// Timeouts and parallelism.
    pub http: HttpOptions,
}

/// A [`BlockSource`] over Bitcoin Core's REST interface.
#[derive(Debug)]
pub struct RestSource {
    http: HttpClient,
}

/// The fields of `/rest/chaininfo.json` this source reads.
#[derive(Deserialize)]
struct ChainInfo {
    blocks: u64,
    bestblockhash: String,
}

impl RestSource {
    /// A source for the REST interface at `config.url`; no request is made yet.
    ///
    /// # Errors
    /// [`BtcSourceError::Config`] for a URL that is not http(s) or carries credentials.
    pub fn new(config: &RestConfig) -> Result<RestSource, BtcSourceError> {
        Ok(RestSource { http: HttpClient::new(&config.url, &config.http)? })
    }

    /// GETs `path`, returning the URL and the status and body of any reply
    /// that is not an error other than 404.
    async fn get(&self, path: &str) -> Result<(Url, StatusCode, Vec<u8>), BtcSourceError> {
        let url = self.http.url(path)?;
        let reply = self.http.send(&url, self.http.client().get(url.clone())).await?;
        match reply.status {
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok((url, status, reply.body)),
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(BtcSourceError::Auth {
                url: url.to_string(),
                status,
                hint: "Bitcoin Core's REST interface takes no credentials: is a proxy in front of it?",
            }),
            status => Err(status_error(&url, status, &reply.body, None)),
        }
    }

    async fn hash(&self, height: Height) -> Result<Option<bitcoin::BlockHash>, BtcSourceError> {
        let (url, status, body) = self.get(&format!("rest/blockhashbyheight/{height}.bin")).await?;
        if status == StatusCode::NOT_FOUND {
            // Core answers a height above its tip with 404 "Block height out of range".
            if snippet(&body).to_ascii_lowercase().contains("out of range") {
                return Ok(None);
            }
            return Err(not_found(&url, &body));
        }
        let bytes: [u8; 32] = body.as_slice().try_into().map_err(|_| BtcSourceError::Malformed {
            url: url.to_string(),
            what: format!("expected a 32-byte block hash, got {} bytes", body.len()),
        })?;
        Ok(Some(bitcoin::hashes::Hash::from_byte_array(bytes)))
    }
}

/// A 404 that is not the answer to a height above the tip.
fn not_found(url: &Url, body: &[u8]) -> BtcSourceError {
    let hint = if body.is_empty() { Some("is bitcoind started with -rest=1?") } else { None };
    status_error(url, StatusCode::NOT_FOUND, body, hint)
}

impl BlockSource for RestSource {
    type Block = BtcBlock;
    type Error = BtcSourceError;

    async fn tip(&self) -> Result<BlockRef, BtcSourceError> {
        let (url, status, body) = self.get("rest/chaininfo.json").await?;
        if status == StatusCode::NOT_FOUND {
            return Err(not_found(&url, &body));
        }
        let malformed = |what: String| BtcSourceError::Malformed { url: url.to_string(), what };
        let info: ChainInfo = serde_json::from_slice(&body)
            .map_err(|err| malformed(format!("chaininfo.json: {err}; body starts {:?}", snippet(&body))))?;
        let hash = bitcoin::BlockHash::from_str(&info.bestblockhash)
            .map_err(|_| malformed(format!("bestblockhash {:?} is not a block hash", info.bestblockhash)))?;
        Ok(BlockRef { height: Height::new(info.blocks), hash: to_core_hash(hash) })
    }

    async fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, BtcSourceError> {
        Ok(self.hash(height).await?.map(to_core_hash))
    }

    async fn block_at(&self, height: Height) -> Result<BtcBlock, BtcSourceError> {
        let expected = self
            .hash(height)
            .await?
            .ok_or_else(|| BtcSourceError::AboveTip { height, source_name: self.describe() })?;
        let (url, status, body) = self.get(&format!("rest/block/{expected}.bin")).await?;
        if status == StatusCode::NOT_FOUND {
            return Err(status_error(&url, status, &body, Some("pruned, or replaced by a reorg?")));
        }
        decode_expected(url.as_str(), height, expected, &body)
    }

    fn describe(&self) -> String {
        format!("Bitcoin Core REST at {}", self.http.base())
    }
}
