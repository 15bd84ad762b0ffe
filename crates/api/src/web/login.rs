//! Signing in with an API token: the form at `/login` and `/logout`.

use axum::extract::Query;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout;

/// Query parameters of the login form.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginParams {
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: `next` when it is a path on this site,
/// the search page otherwise (never another site).
fn after_login(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

/// The form, with an optional error above it.
fn login_page(next: &str, error: Option<&str>) -> Markup {
    layout::bare_page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(error) = error { div.notice.error { p { (error) } } }
            form.stack method="post" action="/login" {
                input type="hidden" name="next" value=(after_login(next));
                label {
                    "API token"
                    span.hint { "The secret of a token with role read, trace or admin (chainsleuth tokens create)." }
                    input type="password" name="token" autocomplete="current-password" required autofocus;
                }
                div { button type="submit" { "Sign in" } }
            }
        },
    )
}

/// `GET /login?next=`.
pub(super) async fn form(Query(params): Query<LoginParams>) -> Markup {
    login_page(&params.next, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_only_returns_to_this_site() {
        assert_eq!(after_login("/btc/address/x?cursor=1"), "/btc/address/x?cursor=1");
        for elsewhere in ["//evil.example/", "https://evil.example/", "/\\evil.example", ""] {
            assert_eq!(after_login(elsewhere), "/", "{elsewhere}");
        }
    }
}
