//! Who may call the API: bearer tokens (or a web session made from one, see
//! [`crate::session`]), their roles, and the middleware that checks them.
//! Secrets are compared in constant time (over their SHA-256, so lengths
//! leak nothing either) and never printed; tokens live in the token file
//! ([`crate::tokens`]).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::ApiState;

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// What a token may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries.
    Read,
    /// Queries and trace jobs.
    Trace,
    /// Everything: imports, the watchlist, tokens.
    Admin,
}

impl Role {
    /// The role's name as written in files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Trace => "trace",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "read" => Ok(Role::Read),
            "trace" => Ok(Role::Trace),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}: expected read, trace or admin")),
        }
    }
}

/// Who is asking: put into the request by [`require_token`], taken by
/// handlers as an extractor. A handler that needs more than reading calls
/// [`Caller::require`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name.
    pub name: Arc<str>,
    /// The token's role.
    pub role: Role,
}

impl Caller {
    /// Ok when the caller's role is `needed` or above; a 403 naming both otherwise.
    ///
    /// # Errors
    /// The caller's role is below `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(needed, self.role))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(ApiError::unauthorized)
    }
}

/// A token: its name, role and the SHA-256 of its secret. `Debug` shows the
/// name and role only.
#[derive(Clone)]
pub struct Token {
    name: Arc<str>,
    role: Role,
    secret_hash: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

impl Token {
    /// A token with `role` for `secret`, named after its role (for tests and
    /// servers built in code; `chainsleuth tokens create` names its tokens).
    ///
    /// # Errors
    /// As [`Token::named`].
    pub fn new(role: Role, secret: &str) -> Result<Token, String> {
        Token::named(role.as_str(), role, secret)
    }

    /// A token called `name` with `role` for `secret`.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] or with whitespace in it
    /// (the message does not repeat it).
    pub fn named(name: &str, role: Role, secret: &str) -> Result<Token, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!("a token secret needs at least {MIN_SECRET_LEN} characters"));
        }
        if secret.chars().any(char::is_whitespace) {
            return Err("a token secret cannot contain whitespace".to_owned());
        }
        Ok(Token::from_hash(name, role, hash_secret(secret)))
    }

    /// A token from its stored hash.
    pub(crate) fn from_hash(name: &str, role: Role, secret_hash: [u8; 32]) -> Token {
        Token { name: name.into(), role, secret_hash }
    }

    /// The token's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The SHA-256 of the secret.
    pub(crate) fn secret_hash(&self) -> &[u8; 32] {
        &self.secret_hash
    }

    /// The caller this token makes.
    pub(crate) fn caller(&self) -> Caller {
        Caller { name: Arc::clone(&self.name), role: self.role }
    }

    fn matches(&self, presented: &[u8; 32]) -> bool {
        self.secret_hash.iter().zip(presented).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The SHA-256 of a secret.
pub(crate) fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The token among `tokens` that `secret` is, checking every token so the
/// time taken does not depend on which one matched.
pub(crate) fn find<'t>(tokens: &'t [Token], secret: &str) -> Option<&'t Token> {
    let presented = hash_secret(secret);
    tokens.iter().fold(None, |found, token| if token.matches(&presented) { Some(token) } else { found })
}

/// What the `Authorization` header holds.
enum Presented<'h> {
    /// No header: the session cookie may stand in.
    Nothing,
    /// `Bearer <secret>` (the scheme in any case).
    Bearer(&'h str),
    /// Some other scheme or unreadable bytes.
    Malformed,
}

fn presented(headers: &HeaderMap) -> Presented<'_> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Presented::Nothing };
    value
        .to_str()
        .ok()
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or(Presented::Malformed, |(_, secret)| Presented::Bearer(secret.trim()))
}

/// The live token a request carries: its bearer secret, or without an
/// `Authorization` header its session cookie.
pub(crate) fn token_of(state: &ApiState, headers: &HeaderMap) -> Option<Token> {
    match presented(headers) {
        Presented::Bearer(secret) => find(&state.tokens.live(), secret).cloned(),
        Presented::Nothing => state.sessions.token_of(headers, &state.tokens.live()),
        Presented::Malformed => None,
    }
}

/// Middleware: lets a request with a live token (or session) through within
/// its rate limit, with its [`Caller`]; 401 without one, 429 over the limit.
/// The token's name goes to the audit record either way.
pub async fn require_token(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let Some(token) = token_of(&state, request.headers()) else {
        return ApiError::unauthorized().into_response();
    };
    crate::audit::note_token(&request, token.name());
    if let Err(limited) = state.limits.admit(token.name()) {
        return limited.into_response();
    }
    request.extensions_mut().insert(token.caller());
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_by_hash_and_stay_hidden() {
        let tokens = [
            Token::named("ops", Role::Admin, "bbbbbbbbbbbbbbbbbbbb").unwrap(),
            Token::new(Role::Read, "aaaaaaaaaaaaaaaa").unwrap(),
        ];
        assert_eq!(find(&tokens, "bbbbbbbbbbbbbbbbbbbb").map(Token::name), Some("ops"));
        assert_eq!(find(&tokens, "aaaaaaaaaaaaaaaa").map(Token::role), Some(Role::Read));
        assert!(find(&tokens, "aaaaaaaaaaaaaaab").is_none());
        assert!(!format!("{:?}", tokens[1]).contains("aaaa"));
        assert!(Token::new(Role::Read, "short").unwrap_err().contains("at least 16"));
        assert!(Token::new(Role::Read, "with a space in it").unwrap_err().contains("whitespace"));
    }

    #[test]
    fn authorization_headers_parse() {
        let mut headers = HeaderMap::new();
        assert!(matches!(presented(&headers), Presented::Nothing));
        headers.insert(AUTHORIZATION, "bEaReR  abc ".parse().unwrap());
        assert!(matches!(presented(&headers), Presented::Bearer("abc")));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(matches!(presented(&headers), Presented::Malformed));
        headers.insert(AUTHORIZATION, "Bearer".parse().unwrap());
        assert!(matches!(presented(&headers), Presented::Malformed));
    }
}
