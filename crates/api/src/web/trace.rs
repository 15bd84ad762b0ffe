//! The trace form and the page of a trace job: it starts a job through
//! [`crate::jobs::Jobs`] (the same as `POST /v1/traces`), shows its status
//! while it runs (the page reloads itself with `<meta http-equiv=refresh>`,
//! no script), then the report's totals, off-ramps and holders with links
//! to every download format of `GET /v1/traces/{id}/report`.

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chainsleuth_case::TraceRequest;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::layout::{self, share, text, Units};
use super::WebError;
use crate::error::ApiError;
use crate::jobs::{job_id, JobStatus, JobView, FORMATS};
use crate::routes::blocking;
use crate::{ApiState, Caller, Role};

/// Seconds between reloads of the page of a job still running.
const REFRESH_SECS: u32 = 2;
/// Holders listed on the page (the downloads have them all).
const HOLDER_ROWS: usize = 20;

/// The form's fields, as typed; also the query of `GET /trace` (an address
/// page links here with `seeds` filled in).
#[derive(Debug, Default, Deserialize)]
pub(super) struct TraceForm {
    #[serde(default)]
    seeds: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    max_hops: String,
    #[serde(default)]
    min_amount: String,
    #[serde(default)]
    asset: String,
}

impl TraceForm {
    /// The request the form asks for: each seed (one a line, or separated
    /// by commas or spaces) gets its chain from its form when it has none
    /// (`0x…` is Ethereum, anything else Bitcoin); empty fields take the
    /// command line's defaults, which [`TraceRequest`] holds.
    fn request(&self) -> Result<TraceRequest, ApiError> {
        let seeds: Vec<String> = self
            .seeds
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|seed| !seed.is_empty())
            .map(|seed| match seed {
                _ if seed.starts_with("btc:") || seed.starts_with("eth:") => seed.to_owned(),
                _ if seed.starts_with("0x") || seed.starts_with("0X") => format!("eth:{seed}"),
                _ => format!("btc:{seed}"),
            })
            .collect();
        let mut body = json!({ "seeds": seeds });
        let text_fields = [
            ("direction", &self.direction),
            ("model", &self.model),
            ("min_amount", &self.min_amount),
            ("asset", &self.asset),
        ];
        for (name, value) in text_fields {
            if !value.trim().is_empty() {
                body[name] = Value::String(value.trim().to_owned());
            }
        }
        if !self.max_hops.trim().is_empty() {
            let hops = self.max_hops.trim();
            let hops: u32 = hops.parse().map_err(|_| {
                ApiError::bad_request("invalid_parameter", "max_hops", format!("expected a whole number, got {hops:?}"))
            })?;
            body["max_hops"] = hops.into();
        }
        serde_json::from_value(body).map_err(|err| ApiError::bad_request("invalid_parameter", "request", err))
    }
}

/// The form, filled in with `form`'s values (the command line's defaults
/// where empty).
fn trace_form(form: &TraceForm) -> Markup {
    let or = |value: &str, default: &str| if value.trim().is_empty() { default.to_owned() } else { value.to_owned() };
    let selected = |value: &str, default: &str, option: &str| or(value, default) == option;
    html! {
        form.stack method="post" action="/trace" {
            label {
                "Seeds"
                span.hint { "One per line: an address, btc:TXID:VOUT, or with its chain (btc:…, eth:0x…); all on one chain." }
                textarea name="seeds" rows="4" cols="70" required { (form.seeds) }
            }
            label {
                "Direction"
                select name="direction" {
                    option value="forward" selected[selected(&form.direction, "forward", "forward")] { "forward: where the funds went" }
                    option value="backward" selected[selected(&form.direction, "forward", "backward")] { "backward: where they came from (poison, haircut)" }
                }
            }
            label {
                "Model"
                select name="model" {
                    @for (value, name) in [("all", "all (forward: all four; backward: poison and haircut)"), ("poison", "poison"), ("haircut", "haircut"), ("fifo", "fifo"), ("lifo", "lifo")] {
                        option value=(value) selected[selected(&form.model, "all", value)] { (name) }
                    }
                }
            }
            label { "Max hops" span.hint { "1 to 1000" } input type="number" name="max_hops" value=(or(&form.max_hops, "10")) min="1" max="1000" required; }
            label { "Min amount" span.hint { "in the smallest unit (sat, wei); smaller taint is dust" } input type="text" name="min_amount" value=(or(&form.min_amount, "0")) inputmode="numeric"; }
            label { "Asset (Ethereum)" span.hint { "ETH or a token contract; empty for ETH" } input type="text" name="asset" value=(form.asset); }
            div { button type="submit" { "Start the trace" } }
        }
    }
}

/// The form page, with an error above the form when there is one.
fn form_page(form: &TraceForm, error: Option<&str>) -> Markup {
    layout::page(
        "Trace",
        html! {
            h1 { "Trace funds" }
            @if let Some(error) = error { div.notice.error { p { (error) } } }
            p.muted { "The trace runs in the background under the server's time and size budget; its page shows progress, then the report." }
            (trace_form(form))
        },
    )
}

/// `GET /trace?seeds=`: the form.
pub(super) async fn form(Query(form): Query<TraceForm>) -> Markup {
    form_page(&form, None)
}

