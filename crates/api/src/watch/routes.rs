//! `/v1/watchlist` (admin writes, read listing) and `/v1/alerts`. Listings
//! never show a webhook's secret: the POST that creates a hook answers it
//! once, and only the store keeps it (to sign with).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use bitcoin::Network;
use chainsleuth_btc::index::{self, AddrKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{Delivery, DeliveryKey, Secret, WatchItem, Webhook};
use super::{scan, Alert, WatchChain, WatchError};
use crate::error::{ApiError, ErrorBody};
use crate::{ApiState, Caller, Role};

/// The longest note kept, in characters.
const MAX_NOTE: usize = 1000;
/// The longest webhook URL, in bytes.
const MAX_URL: usize = 2000;
/// Alerts per page when `limit` is not given, and the most.
const DEFAULT_ALERTS: usize = 100;
const MAX_ALERTS: usize = 1000;
/// Random bytes in a webhook secret (256 bits; shown as 64 hex digits).
const SECRET_BYTES: usize = 32;

/// The body of `POST /v1/watchlist`: `address` or (btc) `cluster`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWatch {
    /// `btc` or `eth`.
    chain: String,
    /// The address to watch.
    address: Option<String>,
    /// btc: a cluster id (decimal) or a member address; the cluster is
    /// followed as it grows and merges.
    cluster: Option<String>,
    /// Free text for the analyst (at most 1000 characters).
    note: Option<String>,
    /// Where to POST its alerts.
    webhook: Option<NewWebhook>,
}

/// A webhook to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// An http or https URL.
    url: String,
}

/// Query parameters of `GET /v1/alerts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    cursor: Option<String>,
    limit: Option<String>,
}

/// A watch item as listed: the hook's URL, never its secret.
#[derive(Debug, Serialize)]
struct WatchView {
    id: u64,
    chain: WatchChain,
    address: Option<String>,
    cluster: Option<String>,
    note: String,
    webhook: Option<Value>,
    created_at: u64,
}

impl From<WatchItem> for WatchView {
    fn from(item: WatchItem) -> WatchView {
        WatchView {
            id: item.id,
            chain: item.chain,
            address: item.address,
            cluster: item.cluster,
            note: item.note,
            webhook: item.webhook.map(|hook| json!({ "url": hook.url })),
            created_at: item.created_at,
        }
    }
}

fn store_error(err: WatchError) -> ApiError {
    ApiError::internal("the watch store", &err)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| ApiError::internal("a watchlist handler", &err))?
}

fn invalid(code: &'static str, field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(code, field, why)
}

/// The network of the Bitcoin store, mainnet before one exists.
fn btc_network(state: &ApiState) -> Result<Network, ApiError> {
    if !index::store_path(&state.data_dir).exists() {
        return Ok(Network::Bitcoin);
    }
    let store = index::open_read_only(&state.data_dir)?;
    Ok(scan::btc_network(&store)?)
}

/// `text` as a Bitcoin address of `network`, in canonical form.
fn btc_address(field: &str, text: &str, network: Network) -> Result<String, ApiError> {
    AddrKey::parse(text.trim(), network)
        .map(|key| key.to_text(network))
        .map_err(|reason| invalid("invalid_address", field, format!("{text:?} is not a {network} address: {reason}")))
}

