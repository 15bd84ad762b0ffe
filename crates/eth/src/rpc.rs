//! A small JSON-RPC 2.0 client over HTTP: single calls and batches, a
//! per-request timeout, a bound on requests in flight, and errors that say
//! whether retrying may help.
//!
//! The node's URL may carry an API key in its path or query, so the client
//! only ever shows the redacted form ([`redact_url`]) in errors and logs, and
//! strips the URL from transport errors before chaining them.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use crate::error::RpcError;

/// JSON-RPC's "method not found" code.
const METHOD_NOT_FOUND: i64 = -32601;

/// Shows `url` without credentials: scheme, host and port are kept; user
/// info, path and query (where providers put API keys) become `…`.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("?");
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let hidden = parsed.path() != "/" || parsed.query().is_some() || !parsed.username().is_empty();
            let rest = if hidden { "/…" } else { "" };
            format!("{}://{host}{port}{rest}", parsed.scheme())
        }
        Err(_) => "<unparsable url>".to_owned(),
    }
}

/// One JSON-RPC request: a method and its positional parameters.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method name, e.g. `eth_getBlockByNumber`.
    pub method: &'static str,
    /// The parameters, a JSON array.
    pub params: serde_json::Value,
}

impl Call {
    /// A call of `method` with `params` (a JSON array).
    pub fn new(method: &'static str, params: serde_json::Value) -> Self {
        Call { method, params }
    }
}

#[derive(Serialize)]
struct Request<'a> {
    jsonrpc: &'static str,
    id: usize,
    method: &'a str,
    params: &'a serde_json::Value,
}

#[derive(Deserialize)]
struct Response {
    id: Option<serde_json::Value>,
    /// `Some` whenever the member is there, `null` included (a valid
    /// result: no such block or receipt).
    #[serde(default, deserialize_with = "present")]
    result: Option<Box<RawValue>>,
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// The JSON-RPC client of one node.
#[derive(Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
    redacted: String,
    in_flight: Semaphore,
}

impl RpcClient {
    /// A client for the node at `url`, giving each HTTP request `timeout`
    /// and keeping at most `max_in_flight` requests open at once.
    ///
    /// # Errors
    /// [`RpcError::Setup`] when the URL does not parse or the HTTP client
    /// cannot be built.
    pub fn new(url: &str, timeout: Duration, max_in_flight: usize) -> Result<Self, RpcError> {
        let redacted = redact_url(url);
        reqwest::Url::parse(url).map_err(|_| RpcError::Setup { url: redacted.clone(), reason: "not a valid URL" })?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(max_in_flight.max(1))
            .build()
            .map_err(|_| RpcError::Setup { url: redacted.clone(), reason: "cannot build the HTTP client" })?;
        Ok(RpcClient { http, url: url.to_owned(), redacted, in_flight: Semaphore::new(max_in_flight.max(1)) })
    }

    /// The node's URL with credentials hidden.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    /// Calls one method and decodes its result as `T`.
    ///
    /// # Errors
    /// [`RpcError`]: transport faults, HTTP errors, malformed answers, the
    /// node's JSON-RPC error, or a result that does not decode as `T`.
    pub async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T, RpcError> {
        let method = call.method;
        let mut answers = self.batch(vec![call]).await?;
        let raw = answers.pop().ok_or_else(|| self.malformed(method, "empty batch answer".into()))??;
        self.decode(method, &raw)
    }

    /// Decodes a raw result of `method` as `T`.
    ///
    /// # Errors
    /// [`RpcError::Malformed`] naming the method and the serde reason.
    pub fn decode<T: DeserializeOwned>(&self, method: &'static str, raw: &RawValue) -> Result<T, RpcError> {
        serde_json::from_str(raw.get()).map_err(|err| self.malformed(method, err.to_string()))
    }

    fn malformed(&self, method: &'static str, reason: String) -> RpcError {
        RpcError::Malformed { url: self.redacted.clone(), method, reason }
    }

