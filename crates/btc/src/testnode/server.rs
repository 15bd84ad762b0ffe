//! The mock's HTTP handlers: Core's REST endpoints, its JSON-RPC endpoint,
//! and the fault injection wrapped around both.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use bitcoin::pow::Work;
use serde_json::{json, Value};

use super::{Fault, State as NodeState};

type Shared = Arc<Mutex<NodeState>>;

/// Core's JSON-RPC error codes used here.
mod code {
    pub(super) const MISC_ERROR: i64 = -1;
    pub(super) const TYPE_ERROR: i64 = -3;
    pub(super) const INVALID_ADDRESS_OR_KEY: i64 = -5;
    pub(super) const INVALID_PARAMETER: i64 = -8;
    pub(super) const IN_WARMUP: i64 = -28;
    pub(super) const INVALID_REQUEST: i64 = -32600;
    pub(super) const METHOD_NOT_FOUND: i64 = -32601;
    pub(super) const PARSE_ERROR: i64 = -32700;
}

/// The `Authorization` header value for `user:password` credentials.
pub(super) fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

/// All routes, with fault injection in front of them.
pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/", post(rpc))
        .route("/rest/chaininfo.json", get(rest_chaininfo))
        .route("/rest/blockhashbyheight/{file}", get(rest_hash_by_height))
        .route("/rest/block/{file}", get(rest_block))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), inject_faults))
        .with_state(state)
}

/// Counts the request, waits the configured delay and serves a queued fault
/// instead of the real answer.
async fn inject_faults(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let (delay, fault) = {
        let mut state = NodeState::lock(&state);
        state.requests += 1;
        (state.delay, state.faults.pop_front())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(CONTENT_TYPE, "text/plain")], "injected failure\r\n").into_response()
        }
        Some(Fault::Garbage) => {
            (StatusCode::OK, [(CONTENT_TYPE, "application/json")], &b"\x00\x9f<html>garbage{\"result\":"[..])
                .into_response()
        }
        None | Some(Fault::Pass) => next.run(request).await,
    }
}

