//! Blocks from Bitcoin Core's JSON-RPC interface: `getblockchaininfo` for
//! the tip, `getblockhash` for hashes (batched ahead of the heights being
//! fetched) and `getblock <hash> 0` for the raw block.
//!
//! Authentication is Core's cookie file (re-read when a 401 comes back,
//! since Core writes a new one on every start) or a user and password.
//! Neither is ever logged or put in an error message.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use base64::Engine;
use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_sync::BlockSource;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::BtcSourceError;
use super::http::{decode_expected, snippet, status_error, HttpClient, HttpOptions, Reply};
use crate::{to_core_hash, BtcBlock};

/// Core's `RPC_INVALID_PARAMETER`, which `getblockhash` returns above the tip.
const RPC_INVALID_PARAMETER: i64 = -8;
/// Block hashes asked for in one batch ahead of the block being fetched.
const HASH_BATCH: u64 = 32;

/// How to authenticate to bitcoind's JSON-RPC server.
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuth {
    /// Core's cookie file (`<datadir>/<network>/.cookie`, `__cookie__:<password>`).
    Cookie(PathBuf),
    /// A user and password (`-rpcuser`/`-rpcpassword` or `-rpcauth`).
    UserPass {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcAuth::Cookie(path) => f.debug_tuple("Cookie").field(path).finish(),
            RpcAuth::UserPass { user, .. } => {
                f.debug_struct("UserPass").field("user", user).field("password", &"<redacted>").finish()
            }
        }
    }
}

/// Where the JSON-RPC server is, how to log in and how patiently to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// The server's URL, e.g. `http://127.0.0.1:8332/` (no credentials).
    pub url: String,
    /// The credentials.
    pub auth: RpcAuth,
    /// Timeouts and parallelism.
    pub http: HttpOptions,
}

/// A [`BlockSource`] over Bitcoin Core's JSON-RPC interface.
pub struct RpcSource {
    http: HttpClient,
    auth: RpcAuth,
    /// The `Authorization` header value.
    header: RwLock<HeaderValue>,
    next_id: AtomicU64,
    hashes: tokio::sync::Mutex<HashCache>,
}

impl fmt::Debug for RpcSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcSource").field("url", &self.http.base().as_str()).field("auth", &self.auth).finish()
    }
}

/// Hashes fetched ahead of the blocks asked for; emptied by every `tip()`,
/// and each entry is taken out when used.
#[derive(Debug, Default)]
struct HashCache {
    tip: Option<u64>,
    by_height: HashMap<u64, bitcoin::BlockHash>,
}

/// One JSON-RPC response (1.0 or 2.0 shape).
#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Option<ErrorObject>,
    #[serde(default)]
    id: Value,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

/// The fields of `getblockchaininfo` this source reads.
#[derive(Deserialize)]
struct ChainInfo {
    blocks: u64,
    bestblockhash: String,
}

impl RpcSource {
    /// A source for the JSON-RPC server at `config.url`; reads the cookie
    /// file now but makes no request yet.
    ///
    /// # Errors
    /// [`BtcSourceError::Config`] for a URL that is not http(s) or carries
    /// credentials, [`BtcSourceError::Cookie`] when the cookie file cannot be read.
    pub fn new(config: &RpcConfig) -> Result<RpcSource, BtcSourceError> {
        let http = HttpClient::new(&config.url, &config.http)?;
        let header = match &config.auth {
            RpcAuth::Cookie(path) => basic_header(&read_cookie(path)?),
            RpcAuth::UserPass { user, password } => basic_header(&format!("{user}:{password}")),
        };
        Ok(RpcSource {
            http,
            auth: config.auth.clone(),
            header: RwLock::new(header),
            next_id: AtomicU64::new(1),
            hashes: tokio::sync::Mutex::new(HashCache::default()),
        })
    }

    /// Re-reads the cookie file; `true` when it holds a new password.
    fn reload_cookie(&self) -> Result<bool, BtcSourceError> {
        let RpcAuth::Cookie(path) = &self.auth else { return Ok(false) };
        let fresh = basic_header(&read_cookie(path)?);
        let mut header = self.header.write().unwrap_or_else(PoisonError::into_inner);
        if *header == fresh {
            return Ok(false);
        }
        *header = fresh;
        Ok(true)
    }

