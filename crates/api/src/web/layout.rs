//! The page shell every page shares, and small pieces of markup the pages
//! repeat: links to addresses and transactions, pagers, amounts.

use chainsleuth_case::smallest_unit;
use chainsleuth_core::{Sats, U256};
use chainsleuth_trace::{format_units, Unit};
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

/// A page with the site header (search, trace, sign out) around `body`.
pub(super) fn page(title: &str, body: Markup) -> Markup {
    page_refreshing(title, None, body)
}

/// [`page`], reloaded by the browser every `refresh` seconds when given.
pub(super) fn page_refreshing(title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    shell(
        title,
        refresh,
        html! {
            header.site {
                a.brand href="/" { "chainsleuth" }
                nav {
                    a href="/" { "Search" }
                    a href="/trace" { "Trace" }
                    form.inline method="post" action="/logout" { button type="submit" { "Sign out" } }
                }
            }
            main { (body) }
        },
    )
}

/// A page without the navigation, for the login form.
pub(super) fn bare_page(title: &str, body: Markup) -> Markup {
    shell(
        title,
        None,
        html! {
            header.site { span.brand { "chainsleuth" } }
            main { (body) }
        },
    )
}

fn shell(title: &str, refresh: Option<u32>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh { meta http-equiv="refresh" content=(seconds); }
                title { (title) " · chainsleuth" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                (content)
                footer.site { "chainsleuth: figures are read from the local index at the time of the request." }
            }
        }
    }
}

/// `path` with `params` as a query string, each value URL-encoded; empty
/// values are left out.
pub(super) fn href(path: &str, params: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = params.iter().copied().filter(|(_, value)| !value.is_empty()).collect();
    if kept.is_empty() {
        return path.to_owned();
    }
    let query = serde_urlencoded::to_string(&kept).expect("pairs of strings always encode as a query string");
    format!("{path}?{query}")
}

/// A link to the page of `address` on `chain` (`btc` or `eth`).
pub(super) fn address_link(chain: &str, address: &str) -> Markup {
    html! { a.mono href={ "/" (chain) "/address/" (address) } { (address) } }
}

/// A link to the page of transaction `id` on `chain` (`btc` or `eth`).
pub(super) fn tx_link(chain: &str, id: &str) -> Markup {
    html! { a.mono href={ "/" (chain) "/tx/" (id) } { (id) } }
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

/// How a page shows amounts of one asset: in its unit for people (the
/// unit's symbol and decimals, by [`format_units`], as the CLI shows them)
/// with the exact integer in the smallest unit beside it.
pub(super) struct Units {
    unit: Unit,
    smallest: &'static str,
}

impl Units {
    /// The units of a trace report or an exposure, from its JSON `chain`,
    /// `asset` and `unit` (`{symbol, decimals}`).
    pub(super) fn of_report(report: &Value) -> Units {
        let (chain, asset) =
            (report["chain"].as_str().unwrap_or_default(), report["asset"].as_str().unwrap_or_default());
        let decimals = report["unit"]["decimals"].as_u64().and_then(|d| u8::try_from(d).ok()).unwrap_or_default();
        Units {
            unit: Unit { symbol: text(&report["unit"]["symbol"]), decimals },
            smallest: smallest_unit(chain, asset),
        }
    }

    /// The units of an Ethereum asset as the address and transaction pages
    /// give it (`asset`, `symbol`, `decimals`); none when the token did not
    /// say its decimals.
    pub(super) fn of_eth_asset(asset: &str, symbol: Option<&str>, decimals: Option<u8>) -> Option<Units> {
        let unit = Unit { symbol: symbol.unwrap_or(asset).to_owned(), decimals: decimals? };
        Some(Units { unit, smallest: smallest_unit("eth", asset) })
    }

    /// `value` (a JSON number or decimal string of the smallest unit) as
    /// `30 ETH (30000000000000000000 wei)`; anything else as [`text`].
    pub(super) fn amount(&self, value: &Value) -> String {
        let exact = value.as_u64().map(U256::from).or_else(|| value.as_str().and_then(|s| s.parse::<U256>().ok()));
        match exact {
            Some(exact) => format!("{} ({exact} {})", format_units(exact, &self.unit), self.smallest),
            None => text(value),
        }
    }
}

/// [`Units::amount`] of `value` when the units are known, else the integer.
pub(super) fn amount_in(units: Option<&Units>, value: &Value) -> String {
    units.map_or_else(|| text(value), |units| units.amount(value))
}

/// `part` as a share of `whole` (amounts as [`Units::amount`] takes them): a CSS
/// width for a bar and the percentage.
pub(super) fn share(part: &Value, whole: &Value) -> (String, String) {
    let number = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0.0);
    let (part, whole) = (number(part), number(whole));
    let ratio = if whole > 0.0 { (part / whole).clamp(0.0, 1.0) } else { 0.0 };
    (format!("width: {:.1}%", ratio * 100.0), format!("{:.1}%", ratio * 100.0))
}