/// `POST /trace`: starts the job the form asks for and goes to its page;
/// the form again, with the reason, when it cannot start.
pub(super) async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    form: Result<Form<TraceForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let started = async {
        caller.require(Role::Trace)?;
        let request = form.request()?;
        let (jobs, case, name) = (Arc::clone(&state.jobs), Arc::clone(&state.case), caller.name.to_string());
        blocking(move || jobs.start(case, request, Some(name))).await
    };
    match started.await {
        Ok(job) => Redirect::to(&format!("/trace/{}", job.id)).into_response(),
        Err(err) => (err.status, form_page(&form, Some(&err.message))).into_response(),
    }
}

/// One model's results: where the seeded funds ended as bars (`mined`,
/// funds traced back to coinbases, on backward traces only), the off-ramps
/// reached and the largest holders.
fn model_section(name: &str, model: &Value, backward: bool, units: &Units) -> Markup {
    let totals = &model["totals"];
    let buckets = ["reached", "held", "fees", "dust", "horizon", "mixers", "mined"];
    let buckets = &buckets[..if backward { buckets.len() } else { buckets.len() - 1 }];
    let offramps = model["offramps"].as_array().map(Vec::as_slice).unwrap_or_default();
    let holders = model["holders"].as_array().map(Vec::as_slice).unwrap_or_default();
    html! {
        section.model id={ "model-" (name) } {
            h2 { "Model: " (name) }
            p { "Seeded " strong.seeded data-amount=(text(&totals["seeded"])) { (units.amount(&totals["seeded"])) } }
            div.bars {
                @for bucket in buckets.iter().copied() {
                    @let (width, percent) = share(&totals[bucket], &totals["seeded"]);
                    span { (bucket) }
                    span.bar title=(percent) { span style=(width) {} }
                    span.num id={ "total-" (name) "-" (bucket) } data-amount=(text(&totals[bucket])) { (units.amount(&totals[bucket])) " · " (percent) }
                }
            }
            h3 { "Off-ramps reached" }
            @if offramps.is_empty() { p.muted { "None." } } @else {
                table.offramps {
                    thead { tr { th { "Entity" } th { "Category" } th { "Address" } th.num { "Amount" } th.num { "Min hops" } th { "Can be frozen" } } }
                    tbody {
                        @for row in offramps {
                            tr {
                                td { (text(&row["entity"])) } td { (text(&row["category"])) }
                                td.mono { (text(&row["address"])) }
                                td.num { (units.amount(&row["amount"])) } td.num { (text(&row["min_hops"])) }
                                td { (text(&row["freezable"])) }
                            }
                        }
                    }
                }
            }
            h3 { "Largest holders" }
            @if holders.is_empty() { p.muted { "None." } } @else {
                table.holders {
                    thead { tr { th { "Address" } th { "Entity" } th.num { "Amount" } th { "Can be frozen" } } }
                    tbody {
                        @for row in holders.iter().take(HOLDER_ROWS) {
                            tr {
                                td.mono { (text(&row["address"])) } td { (text(&row["entity"])) }
                                td.num { (units.amount(&row["amount"])) }
                                td { @if row["freezable"] == true { (text(&row["reason"])) } @else { "no" } }
                            }
                        }
                    }
                }
                @if holders.len() > HOLDER_ROWS { p.muted { (holders.len() - HOLDER_ROWS) " more in the downloads." } }
            }
        }
    }
}

/// The finished report: links to every format, the parameters, each model.
fn report_body(job: &JobView, report: &Value) -> Markup {
    let models = report["models"].as_object();
    let units = Units::of_report(report);
    html! {
        p.downloads.no-print {
            "Download: "
            @for (format, _) in FORMATS {
                a href={ "/v1/traces/" (job.id) "/report?format=" (format) } download { (format) }
            }
        }
        dl.facts {
            dt { "Chain" } dd { (text(&report["chain"])) " " (text(&report["asset"])) }
            dt { "Index tip" } dd { "block " (text(&report["index_tip"]["height"])) }
            dt { "Seeds" }
            dd.mono {
                @for seed in report["seeds"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    (text(seed))
                    br;
                }
            }
        }
        @for (name, model) in models.into_iter().flatten() { (model_section(name, model, report["direction"] == "backward", &units)) }
    }
}

/// `GET /trace/{id}`: the job's status, reloading while it runs; its
/// report once done.
pub(super) async fn report(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Markup, WebError> {
    let id = job_id(path)?;
    let jobs = Arc::clone(&state.jobs);
    let job = blocking(move || jobs.get(id)).await?;
    let running = !job.status.is_final();
    let body = html! {
        h1 { "Trace " (job.id) }
        dl.facts {
            dt { "Status" } dd #status { (job.status.as_str()) }
            dt { "Asked" } dd { (job.created) @if let Some(token) = &job.token { " by " (token) } }
            dt { "Coins or transfers read" } dd #visited { (job.visited) }
            @if let Some(finished) = &job.finished { dt { "Finished" } dd { (finished) } }
        }
        @if running { p.notice { "Running: this page reloads every " (REFRESH_SECS) " seconds until the report is ready." } }
        @if let Some(error) = &job.error { div.notice.error { p { (error) } } }
        @match (&job.status, &job.result) {
            (JobStatus::Done, Some(report)) => (report_body(&job, report)),
            _ => {}
        }
    };
    Ok(layout::page_refreshing(&format!("Trace {}", job.id), running.then_some(REFRESH_SECS), body))
}