    /// POSTs `body`, retrying once with a re-read cookie after a 401.
    async fn post(&self, body: &Value) -> Result<(Url, Reply), BtcSourceError> {
        let url = self.http.base().clone();
        let bytes = serde_json::to_vec(body).map_err(|err| BtcSourceError::Config(format!("request body: {err}")))?;
        let mut reloaded = false;
        loop {
            let header = self.header.read().unwrap_or_else(PoisonError::into_inner).clone();
            let request = self
                .http
                .client()
                .post(url.clone())
                .header(AUTHORIZATION, header)
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone());
            let reply = self.http.send(&url, request).await?;
            match reply.status {
                StatusCode::UNAUTHORIZED if !reloaded && self.reload_cookie()? => {
                    tracing::info!(url = %url, "bitcoind cookie changed; retrying with the new one");
                    reloaded = true;
                }
                status @ StatusCode::UNAUTHORIZED => {
                    let hint = match self.auth {
                        RpcAuth::Cookie(_) => "check --rpc-cookie (is it this node's cookie file?)",
                        RpcAuth::UserPass { .. } => "check --rpc-user/--rpc-password",
                    };
                    return Err(BtcSourceError::Auth { url: url.to_string(), status, hint });
                }
                status @ StatusCode::FORBIDDEN => {
                    return Err(BtcSourceError::Auth {
                        url: url.to_string(),
                        status,
                        hint: "bitcoind refused this client or method: check -rpcallowip and -rpcwhitelist",
                    })
                }
                _ => return Ok((url, reply)),
            }
        }
    }

    /// Calls one method and returns its result.
    async fn call(&self, method: &'static str, params: Value) -> Result<Value, BtcSourceError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (url, reply) = self.post(&json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params})).await?;
        let response = match serde_json::from_slice::<Response>(&reply.body) {
            Ok(response) => response,
            Err(err) => return Err(unparsable(&url, &reply, &err)),
        };
        if let Some(error) = response.error {
            return Err(BtcSourceError::Rpc { url: url.to_string(), method, code: error.code, message: error.message });
        }
        if !reply.status.is_success() {
            return Err(status_error(&url, reply.status, &reply.body, None));
        }
        if response.id != json!(id) {
            return Err(malformed(&url, format!("{method} answered with id {} instead of {id}", response.id)));
        }
        Ok(response.result)
    }

    /// Calls `method` once per entry of `params` in one batch request and
    /// returns each call's result or error, in order.
    async fn batch(
        &self,
        method: &'static str,
        params: &[Value],
    ) -> Result<Vec<Result<Value, BtcSourceError>>, BtcSourceError> {
        let first = self.next_id.fetch_add(params.len() as u64, Ordering::Relaxed);
        let calls: Vec<Value> = params
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"jsonrpc": "1.0", "id": first + i as u64, "method": method, "params": p}))
            .collect();
        let (url, reply) = self.post(&Value::Array(calls)).await?;
        let responses = match serde_json::from_slice::<Vec<Response>>(&reply.body) {
            Ok(responses) => responses,
            Err(err) => {
                // A failed batch as a whole comes back as one error object.
                if let Ok(Response { error: Some(error), .. }) = serde_json::from_slice::<Response>(&reply.body) {
                    let (code, message) = (error.code, error.message);
                    return Err(BtcSourceError::Rpc { url: url.to_string(), method, code, message });
                }
                return Err(unparsable(&url, &reply, &err));
            }
        };
        if !reply.status.is_success() {
            return Err(status_error(&url, reply.status, &reply.body, None));
        }
        let mut by_id: HashMap<u64, Response> =
            responses.into_iter().filter_map(|r| r.id.as_u64().map(|id| (id, r))).collect();
        let results = (0..params.len() as u64)
            .map(|i| {
                let response = by_id.remove(&(first + i)).ok_or_else(|| {
                    malformed(&url, format!("batch of {method} lacks the answer with id {}", first + i))
                })?;
                match response.error {
                    Some(error) => Err(BtcSourceError::Rpc {
                        url: url.to_string(),
                        method,
                        code: error.code,
                        message: error.message,
                    }),
                    None => Ok(response.result),
                }
            })
            .collect();
        Ok(results)
    }

    /// The hash at `height`, from the batch fetched ahead or a new batch.
    async fn hash_for_block(&self, height: Height) -> Result<bitcoin::BlockHash, BtcSourceError> {
        let h = height.get();
        let mut cache = self.hashes.lock().await;
        if let Some(hash) = cache.by_height.remove(&h) {
            return Ok(hash);
        }
        let last = match cache.tip {
            Some(tip) if tip >= h => tip.min(h + HASH_BATCH - 1),
            _ => h,
        };
        let params: Vec<Value> = (h..=last).map(|n| json!([n])).collect();
        let results = self.batch("getblockhash", &params).await?;
        let url = self.http.base().clone();
        for (n, result) in (h..=last).zip(results) {
            match result.and_then(|value| parse_hash(&url, "getblockhash", &value)) {
                Ok(hash) => {
                    cache.by_height.insert(n, hash);
                }
                Err(BtcSourceError::Rpc { code: RPC_INVALID_PARAMETER, .. }) if n == h => {
                    return Err(BtcSourceError::AboveTip { height, source_name: self.describe() })
                }
                Err(err) if n == h => return Err(err),
                // A later height failing (above a shrunken tip) only ends the look-ahead.
                Err(_) => break,
            }
        }
        cache.by_height.remove(&h).ok_or_else(|| malformed(&url, format!("no hash for height {h} in the batch")))
    }
}

