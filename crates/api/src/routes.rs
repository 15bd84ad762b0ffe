//! The request handlers. Each opens the stores it reads read-only, on a
//! blocking thread, and answers with the serde views the query crates
//! return (the same JSON as the CLI's `--json`).

use std::path::Path as FsPath;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::Json;
use bitcoin::Network;
use chainsleuth_btc::index::{query, query::MAX_PAGE};
use chainsleuth_eth::EthQuery;
use chainsleuth_store::Store;
use chainsleuth_tags::{TagChain, TagStore, TagView};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::stores::{open_btc, open_eth, open_tags_for};
use crate::ApiState;

/// History rows per page when `limit` is not given.
const DEFAULT_HISTORY_LIMIT: usize = 25;
/// Cluster members per page when `limit` is not given.
const DEFAULT_CLUSTER_LIMIT: usize = 100;

/// The chains of `/v1/{chain}/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chain {
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

/// Query parameters of an address or history page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AddressParams {
    /// History rows per page, 1 to 10000 [default: 25].
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The history's `next_cursor` of an earlier page.
    cursor: Option<String>,
    /// eth: the history's asset, ETH or a token contract [default: ETH].
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

pub(crate) fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", "path", rejection.body_text())
}

pub(crate) fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", "query", rejection.body_text())
}

/// Runs store work on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| ApiError::internal("a request handler", &err))?
}

/// The network the Bitcoin store indexes (mainnet when it does not say).
pub(crate) fn btc_network(store: &Store) -> Result<Network, ApiError> {
    Ok(query::status(store)?
        .network
        .as_deref()
        .and_then(|name| Network::from_core_arg(name).ok())
        .unwrap_or(Network::Bitcoin))
}

/// The current tags of `address`, none when no tag store exists yet.
pub(crate) fn direct_tags(
    data_dir: &FsPath,
    chain: TagChain,
    address: &str,
    network: Network,
) -> Result<Vec<TagView>, ApiError> {
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
    responses((status = 200, description = "Tips and counts of every store; in `chainsleuth serve`, `workers`: \
each chain worker's indexed tip, node tip, lag, blocks/s and last error", body = serde_json::Value)))]
pub async fn status(State(state): State<ApiState>) -> Result<Json<crate::Status>, ApiError> {
    let workers = state.workers.snapshot();
    blocking(move || Ok(crate::Status { workers, ..crate::status(&state.data_dir)? })).await.map(Json)
}

/// The limit, cursor and asset of an address or history page, checked.
pub(crate) struct PageQuery {
    pub(crate) limit: usize,
    pub(crate) cursor: Option<String>,
    pub(crate) asset: Option<String>,
}

impl PageQuery {
    /// The chain, the address and the page query of an address or history request.
    fn from_request(
        path: Result<Path<(String, String)>, PathRejection>,
        params: Result<Query<AddressParams>, QueryRejection>,
    ) -> Result<(Chain, String, PageQuery), ApiError> {
        let Path((chain, address)) = path.map_err(path_error)?;
        let Query(params) = params.map_err(query_error)?;
        let chain = parse_chain(&chain)?;
        Ok((chain, address, PageQuery::parse(chain, params)?))
    }

    fn parse(chain: Chain, params: AddressParams) -> Result<PageQuery, ApiError> {
        let limit = parse_limit(params.limit.as_deref(), DEFAULT_HISTORY_LIMIT)?;
        if let (Chain::Btc, Some(asset)) = (chain, &params.asset) {
            return Err(ApiError::bad_request("invalid_asset", "asset", format!("btc has one asset, got {asset:?}")));
        }
        Ok(PageQuery { limit, cursor: params.cursor, asset: params.asset })
    }

    /// The Ethereum asset asked for: ETH unless `asset` names a token.
    fn eth_asset(&self) -> &str {
        self.asset.as_deref().unwrap_or("ETH")
    }
}

/// The address page: the summary (eth: the balance of every asset the
/// address touched), the first page of history (or the page at `cursor`),
/// the address's own tags with provenance, the tag it inherits (btc:
/// through its cluster; eth: as an exchange's deposit address) and, for
/// btc, its cluster. All but the cluster is the CLI's `address --json`.
pub(crate) fn address_page(state: &ApiState, chain: Chain, address: &str, page: &PageQuery) -> Result<Value, ApiError> {
    let data_dir = state.data_dir.as_path();
    let inferred_error = |err: chainsleuth_case::CaseError| ApiError::internal("reading inferred tags", &err);
    match chain {
        Chain::Btc => {
            let store = open_btc(data_dir)?;
            let network = btc_network(&store)?;
            let summary = query::address_summary(&store, address, network)?;
            let history = query::address_history(&store, address, network, page.cursor.as_deref(), page.limit)?;
            let tags = direct_tags(data_dir, TagChain::BTC, &summary.address, network)?;
            let inferred = chainsleuth_case::inferred_btc(data_dir, &state.case, &store, &summary.address)
                .map_err(inferred_error)?;
            let cluster = query::cluster_of(&store, &summary.address, network)?;
            Ok(json!({
                "summary": summary, "history": history, "tags": tags, "inferred_tag": inferred, "cluster": cluster
            }))
        }
        Chain::Eth => {
            let store = open_eth(data_dir)?;
            let eth = EthQuery::new(&store);
            let history = eth.history(address, page.eth_asset(), page.limit, page.cursor.as_deref())?;
            let summary = eth.address_summary(address)?;
            let tags = direct_tags(data_dir, TagChain::ETH, &history.address, Network::Bitcoin)?;
            let inferred = chainsleuth_case::inferred_eth(data_dir, &state.case, &store, address, page.eth_asset())
                .map_err(inferred_error)?;
            Ok(json!({ "summary": summary, "history": history, "tags": tags, "inferred_tag": inferred }))
        }
    }
}