fn json_reply(status: StatusCode, value: &Value) -> Response {
    let mut body = value.to_string();
    body.push('\n');
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// A REST error as Core sends it: plain text ending in CRLF.
fn rest_error(status: StatusCode, message: &str) -> Response {
    (status, [(CONTENT_TYPE, "text/plain")], format!("{message}\r\n")).into_response()
}

/// Splits `name.ext` of a REST path.
fn split_format(file: &str) -> (&str, &str) {
    file.rsplit_once('.').unwrap_or((file, ""))
}

fn unknown_format(available: &str) -> Response {
    rest_error(StatusCode::NOT_FOUND, &format!("output format not found (available: {available})"))
}

fn warmup_rest(state: &NodeState) -> Option<Response> {
    state
        .warmup
        .as_ref()
        .map(|msg| rest_error(StatusCode::SERVICE_UNAVAILABLE, &format!("Service temporarily unavailable: {msg}")))
}

async fn rest_chaininfo(State(state): State<Shared>) -> Response {
    let state = NodeState::lock(&state);
    if let Some(reply) = warmup_rest(&state) {
        return reply;
    }
    json_reply(StatusCode::OK, &chain_info(&state))
}

async fn rest_hash_by_height(State(state): State<Shared>, Path(file): Path<String>) -> Response {
    let state = NodeState::lock(&state);
    if let Some(reply) = warmup_rest(&state) {
        return reply;
    }
    let (height, format) = split_format(&file);
    let Some(height) = height.parse::<i32>().ok().filter(|h| *h >= 0) else {
        return rest_error(StatusCode::BAD_REQUEST, &format!("Invalid height: {height}"));
    };
    let Some(hash) = state.chain.get(height as usize) else {
        return rest_error(StatusCode::NOT_FOUND, "Block height out of range");
    };
    let bytes = bitcoin::hashes::Hash::to_byte_array(*hash);
    match format {
        "bin" => ([(CONTENT_TYPE, "application/octet-stream")], bytes.to_vec()).into_response(),
        "hex" => ([(CONTENT_TYPE, "text/plain")], format!("{}\n", hex::encode(bytes))).into_response(),
        "json" => json_reply(StatusCode::OK, &json!({ "blockhash": hash.to_string() })),
        _ => unknown_format(".bin, .hex, .json"),
    }
}

async fn rest_block(State(state): State<Shared>, Path(file): Path<String>) -> Response {
    let served = {
        let state = NodeState::lock(&state);
        if let Some(reply) = warmup_rest(&state) {
            return reply;
        }
        let (hash_text, _) = split_format(&file);
        let Ok(hash) = bitcoin::BlockHash::from_str(hash_text) else {
            return rest_error(StatusCode::BAD_REQUEST, &format!("Invalid hash: {hash_text}"));
        };
        match state.blocks.get(&hash) {
            Some(served) => Arc::clone(served),
            None => return rest_error(StatusCode::NOT_FOUND, &format!("{hash_text} not found")),
        }
    };
    match split_format(&file).1 {
        "bin" => ([(CONTENT_TYPE, "application/octet-stream")], served.bytes.clone()).into_response(),
        "hex" => ([(CONTENT_TYPE, "text/plain")], format!("{}\n", hex::encode(&served.bytes))).into_response(),
        _ => unknown_format(".bin, .hex (this test node serves no .json blocks)"),
    }
}

/// `getblockchaininfo` as Core answers it (the fields a client may read).
fn chain_info(state: &NodeState) -> Value {
    let height = state.chain.len().saturating_sub(1);
    let headers: Vec<&bitcoin::block::Header> =
        state.chain.iter().filter_map(|hash| state.blocks.get(hash)).map(|b| &b.header).collect();
    let chain_work = headers.iter().fold(Work::from_be_bytes([0; 32]), |sum, h| sum + h.work());
    let mut recent: Vec<u32> = headers.iter().rev().take(11).map(|h| h.time).collect();
    recent.sort_unstable();
    let tip = headers.last();
    json!({
        "chain": state.network.to_core_arg(),
        "blocks": height,
        "headers": height,
        "bestblockhash": state.chain.last().map(ToString::to_string).unwrap_or_default(),
        "difficulty": tip.map_or(0.0, |h| h.difficulty_float()),
        "time": tip.map_or(0, |h| h.time),
        "mediantime": recent.get(recent.len() / 2).copied().unwrap_or(0),
        "verificationprogress": 1.0,
        "initialblockdownload": false,
        "chainwork": hex::encode(chain_work.to_be_bytes()),
        "size_on_disk": state.blocks.values().map(|b| b.bytes.len()).sum::<usize>(),
        "pruned": false,
        "warnings": [],
    })
}

/// The JSON-RPC endpoint: authentication, then one call or a batch.
async fn rpc(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    {
        let state = NodeState::lock(&state);
        let given = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        if !state.credentials.is_empty() && !given.is_some_and(|v| state.credentials.iter().any(|c| c == v)) {
            return (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, "Basic realm=\"jsonrpc\"")]).into_response();
        }
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            let reply =
                json!({"result": null, "error": {"code": code::PARSE_ERROR, "message": "Parse error"}, "id": null});
            return json_reply(StatusCode::INTERNAL_SERVER_ERROR, &reply);
        }
    };
    match request {
        Value::Array(calls) => {
            let replies: Vec<Value> = calls.iter().map(|call| answer(&state, call).1).collect();
            json_reply(StatusCode::OK, &Value::Array(replies))
        }
        call @ Value::Object(_) => {
            let (status, reply) = answer(&state, &call);
            json_reply(status, &reply)
        }
        _ => {
            let error = json!({"code": code::INVALID_REQUEST, "message": "Top-level object parse error"});
            json_reply(StatusCode::BAD_REQUEST, &json!({"result": null, "error": error, "id": null}))
        }
    }
}

