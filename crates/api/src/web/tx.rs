//! The transaction pages: a Bitcoin transaction's inputs and outputs (with
//! where each output was spent), an Ethereum transaction's transfers.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use chainsleuth_btc::index::query;
use chainsleuth_eth::EthQuery;
use maud::{html, Markup};

use super::layout::{self, amount_in, or_dash, Units};
use super::WebError;
use crate::error::ApiError;
use crate::routes::{blocking, btc_network, path_error};
use crate::stores::{open_btc, open_eth};
use crate::ApiState;

fn maybe_address(chain: &str, address: Option<&str>) -> Markup {
    html! { @if let Some(address) = address { (layout::address_link(chain, address)) } @else { span.muted { "no address" } } }
}

/// `GET /btc/tx/{txid}`.
pub(super) async fn btc(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Markup, WebError> {
    let Path(txid) = path.map_err(path_error)?;
    let tx = blocking(move || {
        let store = open_btc(&state.data_dir)?;
        let network = btc_network(&store)?;
        Ok(query::tx(&store, &txid, network)?)
    })
    .await?;
    let txid = tx.txid.to_string();
    let body = html! {
        h1 { "Bitcoin transaction " span.mono #txid { (txid) } }
        dl.facts {
            dt { "Block" } dd { (tx.height) " " span.mono.muted { (tx.block_hash) } }
            dt { "Position" } dd { (tx.position) }
            dt { "Fee" } dd #fee { @if tx.coinbase { "coinbase" } @else { (or_dash(tx.fee)) } }
        }
        h2 { "Inputs" }
        @if tx.inputs.is_empty() { p.muted { "None: a coinbase creates new coins." } } @else {
            table #inputs {
                thead { tr { th.num { "#" } th { "Address" } th.num { "Value" } th { "Spends" } } }
                tbody {
                    @for input in &tx.inputs {
                        tr {
                            td.num { (input.vin) } td { (maybe_address("btc", input.address.as_deref())) }
                            td.num { (input.value) }
                            td { (layout::tx_link("btc", &input.prev_txid.to_string())) ":" (input.prev_vout) }
                        }
                    }
                }
            }
        }
        h2 { "Outputs" }
        table #outputs {
            thead { tr { th.num { "#" } th { "Address" } th.num { "Value" } th { "Spent by" } } }
            tbody {
                @for output in &tx.outputs {
                    tr {
                        td.num { (output.vout) } td { (maybe_address("btc", output.address.as_deref())) }
                        td.num { (output.value) }
                        td {
                            @if let Some(spent) = &output.spent_by {
                                (layout::tx_link("btc", &spent.txid.to_string())) ":" (spent.vin)
                            } @else { span.muted { "unspent" } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&format!("Transaction {txid}"), body))
}

/// `GET /eth/tx/{hash}`: each transfer's amount in its asset's unit where
/// the token says its decimals.
pub(super) async fn eth(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Markup, WebError> {
    let Path(hash) = path.map_err(path_error)?;
    let tx = blocking(move || {
        let store = open_eth(&state.data_dir)?;
        EthQuery::new(&store).tx_transfers(&hash)?.ok_or_else(|| {
            ApiError::not_found("unknown_tx", "id", format!("transaction {} is not indexed", hash.trim()))
        })
    })
    .await?;
    let body = html! {
        h1 { "Ethereum transaction " span.mono #txid { (tx.hash) } }
        dl.facts {
            dt { "Block" } dd { (tx.block) } dt { "Position" } dd { (tx.tx_index) }
            dt { "From" } dd { (layout::address_link("eth", &tx.from)) }
            dt { "Status" } dd { @if tx.success { "succeeded" } @else { "failed (reverted)" } }
        }
        h2 { "Transfers" }
        table #transfers {
            thead { tr { th.num { "#" } th { "Kind" } th { "From" } th { "To" } th { "Asset" } th.num { "Amount" } } }
            tbody {
                @for transfer in &tx.transfers {
                    tr {
                        td.num { (transfer.ordinal) } td { (transfer.kind) }
                        td { (maybe_address("eth", transfer.from.as_deref())) }
                        td { (maybe_address("eth", transfer.to.as_deref())) }
                        td { (transfer.asset.symbol.as_deref().unwrap_or(&transfer.asset.asset)) }
                        @let units = Units::of_eth_asset(&transfer.asset.asset, transfer.asset.symbol.as_deref(), transfer.asset.decimals);
                        td.num { (amount_in(units.as_ref(), &serde_json::Value::String(transfer.amount.clone()))) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&format!("Transaction {}", tx.hash), body))
}
