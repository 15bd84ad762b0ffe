//! Web sessions: a person logs in once with a token's secret and the browser
//! then carries a random session id in a cookie instead (HttpOnly, so page
//! scripts cannot read it, and SameSite=Strict, so other sites cannot make
//! the browser send it). [`require_token`](crate::auth::require_token)
//! accepts the cookie wherever it accepts a bearer token.
//!
//! For the web pages: a login form handler calls [`login`] with the secret
//! typed in and answers with its `Set-Cookie` value (and a redirect); a
//! logout handler calls [`logout`] and sends the `Set-Cookie` value that
//! clears the cookie. Sessions live in memory only: a restart logs everyone
//! out. A session ends at its expiry, on logout, or when its token is
//! revoked (checked on every request).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};

use crate::auth::{self, Role, Token};
use crate::error::ApiError;
use crate::ApiState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cs_session";
/// How long a session lasts unless configured otherwise.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// How sessions are made.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// How long a session lasts after login.
    pub ttl: Duration,
    /// Marks the cookie `Secure` (browsers then send it over HTTPS only):
    /// set it when the server sits behind TLS.
    pub secure_cookies: bool,
}

impl Default for SessionSettings {
    fn default() -> SessionSettings {
        SessionSettings { ttl: DEFAULT_SESSION_TTL, secure_cookies: false }
    }
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// The token's name.
    pub name: String,
    /// The token's role.
    pub role: Role,
    /// The `Set-Cookie` header value to answer with.
    pub set_cookie: HeaderValue,
}

/// The sessions of a server, by the SHA-256 of their ids (so the map holds
/// nothing a cookie could be rebuilt from).
#[derive(Debug, Default)]
pub struct Sessions {
    settings: SessionSettings,
    live: Mutex<HashMap<[u8; 32], Session>>,
}

#[derive(Debug)]
struct Session {
    /// The SHA-256 of the secret of the token that logged in.
    token_hash: [u8; 32],
    expires: Instant,
}

/// Logs in with a token's `secret`: a new session for it and the
/// `Set-Cookie` value that hands it to the browser.
///
/// # Errors
/// A 401 [`ApiError`] when `secret` is no live token's.
pub fn login(state: &ApiState, secret: &str) -> Result<LoggedIn, ApiError> {
    let live = state.tokens.live();
    let token = auth::find(&live, secret.trim()).ok_or_else(ApiError::unauthorized)?;
    let id = crate::tokens::new_secret();
    let sessions = &state.sessions;
    let now = Instant::now();
    let mut map = sessions.lock();
    map.retain(|_, session| session.expires > now);
    map.insert(
        auth::hash_secret(&id),
        Session { token_hash: *token.secret_hash(), expires: now + sessions.settings.ttl },
    );
    let secure = if sessions.settings.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        sessions.settings.ttl.as_secs()
    );
    tracing::info!(token = token.name(), "web login");
    Ok(LoggedIn {
        name: token.name().to_owned(),
        role: token.role(),
        set_cookie: HeaderValue::from_str(&cookie).expect("session cookies are ASCII"),
    })
}

/// Logs out the session whose cookie `headers` carry (if any) and returns
/// the `Set-Cookie` value that clears the cookie.
pub fn logout(state: &ApiState, headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = session_id(headers) {
        state.sessions.lock().remove(&auth::hash_secret(id));
    }
    let secure = if state.sessions.settings.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"))
        .expect("session cookies are ASCII")
}

/// The value of the session cookie among the request's cookies.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .filter(|id| !id.is_empty())
}

impl Sessions {
    /// No sessions yet, made with `settings`.
    pub fn new(settings: SessionSettings) -> Sessions {
        Sessions { settings, live: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The token among `live` whose session the request's cookie names,
    /// if the session has not expired.
    pub(crate) fn token_of(&self, headers: &HeaderMap, live: &[Token]) -> Option<Token> {
        let id = session_id(headers)?;
        let token_hash = {
            let map = self.lock();
            let session = map.get(&auth::hash_secret(id))?;
            (session.expires > Instant::now()).then_some(session.token_hash)?
        };
        live.iter().find(|token| *token.secret_hash() == token_hash).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        assert_eq!(session_id(&headers), None);
        headers.append(COOKIE, HeaderValue::from_static("theme=dark; cs_session=abc; x=1"));
        assert_eq!(session_id(&headers), Some("abc"));
        headers.insert(COOKIE, HeaderValue::from_static("cs_sessionx=abc; cs_session="));
        assert_eq!(session_id(&headers), None);
    }
}
