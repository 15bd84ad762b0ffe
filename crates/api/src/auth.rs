//! Bearer tokens: who may call `/v1`. Secrets are compared in constant time
//! (over their SHA-256, so lengths leak nothing either) and never printed.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::ApiState;

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// What a token may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
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

/// Who is asking: put into the request by [`require_token`], taken by
/// handlers as an extractor. A handler that needs more than reading calls
/// [`Caller::require`].
#[derive(Debug, Clone)]
pub struct Caller {
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

/// A secret and its role. `Debug` shows the role only.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, try_from = "TokenEntry")]
pub struct Token {
    role: Role,
    secret_hash: [u8; 32],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    role: Role,
    secret: String,
}

impl TryFrom<TokenEntry> for Token {
    type Error = String;

    fn try_from(entry: TokenEntry) -> Result<Token, String> {
        Token::new(entry.role, &entry.secret)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("role", &self.role).finish_non_exhaustive()
    }
}

impl Token {
    /// A token with `role` for `secret`.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] or with whitespace in it
    /// (the message does not repeat it).
    pub fn new(role: Role, secret: &str) -> Result<Token, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!("a token secret needs at least {MIN_SECRET_LEN} characters"));
        }
        if secret.chars().any(char::is_whitespace) {
            return Err("a token secret cannot contain whitespace".to_owned());
        }
        Ok(Token { role, secret_hash: Sha256::digest(secret.as_bytes()).into() })
    }

    /// The token's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Parses a token file: one `role:secret` per line; blank lines and
    /// lines starting with `#` are skipped.
    ///
    /// # Errors
    /// The first bad line, by number (never its secret).
    pub fn parse_file(text: &str) -> Result<Vec<Token>, String> {
        let mut tokens = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let token = line
                .split_once(':')
                .ok_or_else(|| "expected role:secret".to_owned())
                .and_then(|(role, secret)| Token::new(role.trim().parse()?, secret.trim()));
            tokens.push(token.map_err(|why| format!("line {}: {why}", n + 1))?);
        }
        Ok(tokens)
    }

    fn matches(&self, presented: &[u8; 32]) -> bool {
        self.secret_hash.iter().zip(presented).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The role of the token among `tokens` that `secret` is, checking every
/// token so the time taken does not depend on which one matched.
fn role_of(tokens: &[Token], secret: &str) -> Option<Role> {
    let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    tokens.iter().fold(None, |found, token| if token.matches(&presented) { Some(token.role) } else { found })
}

/// Middleware: lets a request with a configured bearer token through and
/// answers 401 otherwise.
pub async fn require_token(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let secret = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim());
    match secret.and_then(|secret| role_of(&state.tokens, secret)) {
        Some(role) => {
            request.extensions_mut().insert(Caller { role });
            next.run(request).await
        }
        None => axum::response::IntoResponse::into_response(ApiError::unauthorized()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_parse_and_secrets_stay_hidden() {
        let tokens = Token::parse_file("# ops\nread:aaaaaaaaaaaaaaaa\n\nadmin: bbbbbbbbbbbbbbbbbbbb\n").unwrap();
        assert_eq!(tokens.iter().map(Token::role).collect::<Vec<_>>(), [Role::Read, Role::Admin]);
        assert_eq!(role_of(&tokens, "bbbbbbbbbbbbbbbbbbbb"), Some(Role::Admin));
        assert_eq!(role_of(&tokens, "aaaaaaaaaaaaaaab"), None);
        assert!(!format!("{:?}", tokens[0]).contains("aaaa"));
        let err = Token::parse_file("read:aaaaaaaaaaaaaaaa\nroot:cccccccccccccccccc\n").unwrap_err();
        assert!(err.starts_with("line 2: ") && !err.contains("cccc"), "{err}");
        assert!(Token::parse_file("read:short\n").unwrap_err().contains("at least 16"));
    }
}
