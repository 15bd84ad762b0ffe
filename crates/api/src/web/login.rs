//! Signing in with an API token: the form at `/login` and `/logout`.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout;
use crate::session;
use crate::ApiState;

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

/// The login form's fields.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a session cookie and a redirect to `next` for a live
/// token; the form again, with why, for anything else.
pub(super) async fn submit(State(state): State<ApiState>, form: Result<Form<LoginForm>, FormRejection>) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    match session::login(&state, &form.token) {
        Ok(logged_in) => ([(SET_COOKIE, logged_in.set_cookie)], Redirect::to(after_login(&form.next))).into_response(),
        Err(err) => {
            let why = "token: that is not a token of this server, or it has been revoked";
            (err.status, login_page(&form.next, Some(why))).into_response()
        }
    }
}

/// `POST /logout` (or `GET`): ends the session and clears its cookie.
pub(super) async fn logout(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let clear = session::logout(&state, &headers);
    ([(SET_COOKIE, clear)], Redirect::to("/login")).into_response()
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
