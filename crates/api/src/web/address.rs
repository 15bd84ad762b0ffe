//! The address pages: summary, balances, tags with their provenance, one
//! page of history with links to the pages before and after it, and (for
//! Bitcoin) the cluster the address belongs to. The figures are the JSON
//! API's own page for the address ([`crate::routes::address_page`]), drawn.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chainsleuth_case::ExposureRequest;
use chainsleuth_tags::TagView;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::layout::{self, amount_in, btc_amount, or_dash, share, text, Trail, Units};
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
    /// `received` or `sent`: show the exposure of that side.
    exposure: Option<String>,
    /// The exposure's model [default: haircut].
    model: Option<String>,
    /// The exposure's hop limit [default: 3].
    hops: Option<String>,
}

/// The exposure's hop limit when the form does not say.
const EXPOSURE_HOPS: u32 = 3;

/// The exposure the page's parameters ask for, if any: of what `address`
/// received (or sent), the share that came from (went to) each tagged
/// category and entity, by the same computation as `GET
/// /v1/{chain}/exposure/{address}`.
async fn exposure(
    state: &ApiState,
    chain: &str,
    address: &str,
    params: &AddressParams,
) -> Result<Option<Value>, WebError> {
    let Some(direction) = params.exposure.as_deref().filter(|d| !d.is_empty()) else { return Ok(None) };
    let hops = match params.hops.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        None => EXPOSURE_HOPS,
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request("invalid_parameter", "hops", format!("expected a whole number, got {text:?}"))
        })?,
    };
    let request = json!({
        "chain": chain, "address": address, "direction": direction, "max_hops": hops,
        "model": params.model.as_deref().filter(|m| !m.is_empty()).unwrap_or("haircut"), "asset": params.asset,
    });
    let request: ExposureRequest =
        serde_json::from_value(request).map_err(|err| ApiError::bad_request("invalid_parameter", "exposure", err))?;
    let state = state.clone();
    let report = blocking(move || {
        let budget = state.jobs.settings().budget();
        Ok(chainsleuth_case::run_exposure(&state.data_dir, &state.case, &request, &budget)?)
    })
    .await?;
    Ok(Some(serde_json::to_value(report).map_err(|err| ApiError::internal("drawing the exposure", &err))?))
}

/// The exposure section: the form that asks for one and, when asked, a bar
/// per tagged category and entity and one for the untagged rest.
fn exposure_section(here: &str, params: &AddressParams, report: Option<&Value>) -> Markup {
    let direction = params.exposure.as_deref().unwrap_or("received");
    let model = params.model.as_deref().filter(|m| !m.is_empty()).unwrap_or("haircut");
    let hops = params.hops.clone().unwrap_or_else(|| EXPOSURE_HOPS.to_string());
    html! {
        h2 { "Exposure" }
        form.search.no-print method="get" action=(here) {
            @if let Some(asset) = &params.asset { input type="hidden" name="asset" value=(asset); }
            select name="exposure" aria-label="Side" {
                option value="received" selected[direction == "received"] { "where its funds came from" }
                option value="sent" selected[direction == "sent"] { "where its funds went" }
            }
            select name="model" aria-label="Model" {
                @for option in ["haircut", "poison", "fifo", "lifo"] { option value=(option) selected[model == option] { (option) } }
            }
            label { "hops " input type="number" name="hops" value=(hops) min="1" max="1000" size="4"; }
            button type="submit" { "Show exposure" }
        }
        @if let Some(report) = report {
            @let exposure = &report["exposure"];
            @let units = Units::of_report(report);
            @let rows = exposure["rows"].as_array().map(Vec::as_slice).unwrap_or_default();
            p #exposure-total { (text(&report["direction"])) " within " (text(&report["max_hops"])) " hops, " (text(&exposure["model"])) ": " (units.amount(&exposure["total"])) }
            div.bars #exposure {
                @for row in rows {
                    @let (width, percent) = share(&row["total"], &exposure["total"]);
                    span { (text(&row["entity"])) " " span.tag { (text(&row["category"])) } }
                    span.bar title=(percent) { span style=(width) {} }
                    span.num { (units.amount(&row["total"])) " · " (percent) }
                }
                @let (width, percent) = share(&exposure["untagged"], &exposure["total"]);
                span.muted { "untagged" }
                span.bar title=(percent) { span style=(width) {} }
                span.num { (units.amount(&exposure["untagged"])) " · " (percent) }
            }
        } @else {
            p.muted { "Not computed yet: it traces the address's funds, so it is asked for above." }
        }
    }
}

/// The tags of an address: who the sources say is behind it, and where
/// each statement came from (source, version, file and record; the rule and
/// evidence of an inferred one). `tags` is the page's `tags`, as the tag
/// store's views; `inferred` its `inferred_tag`, the label the address
/// inherits (from its cluster, or as an exchange's deposit address).
fn tags_table(tags: &Value, inferred: &Value) -> Result<Markup, WebError> {
    let tags: Vec<TagView> =
        serde_json::from_value(tags.clone()).map_err(|err| ApiError::internal("reading the address's tags", &err))?;
    Ok(html! {
        h2 { "Tags" }
        @if tags.is_empty() && inferred.is_null() {
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
                    @if !inferred.is_null() {
                        tr.inferred {
                            td.entity { (text(&inferred["entity"])) }
                            td { span.tag { (text(&inferred["category"])) } }
                            td { "–" }
                            td { "–" }
                            td { "inferred: " (text(&inferred["inferred"]["rule"])) " via " span.mono { (text(&inferred["inferred"]["via"])) } }
                            td { "evidence " span.mono { (text(&inferred["inferred"]["evidence"])) } }
                        }
                    }
                }
            }
        }
    })
}