/// One call's reply and the status Core would send it with on its own.
fn answer(state: &Shared, call: &Value) -> (StatusCode, Value) {
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let v2 = call.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let outcome = match (call.get("method").and_then(Value::as_str), call.get("params")) {
        (Some(method), params) => execute(state, method, params.unwrap_or(&Value::Null)),
        (None, _) => Err((code::INVALID_REQUEST, "Method must be a string".to_owned())),
    };
    match (outcome, v2) {
        (Ok(result), false) => (StatusCode::OK, json!({"result": result, "error": null, "id": id})),
        (Ok(result), true) => (StatusCode::OK, json!({"jsonrpc": "2.0", "result": result, "id": id})),
        (Err((code, message)), v2) => {
            let error = json!({"code": code, "message": message});
            // Core 28+ answers JSON-RPC 2.0 errors with 200; 1.0 errors with a status by code.
            let status = match code {
                _ if v2 => StatusCode::OK,
                code::INVALID_REQUEST => StatusCode::BAD_REQUEST,
                code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let reply = if v2 {
                json!({"jsonrpc": "2.0", "error": error, "id": id})
            } else {
                json!({"result": null, "error": error, "id": id})
            };
            (status, reply)
        }
    }
}

/// A positional or named parameter.
fn param<'a>(params: &'a Value, index: usize, name: &str) -> Option<&'a Value> {
    match params {
        Value::Array(items) => items.get(index),
        Value::Object(map) => map.get(name),
        _ => None,
    }
    .filter(|v| !v.is_null())
}

fn type_error(value: &Value, expected: &str) -> (i64, String) {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    (code::TYPE_ERROR, format!("JSON value of type {kind} is not of expected type {expected}"))
}

fn execute(state: &Shared, method: &str, params: &Value) -> Result<Value, (i64, String)> {
    let state = NodeState::lock(state);
    if let Some(msg) = &state.warmup {
        return Err((code::IN_WARMUP, msg.clone()));
    }
    match method {
        "getblockchaininfo" => Ok(chain_info(&state)),
        "getblockcount" => Ok(json!(state.chain.len().saturating_sub(1))),
        "getbestblockhash" => Ok(json!(state.chain.last().map(ToString::to_string).unwrap_or_default())),
        "getblockhash" => {
            let value = param(params, 0, "height").ok_or((
                code::MISC_ERROR,
                "getblockhash height\n\nReturns hash of block in best-block-chain at height provided.".to_owned(),
            ))?;
            let height = value.as_i64().ok_or_else(|| type_error(value, "number"))?;
            usize::try_from(height)
                .ok()
                .and_then(|h| state.chain.get(h))
                .map(|hash| json!(hash.to_string()))
                .ok_or((code::INVALID_PARAMETER, "Block height out of range".to_owned()))
        }
        "getblock" => {
            let value = param(params, 0, "blockhash")
                .ok_or((code::MISC_ERROR, "getblock \"blockhash\" ( verbosity )".to_owned()))?;
            let text = value.as_str().ok_or_else(|| type_error(value, "string"))?;
            if text.len() != 64 {
                return Err((
                    code::INVALID_PARAMETER,
                    format!("blockhash must be of length 64 (not {}, for '{text}')", text.len()),
                ));
            }
            let hash = bitcoin::BlockHash::from_str(text).map_err(|_| {
                (code::INVALID_PARAMETER, format!("blockhash must be hexadecimal string (not '{text}')"))
            })?;
            let verbosity = match param(params, 1, "verbosity") {
                None => 1,
                Some(Value::Bool(verbose)) => i64::from(*verbose),
                Some(value) => value.as_i64().ok_or_else(|| type_error(value, "number"))?,
            };
            let served = state.blocks.get(&hash).ok_or((code::INVALID_ADDRESS_OR_KEY, "Block not found".to_owned()))?;
            if verbosity != 0 {
                return Err((code::INVALID_PARAMETER, "this test node serves getblock verbosity 0 only".to_owned()));
            }
            Ok(json!(hex::encode(&served.bytes)))
        }
        _ => Err((code::METHOD_NOT_FOUND, "Method not found".to_owned())),
    }
}
