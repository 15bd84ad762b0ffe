//! The trace form and the report page of a trace job.

use axum::extract::Query;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout;

/// Query parameters of the form: seeds filled in from an address page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FormParams {
    #[serde(default)]
    seeds: String,
}

/// The form, with `seeds` and the command line's defaults filled in.
fn trace_form(seeds: &str) -> Markup {
    html! {
        form.stack method="post" action="/trace" {
            label {
                "Seeds"
                span.hint { "One per line: an address, btc:TXID:VOUT, or with its chain (btc:…, eth:0x…); all on one chain." }
                textarea name="seeds" rows="4" cols="70" required { (seeds) }
            }
            label {
                "Direction"
                select name="direction" {
                    option value="forward" selected { "forward: where the funds went" }
                    option value="backward" { "backward: where they came from (poison, haircut)" }
                }
            }
            label {
                "Model"
                select name="model" {
                    option value="all" selected { "all (forward: four; backward: poison and haircut)" }
                    option value="poison" { "poison" } option value="haircut" { "haircut" }
                    option value="fifo" { "fifo" } option value="lifo" { "lifo" }
                }
            }
            label { "Max hops" span.hint { "1 to 1000" } input type="number" name="max_hops" value="10" min="1" max="1000" required; }
            label { "Min amount" span.hint { "in the smallest unit (sat, wei); smaller taint is dust" } input type="text" name="min_amount" value="0" inputmode="numeric"; }
            label { "Asset (Ethereum)" span.hint { "ETH or a token contract; empty for ETH" } input type="text" name="asset" value=""; }
            div { button type="submit" { "Start the trace" } }
        }
    }
}

/// `GET /trace?seeds=`: the form.
pub(super) async fn form(Query(params): Query<FormParams>) -> Markup {
    layout::page(
        "Trace",
        html! {
            h1 { "Trace funds" }
            p.muted { "The trace runs in the background under the server's time and size budget; its page shows progress, then the report." }
            (trace_form(&params.seeds))
        },
    )
}