/// An address page request: its parameters, its place in the history, and
/// the API's page for it.
struct PageRequest {
    params: AddressParams,
    trail: Trail,
    page: Value,
}

/// Reads an address page request and fetches the address page of `chain`
/// as the API answers it, for the request's `cursor` and `asset`.
async fn fetch(
    state: &ApiState,
    chain: Chain,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<PageRequest, WebError> {
    let Path(address) = path.map_err(path_error)?;
    let Query(params) = params.map_err(query_error)?;
    let trail = Trail::new(params.cursor.clone(), params.trail.as_deref());
    let asset = params.asset.clone().filter(|asset| !asset.is_empty());
    let query = PageQuery { limit: HISTORY_ROWS, cursor: trail.cursor().map(str::to_owned), asset };
    let state = state.clone();
    let page = blocking(move || address_page(&state, chain, &address, &query)).await?;
    Ok(PageRequest { params, trail, page })
}

/// `GET /btc/address/{address}?cursor=&trail=`.
pub(super) async fn btc(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<Markup, WebError> {
    let PageRequest { params, trail, page } = fetch(&state, Chain::Btc, path, params).await?;
    let (summary, history, cluster) = (&page["summary"], &page["history"], &page["cluster"]);
    let address = text(&summary["address"]);
    let here = format!("/btc/address/{address}");
    let tags = tags_table(&page["tags"], &page["inferred_tag"])?;
    let exposure = exposure_section(&here, &params, exposure(&state, "btc", &address, &params).await?.as_ref());
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
        (exposure)
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

/// The units of the Ethereum asset `of` names (an address page's balance
/// row or history: `asset`, `symbol`, `decimals`).
fn eth_units(of: &Value) -> Option<Units> {
    let decimals = of["decimals"].as_u64().and_then(|d| u8::try_from(d).ok());
    Units::of_eth_asset(&text(&of["asset"]), of["symbol"].as_str(), decimals)
}

/// `GET /eth/address/{address}?asset=&cursor=&trail=`.
pub(super) async fn eth(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<AddressParams>, QueryRejection>,
) -> Result<Markup, WebError> {
    let PageRequest { params, trail, page } = fetch(&state, Chain::Eth, path, params).await?;
    let asset = params.asset.as_deref().unwrap_or_default();
    let (summary, history) = (&page["summary"], &page["history"]);
    if summary.is_null() {
        let address = text(&history["address"]);
        return Err(
            ApiError::not_found("unknown_address", "address", format!("{address} is not in the eth index")).into()
        );
    }
    let address = text(&summary["address"]);
    let here = format!("/eth/address/{address}");
    let tags = tags_table(&page["tags"], &page["inferred_tag"])?;
    let exposure = exposure_section(&here, &params, exposure(&state, "eth", &address, &params).await?.as_ref());
    let asset_name = history["symbol"].as_str().map_or_else(|| text(&history["asset"]), str::to_owned);
    let balances = summary["assets"].as_array().map(Vec::as_slice).unwrap_or_default();
    let entries = history["entries"].as_array().map(Vec::as_slice).unwrap_or_default();
    let history_units = eth_units(history);
    let body = html! {
        h1 { "Ethereum address " span.mono #address { (address) } }
        h2 { "Balances" }
        table #balances {
            thead { tr { th { "Asset" } th.num { "Balance" } th.num { "Received" } th.num { "Sent" } th.num { "Transfers" } th.num { "Blocks" } } }
            tbody {
                @for balance in balances {
                    @let units = eth_units(balance);
                    @let units = units.as_ref();
                    tr {
                        td {
                            a href=(layout::href(&here, &[("asset", &text(&balance["asset"]))])) {
                                (balance["symbol"].as_str().map_or_else(|| text(&balance["asset"]), str::to_owned))
                            }
                        }
                        td.num.balance { (amount_in(units, &balance["balance"])) } td.num { (amount_in(units, &balance["received"])) }
                        td.num { (amount_in(units, &balance["sent"])) } td.num { (text(&balance["transfers"])) }
                        td.num { (text(&balance["first_block"])) "–" (text(&balance["last_block"])) }
                    }
                }
            }
        }
        (tags)
        (exposure)
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
                            td.num { (amount_in(history_units.as_ref(), &entry["amount"])) }
                            td.num { (amount_in(history_units.as_ref(), &entry["balance_after"])) }
                        }
                    }
                }
            }
        }
        (trail.pager(&here, &[("asset", asset)], history["next_cursor"].as_str()))
        p.no-print { a href=(layout::href("/trace", &[("seeds", &address)])) { "Trace from this address" } }
    };
    Ok(layout::page(&format!("Address {address}"), body))
}