fn webhook_url(text: &str) -> Result<String, ApiError> {
    let field = "webhook.url";
    if text.len() > MAX_URL {
        return Err(invalid("invalid_url", field, format!("at most {MAX_URL} bytes")));
    }
    let url =
        reqwest::Url::parse(text.trim()).map_err(|err| invalid("invalid_url", field, format!("not a URL ({err})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "invalid_url",
            field,
            format!("expected an http or https URL, got scheme {:?}", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("invalid_url", field, "the URL has no host"));
    }
    Ok(url.to_string())
}

fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Checks `new` and turns it into an item (id not yet given).
fn validate(state: &ApiState, new: NewWatch) -> Result<(WatchItem, Option<String>), ApiError> {
    let chain = match new.chain.as_str() {
        "btc" => WatchChain::Btc,
        "eth" => WatchChain::Eth,
        other => return Err(invalid("unknown_chain", "chain", format!("expected btc or eth, got {other:?}"))),
    };
    let note = new.note.unwrap_or_default();
    if note.chars().count() > MAX_NOTE {
        return Err(invalid("invalid_note", "note", format!("at most {MAX_NOTE} characters")));
    }
    let (address, cluster) = match (chain, new.address, new.cluster) {
        (_, Some(_), Some(_)) => {
            return Err(invalid("invalid_watch", "address", "give an address or a cluster, not both"));
        }
        (_, None, None) => return Err(invalid("invalid_watch", "address", "give an address or a cluster")),
        (WatchChain::Eth, _, Some(_)) => {
            return Err(invalid("unsupported_chain", "cluster", "clusters are kept for btc only, not eth"));
        }
        (WatchChain::Eth, Some(address), None) => {
            let parsed = chainsleuth_eth::parse_address(&address).map_err(|_| {
                invalid("invalid_address", "address", format!("expected 0x and 40 hex digits, got {address:?}"))
            })?;
            (Some(parsed.to_checksum(None)), None)
        }
        (WatchChain::Btc, Some(address), None) => (Some(btc_address("address", &address, btc_network(state)?)?), None),
        (WatchChain::Btc, None, Some(cluster)) => {
            let text = cluster.trim();
            let cluster = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                text.parse::<u64>()
                    .map_err(|_| invalid("invalid_cluster", "cluster", format!("cluster id {text} is too large")))?
                    .to_string()
            } else {
                btc_address("cluster", text, btc_network(state)?)?
            };
            (None, Some(cluster))
        }
    };
    let (webhook, secret) = match new.webhook {
        None => (None, None),
        Some(hook) => {
            let secret = new_secret();
            (Some(Webhook { url: webhook_url(&hook.url)?, secret: Secret(secret.clone()) }), Some(secret))
        }
    };
    let created_at = super::store::now_ms() / 1000;
    Ok((WatchItem { id: 0, chain, address, cluster, note, webhook, created_at }, secret))
}

/// `POST /v1/watchlist`: watch an address or a Bitcoin cluster.
#[utoipa::path(post, path = "/v1/watchlist", tag = "watchlist", security(("bearer" = ["admin"])),
    request_body = NewWatch,
    responses(
        (status = 201, description = "The item; with a webhook, its `secret`, shown this once", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 403, description = "The token is not admin", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewWatch>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let Json(new) = body.map_err(|rejection| invalid("invalid_body", "body", rejection.body_text()))?;
    blocking(move || {
        let (item, secret) = validate(&state, new)?;
        let item = state.watch.store().and_then(|store| Ok(store.add_item(item)?)).map_err(store_error)?;
        let mut view = json!(WatchView::from(item));
        if let Some(secret) = secret {
            view["secret"] = json!(secret);
        }
        Ok((StatusCode::CREATED, Json(view)))
    })
    .await
}

/// `GET /v1/watchlist`: every watch item.
#[utoipa::path(get, path = "/v1/watchlist", tag = "watchlist",
    responses((status = 200, description = "Every watch item (webhook URLs, never their secrets)", body = serde_json::Value)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let items = state.watch.store().and_then(|store| Ok(store.items()?)).map_err(store_error)?;
        let items: Vec<WatchView> = items.into_iter().map(WatchView::from).collect();
        Ok(Json(json!({ "items": items })))
    })
    .await
}

/// `DELETE /v1/watchlist/{id}`: stop watching; its alerts stay, its
/// pending deliveries are given up.
#[utoipa::path(delete, path = "/v1/watchlist/{id}", tag = "watchlist", security(("bearer" = ["admin"])),
    params(("id" = u64, Path, description = "The watch item's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 403, description = "The token is not admin", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let Path(id) = path.map_err(|rejection| invalid("invalid_path", "path", rejection.body_text()))?;
    let id: u64 =
        id.parse().map_err(|_| invalid("invalid_id", "id", format!("expected a watch item id, got {id:?}")))?;
    blocking(move || {
        let removed = state.watch.store().and_then(|store| Ok(store.remove_item(id)?)).map_err(store_error)?;
        if removed {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found("unknown_watch", "id", format!("no watch item {id}")))
        }
    })
    .await
}

fn delivery_view((key, delivery): (DeliveryKey, Delivery)) -> Value {
    json!({
        "watch_id": key.watch,
        "event": key.event,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_try_ms": delivery.next_try_ms,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
    })
}

/// `GET /v1/alerts?cursor=&limit=`: alerts oldest first, each with its
/// webhook deliveries.
#[utoipa::path(get, path = "/v1/alerts", tag = "watchlist",
    params(
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page, or an alert id to start from (inclusive); alert ids grow as alerts are stored, so polling with the last id + 1 returns only new ones"),
        ("limit" = Option<u32>, Query, description = "Alerts per page, 1 to 1000 [default: 100]"),
    ),
    responses(
        (status = 200, description = "One page of alerts, oldest first, and next_cursor while more follow", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
    ))]
pub async fn alerts(
    State(state): State<ApiState>,
    params: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|rejection| invalid("invalid_query", "query", rejection.body_text()))?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_ALERTS,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_ALERTS).contains(n)).ok_or_else(|| {
            invalid("invalid_limit", "limit", format!("expected a whole number from 1 to {MAX_ALERTS}, got {text:?}"))
        })?,
    };
    let from = match params.cursor.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| invalid("invalid_cursor", "cursor", format!("expected an alert id, got {text:?}")))?,
    };
    blocking(move || {
        let (page, next) = state.watch.store().and_then(|store| Ok(store.alerts(from, limit)?)).map_err(store_error)?;
        let alerts: Vec<Value> = page
            .into_iter()
            .map(|(alert, deliveries): (Alert, _)| {
                let mut view = json!(alert);
                view["deliveries"] = deliveries.into_iter().map(delivery_view).collect();
                view
            })
            .collect();
        Ok(Json(json!({ "alerts": alerts, "next_cursor": next.map(|id| id.to_string()) })))
    })
    .await
}

/// The routes of the watchlist, each with its OpenAPI entry.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(delete)).routes(routes!(alerts))
}
