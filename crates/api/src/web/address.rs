//! The address pages: summary, balances, tags with their provenance, one
//! page of history with links to the pages before and after it, and (for
//! Bitcoin) the cluster the address belongs to. The figures are the JSON
//! API's own page for the address ([`crate::routes::address_page`]), drawn.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chainsleuth_core::Sats;
use chainsleuth_tags::TagView;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, or_dash, Trail};
use super::WebError;
use crate::error::ApiError;
use crate::routes::{address_page, blocking, path_error, query_error, Chain, PageQuery};
use crate::ApiState;

/// History rows on one page.
const HISTORY_ROWS: usize = 25;

/// Query parameters of an address page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AddressParams {
    cursor: Option<String>,
    trail: Option<String>,
    asset: Option<String>,
}

/// A JSON scalar as text: strings as they are, numbers in decimal, a dash
/// for null or absent.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "–".to_owned(),
        other => other.to_string(),
    }
}

/// A satoshi amount as BTC with eight decimals.
pub(super) fn btc_amount(value: &Value) -> String {
    value.as_u64().map_or_else(|| text(value), |sat| Sats(sat).to_string())
}

/// The tags of an address: who the sources say is behind it, and where
/// each statement came from (source, version, file and record; the rule and
/// evidence of an inferred one). `tags` is the page's `tags`, as the tag
/// store's views.
fn tags_table(tags: &Value) -> Result<Markup, WebError> {
    let tags: Vec<TagView> =
        serde_json::from_value(tags.clone()).map_err(|err| ApiError::internal("reading the address's tags", &err))?;
    Ok(html! {
        h2 { "Tags" }
        @if tags.is_empty() {
            p.muted { "No source tags this address." }
        } @else {
            table.tags {
                thead { tr { th { "Entity" } th { "Category" } th { "Label" } th { "Confidence" } th { "How" } th { "Provenance" } } }
                tbody {
                    @for view in &tags {
                        @let (tag, provenance) = (&view.record.tag, &view.record.provenance);
                        tr {
                            td.entity { (or_dash(tag.entity.as_deref())) }
                            td { span.tag { (tag.category) } }
                            td { (or_dash(tag.label.as_deref())) }
                            td { (tag.confidence) }
                            td {
                                @if let Some(rule) = &provenance.rule {
                                    "inferred: " (rule)
                                    @if let Some(evidence) = &provenance.evidence { br; span.mono { (evidence) } }
                                } @else { "direct" }
                            }
                            td {
                                (view.source) " v" (provenance.version) ", " span.mono { (provenance.file) } " record " (provenance.record)
                                @if let Some(retired) = &view.record.retired { br; span.muted { "retired in v" (retired.version) } }
                                @if let Some(reference) = &tag.reference { br; span.mono { (reference) } }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The address page of `chain` as the API answers it, for the page's
/// `cursor` and `asset`.
async fn fetch(
    state: ApiState,
    chain: Chain,
    address: String,
    trail: &Trail,
    asset: Option<String>,
) -> Result<Value, WebError> {
    let page = PageQuery { limit: HISTORY_ROWS, cursor: trail.cursor().map(str::to_owned), asset };
    Ok(blocking(move || address_page(&state, chain, &address, &page)).await?)
}

/// `GET /btc/address/{address}?cursor=&trail=`.
pub(super) async fn btc(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<Markup, WebError> {
    let Path(address) = path.map_err(path_error)?;
    let Query(params) = params.map_err(query_error)?;
    let trail = Trail::new(params.cursor, params.trail.as_deref());
    let page = fetch(state, Chain::Btc, address, &trail, None).await?;
    let (summary, history, cluster) = (&page["summary"], &page["history"], &page["cluster"]);
    let address = text(&summary["address"]);
    let here = format!("/btc/address/{address}");
    let tags = tags_table(&page["tags"])?;
    let body = html! {
        h1 { "Bitcoin address " span.mono #address { (address) } }
        dl.facts #summary {
            dt { "Balance" } dd #balance data-sat=(text(&summary["balance"])) { (btc_amount(&summary["balance"])) " (" (text(&summary["balance"])) " sat)" }
            dt { "Received" } dd #received { (btc_amount(&summary["received"])) }
            dt { "Sent" } dd #sent { (btc_amount(&summary["sent"])) }
            dt { "Transactions" } dd #tx-count { (text(&summary["tx_count"])) }
            dt { "First seen" } dd { "block " (text(&summary["first_seen"])) }
            dt { "Last seen" } dd { "block " (text(&summary["last_seen"])) }
            dt { "Cluster" } dd #cluster {
                @if cluster.is_null() { "–" } @else {
                    a href={ "/btc/cluster/" (text(&cluster["id"])) } { "cluster " (text(&cluster["id"])) }
                    " (" (text(&cluster["size"])) " address" @if cluster["size"] != 1 { "es" } ")"
                }
            }
        }
        (tags)
        h2 { "History" }
        @let rows = history["rows"].as_array().map(Vec::as_slice).unwrap_or_default();
        @if rows.is_empty() {
            p.muted { "No transactions on this page." }
        } @else {
            table #history {
                thead { tr { th.num { "Block" } th.num { "Pos" } th { "Transaction" } th.num { "Received" } th.num { "Sent" } } }
                tbody {
                    @for row in rows {
                        tr {
                            td.num { (text(&row["height"])) } td.num { (text(&row["position"])) }
                            td { (layout::tx_link("btc", &text(&row["txid"]))) }
                            td.num { (btc_amount(&row["received"])) } td.num { (btc_amount(&row["sent"])) }
                        }
                    }
                }
            }
        }
        (trail.pager(&here, &[], history["next_cursor"].as_str()))
        p.no-print { a href=(layout::href("/trace", &[("seeds", &address)])) { "Trace from this address" } }
    };
    Ok(layout::page(&format!("Address {address}"), body))
}

/// `GET /eth/address/{address}?asset=&cursor=&trail=`.
pub(super) async fn eth(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<Markup, WebError> {
    let Path(address) = path.map_err(path_error)?;
    let Query(params) = params.map_err(query_error)?;
    let trail = Trail::new(params.cursor, params.trail.as_deref());
    let asset = params.asset.filter(|asset| !asset.is_empty());
    let page = fetch(state, Chain::Eth, address, &trail, asset.clone()).await?;
    let (summary, history) = (&page["summary"], &page["history"]);
    if summary.is_null() {
        let address = text(&history["address"]);
        return Err(
            ApiError::not_found("unknown_address", "address", format!("{address} is not in the eth index")).into()
        );
    }
    let address = text(&summary["address"]);
    let here = format!("/eth/address/{address}");
    let tags = tags_table(&page["tags"])?;
    let asset_name = history["symbol"].as_str().map_or_else(|| text(&history["asset"]), str::to_owned);
    let balances = summary["assets"].as_array().map(Vec::as_slice).unwrap_or_default();
    let entries = history["entries"].as_array().map(Vec::as_slice).unwrap_or_default();
    let body = html! {
        h1 { "Ethereum address " span.mono #address { (address) } }
        h2 { "Balances" }
        table #balances {
            thead { tr { th { "Asset" } th.num { "Balance" } th.num { "Received" } th.num { "Sent" } th.num { "Transfers" } th.num { "Blocks" } } }
            tbody {
                @for balance in balances {
                    tr {
                        td {
                            a href=(layout::href(&here, &[("asset", &text(&balance["asset"]))])) {
                                (balance["symbol"].as_str().map_or_else(|| text(&balance["asset"]), str::to_owned))
                            }
                        }
                        td.num.balance { (text(&balance["balance"])) } td.num { (text(&balance["received"])) }
                        td.num { (text(&balance["sent"])) } td.num { (text(&balance["transfers"])) }
                        td.num { (text(&balance["first_block"])) "–" (text(&balance["last_block"])) }
                    }
                }
            }
        }
        (tags)
        h2 { "History of " (asset_name) }
        @if entries.is_empty() {
            p.muted { "No transfers on this page." }
        } @else {
            table #history {
                thead { tr { th.num { "Block" } th { "Transaction" } th { "Kind" } th { "Direction" } th { "Counterparty" } th.num { "Amount" } th.num { "Balance after" } } }
                tbody {
                    @for entry in entries {
                        tr {
                            td.num { (text(&entry["block"])) }
                            td { @if let Some(hash) = entry["tx_hash"].as_str() { (layout::tx_link("eth", hash)) } @else { "–" } }
                            td { (text(&entry["kind"])) } td { (text(&entry["direction"])) }
                            td { @if let Some(other) = entry["counterparty"].as_str() { (layout::address_link("eth", other)) } @else { "–" } }
                            td.num { (text(&entry["amount"])) } td.num { (text(&entry["balance_after"])) }
                        }
                    }
                }
            }
        }
        (trail.pager(&here, &[("asset", asset.as_deref().unwrap_or_default())], history["next_cursor"].as_str()))
        p.no-print { a href=(layout::href("/trace", &[("seeds", &address)])) { "Trace from this address" } }
    };
    Ok(layout::page(&format!("Address {address}"), body))
}
