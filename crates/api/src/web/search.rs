//! The search box: an address, a transaction id or a cluster id, for
//! Bitcoin or Ethereum, recognised from its form and sent to its page.

use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout;
use crate::error::ApiError;

/// What a search names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Address { chain: &'static str, address: String },
    Tx { chain: &'static str, id: String },
    Cluster(String),
}

impl Target {
    fn path(&self) -> String {
        match self {
            Target::Address { chain, address } => format!("/{chain}/address/{address}"),
            Target::Tx { chain, id } => format!("/{chain}/tx/{id}"),
            Target::Cluster(id) => format!("/btc/cluster/{id}"),
        }
    }
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Recognises `query` by its form: `0x` and 40 hex digits is an Ethereum
/// address, `0x` and 64 an Ethereum transaction; 64 hex digits alone are a
/// Bitcoin txid (an Ethereum one when `chain` is `eth`); digits alone a
/// Bitcoin cluster id; any other run of letters and digits a Bitcoin
/// address (the address page checks it).
fn classify(query: &str, chain: &str) -> Result<Target, ApiError> {
    let query = query.trim();
    let unknown = |why: &str| ApiError::bad_request("unrecognised_query", "q", format!("{query:?} {why}"));
    if query.is_empty() {
        return Err(ApiError::bad_request(
            "unrecognised_query",
            "q",
            "type an address, a transaction id or a cluster id",
        ));
    }
    let chain = match chain {
        "" | "auto" => None,
        "btc" => Some("btc"),
        "eth" => Some("eth"),
        other => {
            return Err(ApiError::bad_request("unknown_chain", "chain", format!("expected btc or eth, got {other:?}")))
        }
    };
    let hex = query.strip_prefix("0x").or_else(|| query.strip_prefix("0X"));
    if let Some(hex) = hex.filter(|hex| is_hex(hex)) {
        if chain == Some("btc") {
            return Err(unknown("looks like an Ethereum address or hash, not a Bitcoin one"));
        }
        return match hex.len() {
            40 => Ok(Target::Address { chain: "eth", address: query.to_owned() }),
            64 => Ok(Target::Tx { chain: "eth", id: query.to_owned() }),
            _ => Err(unknown("has 0x but is neither a 40-digit address nor a 64-digit transaction hash")),
        };
    }
    if query.len() == 64 && is_hex(query) {
        return Ok(match chain {
            Some("eth") => Target::Tx { chain: "eth", id: format!("0x{query}") },
            _ => Target::Tx { chain: "btc", id: query.to_owned() },
        });
    }
    if chain == Some("eth") {
        return Err(unknown("is not an Ethereum address (0x and 40 hex digits) or transaction hash (0x and 64)"));
    }
    if query.len() <= 20 && query.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Target::Cluster(query.to_owned()));
    }
    if query.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(Target::Address { chain: "btc", address: query.to_owned() });
    }
    Err(unknown("is not an address, a transaction id or a cluster id"))
}

/// The search form, with `query` filled in.
fn form(query: &str) -> Markup {
    html! {
        form.search method="get" action="/search" role="search" {
            label for="q" { "Address, transaction or cluster" }
            input #q type="search" name="q" value=(query) size="70" autofocus
                placeholder="bc1q…, 0x…, a txid or a cluster id";
            select name="chain" aria-label="Chain" {
                option value="auto" { "btc or eth, from the form" }
                option value="btc" { "Bitcoin" }
                option value="eth" { "Ethereum" }
            }
            button type="submit" { "Search" }
        }
    }
}

/// `GET /`: the search box.
pub(super) async fn home() -> Markup {
    layout::page(
        "Search",
        html! {
            h1 { "Search the index" }
            (form(""))
            p.muted {
                "A Bitcoin address, txid or cluster id; an Ethereum address (0x and 40 hex digits) "
                "or transaction hash (0x and 64). "
                a href="/trace" { "Start a trace" } " from one or more addresses."
            }
        },
    )
}

/// Parameters of `/search`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    chain: String,
}

/// `GET /search?q=&chain=`: a redirect to the page of what `q` names, or the
/// search form again with why it was not recognised.
pub(super) async fn search(Query(params): Query<SearchParams>) -> Response {
    match classify(&params.q, &params.chain) {
        Ok(target) => Redirect::to(&target.path()).into_response(),
        Err(err) => {
            let status = err.status;
            let body = html! {
                h1 { "Not recognised" }
                div.notice.error { p { (err.message) } }
                (form(params.q.trim()))
            };
            (status, layout::page("Not recognised", body)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_recognised_by_their_form() {
        let eth = "0x00000000219ab540356cBB839Cbe05303d7705Fa";
        assert_eq!(classify(eth, "auto"), Ok(Target::Address { chain: "eth", address: eth.into() }));
        let hash = format!("0x{}", "ab".repeat(32));
        assert_eq!(classify(&hash, ""), Ok(Target::Tx { chain: "eth", id: hash.clone() }));
        let txid = "cd".repeat(32);
        assert_eq!(classify(&txid, "auto"), Ok(Target::Tx { chain: "btc", id: txid.clone() }));
        assert_eq!(classify(&txid, "eth"), Ok(Target::Tx { chain: "eth", id: format!("0x{txid}") }));
        assert_eq!(classify(" 42 ", "auto"), Ok(Target::Cluster("42".into())));
        let btc = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
        assert_eq!(classify(btc, "btc").unwrap().path(), format!("/btc/address/{btc}"));
        for (query, chain) in
            [("", "auto"), ("a b", "auto"), ("0x1234", "auto"), (eth, "btc"), ("42", "eth"), ("x", "doge")]
        {
            let err = classify(query, chain).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{query}");
            assert!(err.message.starts_with("q: ") || err.message.starts_with("chain: "), "{}", err.message);
        }
    }
}
