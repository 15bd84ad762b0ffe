//! The Bitcoin cluster page: the cluster an id or a member address names,
//! one page of its members with the transaction that linked each, and the
//! older ids merged into it.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use chainsleuth_btc::index::query;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, or_dash, Trail};
use super::WebError;
use crate::routes::{blocking, btc_network, path_error, query_error};
use crate::stores::open_btc;
use crate::ApiState;

/// Members on one page.
const MEMBER_ROWS: usize = 100;

/// Query parameters of a cluster page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ClusterParams {
    cursor: Option<String>,
    trail: Option<String>,
}

/// `GET /btc/cluster/{id_or_address}?cursor=&trail=`.
pub(super) async fn btc(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<ClusterParams>, QueryRejection>,
) -> Result<Markup, WebError> {
    let Path(subject) = path.map_err(path_error)?;
    let Query(params) = params.map_err(query_error)?;
    let trail = Trail::new(params.cursor, params.trail.as_deref());
    let cursor = trail.cursor().map(str::to_owned);
    let cluster = blocking(move || {
        let store = open_btc(&state.data_dir)?;
        let network = btc_network(&store)?;
        Ok(query::cluster(&store, &subject, network, cursor.as_deref(), MEMBER_ROWS)?)
    })
    .await?;
    let here = format!("/btc/cluster/{}", cluster.id);
    let body = html! {
        h1 { "Cluster " span #cluster-id { (cluster.id) } }
        dl.facts {
            dt { "Addresses" } dd #cluster-size { (cluster.size) }
            dt { "Clustered up to" } dd { "block " (or_dash(cluster.clustered_height)) }
        }
        p.muted { "Addresses spent together as inputs of one transaction are taken to have one owner (the multi-input heuristic)." }
        h2 { "Members" }
        table #members {
            thead { tr { th { "Address" } th { "Linked by" } } }
            tbody {
                @for member in &cluster.members {
                    tr {
                        td { (layout::address_link("btc", &member.address)) }
                        td { @if let Some(tx) = &member.linked_by { (layout::tx_link("btc", &tx.to_string())) } @else { span.muted { "the cluster's first address" } } }
                    }
                }
            }
        }
        (trail.pager(&here, &[], cluster.next_cursor.as_deref()))
        @if !cluster.aliases.is_empty() {
            h2 { "Merged clusters" }
            table {
                thead { tr { th { "Old id" } th { "Merged by" } } }
                tbody { @for alias in &cluster.aliases { tr { td { (alias.id) } td { (layout::tx_link("btc", &alias.merged_by.to_string())) } } } }
            }
        }
    };
    Ok(layout::page(&format!("Cluster {}", cluster.id), body))
}