/// One page of an address's history, newest first.
fn history_page(data_dir: &FsPath, chain: Chain, address: &str, page: &PageQuery) -> Result<Value, ApiError> {
    match chain {
        Chain::Btc => {
            let store = open_btc(data_dir)?;
            let network = btc_network(&store)?;
            Ok(json!(query::address_history(&store, address, network, page.cursor.as_deref(), page.limit)?))
        }
        Chain::Eth => {
            let store = open_eth(data_dir)?;
            let eth = EthQuery::new(&store);
            Ok(json!(eth.history(address, page.eth_asset(), page.limit, page.cursor.as_deref())?))
        }
    }
}

/// `GET /v1/{chain}/address/{address}?limit=&cursor=&asset=`: the address
/// page. It carries the first page of history so that one request draws an
/// address; `/history` pages on without the summary and tags.
#[utoipa::path(get, path = "/v1/{chain}/address/{address}", tag = "index",
    params(
        ("chain" = String, Path, description = "btc or eth"),
        ("address" = String, Path, description = "The address"),
        AddressParams,
    ),
    responses(
        (status = 200, description = "`summary` (btc: balance, received, sent, tx_count, first_seen, last_seen; eth: \
`assets`, the balance, received, sent and transfer count of every asset the address touched, `null` for an \
address never seen), `history` (as /history answers), `tags` (the address's own current tags, each with its \
source, version, file, line and import time), `inferred_tag` (the label it inherits, with the rule and the \
evidence: btc through a tagged member of its cluster, eth as an exchange's deposit address; `null` for none), and \
for btc `cluster` (`{id, size}`, `null` for an address never seen)", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 404, description = "Not indexed", body = ErrorBody),
    ))]
pub async fn address(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (chain, address, page) = PageQuery::from_request(path, params)?;
    blocking(move || address_page(&state, chain, &address, &page)).await.map(Json)
}

/// `GET /v1/{chain}/address/{address}/history?limit=&cursor=&asset=`: one
/// page of history, newest first. The cursor is the position of the next
/// older row, so blocks indexed between two pages never shift a page: a
/// client that follows `next_cursor` from its first page gets every row of
/// that first snapshot exactly once.
#[utoipa::path(get, path = "/v1/{chain}/address/{address}/history", tag = "index",
    params(
        ("chain" = String, Path, description = "btc or eth"),
        ("address" = String, Path, description = "The address"),
        AddressParams,
    ),
    responses(
        (status = 200, description = "btc: `{address, rows: [{height, txid, position, received, sent}], \
next_cursor}`; eth: `{address, asset, symbol, decimals, entries: [{block, tx_index, tx_hash, kind, direction, \
counterparty, amount, balance_after}], next_cursor}` (amounts as decimal strings); `next_cursor` is `null` on \
the last page", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 404, description = "Not indexed", body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (chain, address, page) = PageQuery::from_request(path, params)?;
    blocking(move || history_page(&state.data_dir, chain, &address, &page)).await.map(Json)
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

/// `GET /v1/btc/cluster/{id_or_address}?limit=&cursor=`: the cluster, one
/// page of its members, the label the cluster carries and the members of
/// the page that have a tag of their own (the CLI's `cluster btc --json`).
#[utoipa::path(get, path = "/v1/{chain}/cluster/{query}", tag = "index",
    params(
        ("chain" = String, Path, description = "btc (clusters are kept for Bitcoin only)"),
        ("query" = String, Path, description = "A cluster id or a member address"),
        ("limit" = Option<u32>, Query, description = "Members per page, 1 to 10000 [default: 100]"),
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "`cluster` (`{id, size, members: [{address, linked_by}], next_cursor, \
aliases, clustered_height}`), `label` (the label its members inherit, from its first tagged member, or `null`) \
and `tagged_members` (`[{address, tag}]`, the members of this page with a tag of their own)",
            body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 404, description = "Not indexed or unknown", body = ErrorBody),
    ))]
pub async fn cluster(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<ClusterParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((chain, subject)) = path.map_err(path_error)?;
    let Query(params) = params.map_err(query_error)?;
    if parse_chain(&chain)? == Chain::Eth {
        return Err(ApiError::bad_request("unsupported_chain", "chain", "clusters are kept for btc only, not eth"));
    }
    let limit = parse_limit(params.limit.as_deref(), DEFAULT_CLUSTER_LIMIT)?;
    blocking(move || {
        let store = open_btc(&state.data_dir)?;
        let network = btc_network(&store)?;
        let view = query::cluster(&store, &subject, network, params.cursor.as_deref(), limit)?;
        let members: Vec<String> = view.members.iter().map(|m| m.address.clone()).collect();
        let (tagged, label) = chainsleuth_case::cluster_labels(&state.data_dir, &state.case, &store, &members)
            .map_err(|err| ApiError::internal("reading the cluster's tags", &err))?;
        let tagged: Vec<Value> =
            tagged.iter().map(|(address, label)| json!({ "address": address, "tag": label })).collect();
        Ok(json!({ "cluster": view, "label": label, "tagged_members": tagged }))
    })
    .await
    .map(Json)
}

/// The routes of this module, each with its OpenAPI entry.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(address))
        .routes(routes!(history))
        .routes(routes!(tx))
        .routes(routes!(cluster))
}

/// Any path without a route.
pub async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::not_found("unknown_route", "path", format!("no route {:?}", uri.path()))
}

/// A route asked with a method it does not take.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: format!("method: {:?} does not take {method} (see /v1/openapi.json)", uri.path()),
    }
}
