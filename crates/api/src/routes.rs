//! The request handlers. Each opens the stores it reads read-only, on a
//! blocking thread, and answers with the serde views the query crates
//! return (the same JSON as the CLI's `--json`).

use std::path::Path as FsPath;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::Json;
use bitcoin::Network;
use chainsleuth_btc::index::{query, query::MAX_PAGE};
use chainsleuth_eth::EthQuery;
use chainsleuth_store::Store;
use chainsleuth_tags::{SourceInfo, TagChain, TagStore, TagView};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::stores::{open_btc, open_eth, open_tags, open_tags_for};
use crate::ApiState;

/// History rows per page when `limit` is not given.
const DEFAULT_HISTORY_LIMIT: usize = 25;
/// Cluster members per page when `limit` is not given.
const DEFAULT_CLUSTER_LIMIT: usize = 100;

/// The chains of `/v1/{chain}/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    Btc,
    Eth,
}

fn parse_chain(text: &str) -> Result<Chain, ApiError> {
    match text {
        "btc" => Ok(Chain::Btc),
        "eth" => Ok(Chain::Eth),
        other => Err(ApiError::bad_request("unknown_chain", "chain", format!("expected btc or eth, got {other:?}"))),
    }
}

/// Query parameters of an address page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressParams {
    limit: Option<String>,
    cursor: Option<String>,
    asset: Option<String>,
}

/// Query parameters of a cluster page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterParams {
    limit: Option<String>,
    cursor: Option<String>,
}

fn parse_limit(text: Option<&str>, default: usize) -> Result<usize, ApiError> {
    let Some(text) = text else { return Ok(default) };
    text.parse::<usize>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_limit",
            "limit",
            format!("expected a whole number from 1 to {MAX_PAGE}, got {text:?}"),
        )
    })
}

fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", "path", rejection.body_text())
}

fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", "query", rejection.body_text())
}

/// Runs store work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| ApiError::internal("a request handler", &err))?
}

/// The network the Bitcoin store indexes (mainnet when it does not say).
fn btc_network(store: &Store) -> Result<Network, ApiError> {
    Ok(query::status(store)?
        .network
        .as_deref()
        .and_then(|name| Network::from_core_arg(name).ok())
        .unwrap_or(Network::Bitcoin))
}