impl BlockSource for RpcSource {
    type Block = BtcBlock;
    type Error = BtcSourceError;

    async fn tip(&self) -> Result<BlockRef, BtcSourceError> {
        let value = self.call("getblockchaininfo", json!([])).await?;
        let url = self.http.base();
        let info: ChainInfo =
            serde_json::from_value(value).map_err(|err| malformed(url, format!("getblockchaininfo result: {err}")))?;
        let hash = bitcoin::BlockHash::from_str(&info.bestblockhash)
            .map_err(|_| malformed(url, format!("bestblockhash {:?} is not a block hash", info.bestblockhash)))?;
        let mut cache = self.hashes.lock().await;
        cache.tip = Some(info.blocks);
        cache.by_height.clear();
        Ok(BlockRef { height: Height::new(info.blocks), hash: to_core_hash(hash) })
    }

    async fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, BtcSourceError> {
        match self.call("getblockhash", json!([height.get()])).await {
            Ok(value) => Ok(Some(to_core_hash(parse_hash(self.http.base(), "getblockhash", &value)?))),
            Err(BtcSourceError::Rpc { code: RPC_INVALID_PARAMETER, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn block_at(&self, height: Height) -> Result<BtcBlock, BtcSourceError> {
        let expected = self.hash_for_block(height).await?;
        let value = self.call("getblock", json!([expected.to_string(), 0])).await?;
        let url = self.http.base();
        let hex_block = value.as_str().ok_or_else(|| malformed(url, "getblock result is not a hex string".into()))?;
        let bytes = hex::decode(hex_block)
            .map_err(|err| malformed(url, format!("getblock result for {expected} is not hex: {err}")))?;
        decode_expected(url.as_str(), height, expected, &bytes)
    }

    fn describe(&self) -> String {
        let auth = match &self.auth {
            RpcAuth::Cookie(path) => format!("cookie {}", path.display()),
            RpcAuth::UserPass { user, .. } => format!("user {user}"),
        };
        format!("Bitcoin Core JSON-RPC at {} ({auth})", self.http.base())
    }
}

fn malformed(url: &Url, what: String) -> BtcSourceError {
    BtcSourceError::Malformed { url: url.to_string(), what }
}

/// A reply that is not JSON-RPC: an HTTP error when the status says so,
/// else a malformed answer.
fn unparsable(url: &Url, reply: &Reply, err: &serde_json::Error) -> BtcSourceError {
    if reply.status.is_success() {
        malformed(url, format!("not a JSON-RPC response ({err}); body starts {:?}", snippet(&reply.body)))
    } else {
        let hint = (reply.status == StatusCode::NOT_FOUND).then_some("is this bitcoind's RPC port?");
        status_error(url, reply.status, &reply.body, hint)
    }
}

fn parse_hash(url: &Url, method: &str, value: &Value) -> Result<bitcoin::BlockHash, BtcSourceError> {
    value
        .as_str()
        .and_then(|s| bitcoin::BlockHash::from_str(s).ok())
        .ok_or_else(|| malformed(url, format!("{method} result {value} is not a block hash")))
}

fn read_cookie(path: &Path) -> Result<String, BtcSourceError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| BtcSourceError::Cookie { path: path.to_owned(), source })?;
    let text = text.trim_end_matches(['\r', '\n']);
    if !text.contains(':') {
        return Err(BtcSourceError::Cookie {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "expected user:password"),
        });
    }
    Ok(text.to_owned())
}

fn basic_header(credentials: &str) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 text is a valid header value");
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let auth = RpcAuth::UserPass { user: "alice".into(), password: "hunter2".into() };
        let text = format!("{auth:?}");
        assert!(text.contains("alice") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn basic_header_is_sensitive() {
        let header = basic_header("__cookie__:abc");
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().ok(), Some("Basic X19jb29raWVfXzphYmM="));
    }
}