/// An optional value, or a dash.
pub(super) fn or_dash(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "–".to_owned(), |value| value.to_string())
}

/// Where a paged list is: the cursor of this page (none on the first) and
/// the cursors of the pages before it, so "previous" needs no state on the
/// server. The trail travels in the links as `trail=`, cursors joined by
/// commas with the first page as the empty string; it keeps the last
/// [`Trail::MAX`] pages (older ones are dropped, so "previous" from the
/// oldest kept page goes to the first).
#[derive(Debug, Clone, Default)]
pub(super) struct Trail {
    cursor: Option<String>,
    before: Vec<String>,
}

impl Trail {
    /// How many earlier pages a trail remembers.
    const MAX: usize = 100;

    /// The position given by a page's `cursor` and `trail` parameters.
    pub(super) fn new(cursor: Option<String>, trail: Option<&str>) -> Trail {
        let cursor = cursor.filter(|cursor| !cursor.is_empty());
        let before = match (&cursor, trail) {
            (None, _) => Vec::new(),
            (Some(_), None) => vec![String::new()],
            (Some(_), Some(trail)) => trail.split(',').map(str::to_owned).collect(),
        };
        Trail { cursor, before }
    }

    /// The cursor of this page, for the query.
    pub(super) fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// "Previous" and "next" links for a list at `path`, with the page's
    /// other parameters `keep`; "next" goes to `next_cursor` when there is one.
    pub(super) fn pager(&self, path: &str, keep: &[(&str, &str)], next_cursor: Option<&str>) -> Markup {
        let link = |cursor: &str, trail: &str| {
            let mut params = keep.to_vec();
            params.extend([("cursor", cursor), ("trail", trail)]);
            href(path, &params)
        };
        let previous = self.cursor.as_ref().map(|_| {
            let (last, rest) = self.before.split_last().map_or(("", &[][..]), |(last, rest)| (last.as_str(), rest));
            link(last, &rest.join(","))
        });
        let next = next_cursor.map(|next| {
            let mut before = self.before.clone();
            before.push(self.cursor.clone().unwrap_or_default());
            let start = before.len().saturating_sub(Self::MAX);
            link(next, &before[start..].join(","))
        });
        html! {
            @if previous.is_some() || next.is_some() {
                nav.pager {
                    @if let Some(previous) = previous { a rel="prev" href=(previous) { "← Newer / previous page" } }
                    @if let Some(next) = next { a rel="next" href=(next) { "Next page →" } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_links_go_forward_and_back() {
        let first = Trail::new(None, None);
        let html = first.pager("/p", &[("asset", "ETH")], Some("aa")).into_string();
        assert!(html.contains(r#"href="/p?asset=ETH&amp;cursor=aa""#), "{html}");
        assert!(!html.contains("prev"), "{html}");
        let second = Trail::new(Some("aa".into()), None);
        let html = second.pager("/p", &[], Some("bb")).into_string();
        assert!(html.contains(r#"href="/p""#) && html.contains(r#"href="/p?cursor=bb&amp;trail=%2Caa""#), "{html}");
        let third = Trail::new(Some("bb".into()), Some(",aa"));
        let html = third.pager("/p", &[], None).into_string();
        assert!(html.contains(r#"href="/p?cursor=aa""#) && !html.contains("next"), "{html}");
        assert_eq!(
            href("/login", &[("next", "/btc/address/x?cursor=1&t=2")]),
            "/login?next=%2Fbtc%2Faddress%2Fx%3Fcursor%3D1%26t%3D2"
        );
    }
}