/// The current tags of `address`, none when no tag store exists yet.
fn direct_tags(data_dir: &FsPath, chain: TagChain, address: &str, network: Network) -> Result<Vec<TagView>, ApiError> {
    if !TagStore::path_in(data_dir).exists() {
        return Ok(Vec::new());
    }
    Ok(open_tags_for(data_dir, network)?.tags_for(&chain, address)?)
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", security(), tag = "service",
    responses((status = 200, description = "The process is up", body = serde_json::Value)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /v1/status`.
#[utoipa::path(get, path = "/v1/status", tag = "index",
    responses((status = 200, description = "Tips and counts of every store", body = serde_json::Value)))]
pub async fn status(State(state): State<ApiState>) -> Result<Json<crate::Status>, ApiError> {
    blocking(move || crate::status(&state.data_dir)).await.map(Json)
}

/// `GET /v1/{chain}/address/{address}?limit=&cursor=&asset=`: the summary,
/// one page of history newest first, and the address's current tags.
#[utoipa::path(get, path = "/v1/{chain}/address/{address}", tag = "index",
    params(
        ("chain" = String, Path, description = "btc or eth"),
        ("address" = String, Path, description = "The address"),
        ("limit" = Option<u32>, Query, description = "History rows per page, 1 to 10000 [default: 25]"),
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page"),
        ("asset" = Option<String>, Query, description = "eth: ETH or a token contract [default: ETH]"),
    ),
    responses(
        (status = 200, description = "Summary, one page of history and tags", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 404, description = "Not indexed or unknown", body = ErrorBody),
    ))]
pub async fn address(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((chain, address)) = path.map_err(path_error)?;
    let Query(params) = params.map_err(query_error)?;
    let chain = parse_chain(&chain)?;
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_HISTORY_LIMIT)?;
    let cursor = params.cursor;
    blocking(move || match chain {
        Chain::Btc => {
            if let Some(asset) = params.asset {
                return Err(ApiError::bad_request(
                    "invalid_asset",
                    "asset",
                    format!("btc has one asset, got {asset:?}"),
                ));
            }
            let store = open_btc(&state.data_dir)?;
            let network = btc_network(&store)?;
            let summary = query::address_summary(&store, &address, network)?;
            let history = query::address_history(&store, &address, network, cursor.as_deref(), limit)?;
            let tags = direct_tags(&state.data_dir, TagChain::BTC, &summary.address, network)?;
            Ok(json!({ "summary": summary, "history": history, "tags": tags }))
        }
        Chain::Eth => {
            let store = open_eth(&state.data_dir)?;
            let eth = EthQuery::new(&store);
            let asset = params.asset.as_deref().unwrap_or("ETH");
            let history = eth.history(&address, asset, limit, cursor.as_deref())?;
            let summary = eth.address_summary(&address)?;
            let tags = direct_tags(&state.data_dir, TagChain::ETH, &history.address, Network::Bitcoin)?;
            Ok(json!({ "summary": summary, "history": history, "tags": tags }))
        }
    })
    .await
    .map(Json)
}

/// `GET /v1/{chain}/tx/{id}`: a Bitcoin transaction, or the transfers of an
/// Ethereum one.
#[utoipa::path(get, path = "/v1/{chain}/tx/{id}", tag = "index",
    params(("chain" = String, Path, description = "btc or eth"), ("id" = String, Path, description = "The txid or transaction hash")),
    responses(
        (status = 200, description = "The transaction", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 404, description = "Not indexed or unknown", body = ErrorBody),
    ))]
pub async fn tx(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((chain, id)) = path.map_err(path_error)?;
    let chain = parse_chain(&chain)?;
    blocking(move || match chain {
        Chain::Btc => {
            let store = open_btc(&state.data_dir)?;
            let network = btc_network(&store)?;
            Ok(json!(query::tx(&store, &id, network)?))
        }
        Chain::Eth => {
            let store = open_eth(&state.data_dir)?;
            match EthQuery::new(&store).tx_transfers(&id)? {
                Some(tx) => Ok(json!(tx)),
                None => {
                    Err(ApiError::not_found("unknown_tx", "id", format!("transaction {} is not indexed", id.trim())))
                }
            }
        }
    })
    .await
    .map(Json)
}

/// `GET /v1/btc/cluster/{id_or_address}?limit=&cursor=`: the cluster and one
/// page of its members.
#[utoipa::path(get, path = "/v1/{chain}/cluster/{query}", tag = "index",
    params(
        ("chain" = String, Path, description = "btc (clusters are kept for Bitcoin only)"),
        ("query" = String, Path, description = "A cluster id or a member address"),
        ("limit" = Option<u32>, Query, description = "Members per page, 1 to 10000 [default: 100]"),
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "The cluster and one page of members", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 404, description = "Not indexed or unknown", body = ErrorBody),
    ))]
pub async fn cluster(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<ClusterParams>, QueryRejection>,
) -> Result<Json<query::ClusterView>, ApiError> {
    let Path((chain, subject)) = path.map_err(path_error)?;
    let Query(params) = params.map_err(query_error)?;
    if parse_chain(&chain)? == Chain::Eth {
        return Err(ApiError::bad_request("unsupported_chain", "chain", "clusters are kept for btc only, not eth"));
    }
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_CLUSTER_LIMIT)?;
    blocking(move || {
        let store = open_btc(&state.data_dir)?;
        let network = btc_network(&store)?;
        Ok(query::cluster(&store, &subject, network, params.cursor.as_deref(), limit)?)
    })
    .await
    .map(Json)
}

/// `GET /v1/tags/sources`: every tag source, empty before the first import.
#[utoipa::path(get, path = "/v1/tags/sources", tag = "tags",
    responses((status = 200, description = "Every tag source with its versions", body = serde_json::Value)))]
pub async fn tag_sources(State(state): State<ApiState>) -> Result<Json<Vec<SourceInfo>>, ApiError> {
    blocking(move || {
        if !TagStore::path_in(&state.data_dir).exists() {
            return Ok(Vec::new());
        }
        Ok(open_tags(&state.data_dir)?.sources()?)
    })
    .await
    .map(Json)
}

/// `GET /v1/entities/{name}`: an entity's records and tags.
#[utoipa::path(get, path = "/v1/entities/{name}", tag = "tags",
    params(("name" = String, Path, description = "The entity's name")),
    responses(
        (status = 200, description = "The entity's records and tags", body = serde_json::Value),
        (status = 404, description = "No such entity", body = ErrorBody),
    ))]
pub async fn entity(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<chainsleuth_tags::EntityView>, ApiError> {
    let Path(name) = path.map_err(path_error)?;
    blocking(move || {
        open_tags(&state.data_dir)?
            .entity(&name)?
            .ok_or_else(|| ApiError::not_found("unknown_entity", "name", format!("no entity called {name:?}")))
    })
    .await
    .map(Json)
}

/// The routes of this module, each with its OpenAPI entry.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(tag_sources))
        .routes(routes!(entity))
        .routes(routes!(address))
        .routes(routes!(tx))
        .routes(routes!(cluster))
}

/// Any path without a route.
pub async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::not_found("unknown_route", "path", format!("no route {:?}", uri.path()))
}

/// A route asked with a method it does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "method: this route only answers GET".to_owned(),
    }
}