    /// Sends `calls` as one JSON-RPC batch and returns each call's raw
    /// result (or the node's error for it) in the order of `calls`.
    ///
    /// # Errors
    /// The outer error is a fault of the whole request (transport, HTTP
    /// status, malformed body); the inner ones are per-call node errors.
    pub async fn batch(&self, calls: Vec<Call>) -> Result<Vec<Result<Box<RawValue>, RpcError>>, RpcError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let what = calls[0].method;
        let requests: Vec<Request<'_>> = calls
            .iter()
            .enumerate()
            .map(|(id, c)| Request { jsonrpc: "2.0", id, method: c.method, params: &c.params })
            .collect();
        let body = {
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| RpcError::Setup { url: self.redacted.clone(), reason: "client shut down" })?;
            self.post(what, &requests).await?
        };
        let responses: Vec<Response> = match serde_json::from_slice::<Vec<Response>>(&body) {
            Ok(list) => list,
            // Some servers answer a one-element batch with a bare object.
            Err(_) if calls.len() == 1 => match serde_json::from_slice::<Response>(&body) {
                Ok(one) => vec![one],
                Err(err) => return Err(self.malformed(what, err.to_string())),
            },
            Err(err) => return Err(self.malformed(what, err.to_string())),
        };
        let mut slots: Vec<Option<Result<Box<RawValue>, RpcError>>> = (0..calls.len()).map(|_| None).collect();
        for response in responses {
            let id = response.id.as_ref().and_then(serde_json::Value::as_u64).and_then(|id| usize::try_from(id).ok());
            let Some(slot) = id.and_then(|id| slots.get_mut(id)) else {
                return Err(self.malformed(what, "answer with an unknown id".into()));
            };
            let method = calls[id.unwrap_or_default()].method;
            *slot = Some(match (response.result, response.error) {
                (_, Some(error)) => Err(RpcError::Node {
                    url: self.redacted.clone(),
                    method,
                    code: error.code,
                    message: error.message.chars().take(200).collect(),
                }),
                (Some(result), None) => Ok(result),
                (None, None) => Err(self.malformed(method, "answer with neither result nor error".into())),
            });
        }
        slots
            .into_iter()
            .zip(&calls)
            .map(|(slot, call)| slot.ok_or_else(|| self.malformed(call.method, "batch answer lacks a call".into())))
            .collect()
    }

    async fn post(&self, method: &'static str, requests: &[Request<'_>]) -> Result<Vec<u8>, RpcError> {
        let transport = |err: reqwest::Error| {
            let kind = if err.is_timeout() {
                "timed out"
            } else if err.is_connect() {
                "connection failed"
            } else {
                "transport error"
            };
            RpcError::Transport { url: self.redacted.clone(), method, kind, source: err.without_url() }
        };
        let response = self.http.post(&self.url).json(requests).send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(RpcError::Http { url: self.redacted.clone(), method, status: status.as_u16() });
        }
        let body = response.bytes().await.map_err(transport)?;
        Ok(body.to_vec())
    }
}

impl RpcError {
    /// Whether the node said it lacks the method (so retrying cannot help,
    /// and a fallback should be used).
    pub fn is_method_missing(&self) -> bool {
        match self {
            RpcError::Node { code, message, .. } => {
                let message = message.to_ascii_lowercase();
                *code == METHOD_NOT_FOUND
                    || message.contains("method not found")
                    || message.contains("not supported")
                    || message.contains("does not exist")
                    || message.contains("not available")
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_keys_paths_and_user_info() {
        assert_eq!(redact_url("https://mainnet.infura.io/v3/SECRETKEY"), "https://mainnet.infura.io/…");
        assert_eq!(redact_url("http://user:pw@10.0.0.1:8545"), "http://10.0.0.1:8545/…");
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(redact_url("https://node.example/?apikey=SECRET"), "https://node.example/…");
        assert!(!redact_url("not a url SECRET").contains("SECRET"));
    }

    #[test]
    fn method_missing_is_recognised() {
        let err = |code, message: &str| RpcError::Node { url: "u".into(), method: "m", code, message: message.into() };
        assert!(err(-32601, "Method not found").is_method_missing());
        assert!(err(-32000, "the method debug_traceBlockByHash does not exist/is not available").is_method_missing());
        assert!(!err(-32000, "header not found").is_method_missing());
    }
}
