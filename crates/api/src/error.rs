//! The API's one error type: a stable snake_case `code`, a `message` that
//! names the bad field and value, and the HTTP status that goes with them.
//! The query crates' error enums map onto it here, in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chainsleuth_btc::index::IndexError;
use chainsleuth_eth::QueryError;
use chainsleuth_tags::TagsError;
use serde::Serialize;

/// An error answered as `{"code": ..., "message": ...}` with its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable snake_case code clients can match on.
    pub code: &'static str,
    /// What went wrong, naming the field and the value.
    pub message: String,
}

/// The JSON body of every error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code.
    pub code: String,
    /// What went wrong, starting with the field it is about.
    pub message: String,
}

impl ApiError {
    /// A 400 about request field `field`.
    pub fn bad_request(code: &'static str, field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code, message: format!("{field}: {why}") }
    }

    /// A 404 about what request field `field` names.
    pub fn not_found(code: &'static str, field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, code, message: format!("{field}: {why}") }
    }

    /// A 401: no token, or not one of the configured ones. The message never
    /// repeats what was sent.
    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "Authorization: send the header `Authorization: Bearer <token>` with a configured token"
                .to_owned(),
        }
    }

    /// A 403: the token's role `has` is below the `needed` one.
    pub fn forbidden(needed: crate::Role, has: crate::Role) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: format!(
                "Authorization: this needs a token with role {} or above; this token's role is {}",
                needed.as_str(),
                has.as_str()
            ),
        }
    }

    /// A 500 for a failure of `what`; the cause goes to the log, not to the client.
    pub fn internal(what: &str, cause: &(dyn std::error::Error + 'static)) -> ApiError {
        tracing::error!(error = %chainsleuth_tags::error_chain(cause), "{what} failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: format!("{what} failed; the log has the details"),
        }
    }

    /// A 500 for a store whose rows contradict each other.
    fn corrupt(cause: &(dyn std::error::Error + 'static)) -> ApiError {
        tracing::error!(error = %chainsleuth_tags::error_chain(cause), "corrupt index");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "corrupt_index",
            message: "the index is damaged; the log has the details".to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { code: self.code.to_owned(), message: self.message })).into_response()
    }
}

impl From<IndexError> for ApiError {
    fn from(err: IndexError) -> ApiError {
        match err {
            IndexError::InvalidAddress { .. } => ApiError::bad_request("invalid_address", "address", &err),
            IndexError::InvalidTxid(_) => ApiError::bad_request("invalid_txid", "id", &err),
            IndexError::BadCursor(_) => ApiError::bad_request("invalid_cursor", "cursor", &err),
            IndexError::UnknownTx(_) => ApiError::not_found("unknown_tx", "id", &err),
            IndexError::UnknownAddress(_) => ApiError::not_found("unknown_address", "address", &err),
            IndexError::UnknownCluster(_) => ApiError::not_found("unknown_cluster", "id", &err),
            IndexError::UnknownHeights { .. } => ApiError::not_found("unknown_height", "height", &err),
            IndexError::UnknownAddressId(_) | IndexError::UnknownTxNum(_) | IndexError::Corrupt(_) => {
                ApiError::corrupt(&err)
            }
            IndexError::Store(_)
            | IndexError::Io { .. }
            | IndexError::Malformed { .. }
            | IndexError::NetworkMismatch { .. } => ApiError::internal("reading the btc store", &err),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> ApiError {
        match err {
            QueryError::BadAddress(_) => ApiError::bad_request("invalid_address", "address", &err),
            QueryError::BadTxHash(_) => ApiError::bad_request("invalid_txid", "id", &err),
            QueryError::BadAsset(_) => ApiError::bad_request("invalid_asset", "asset", &err),
            QueryError::BadCursor(_) => ApiError::bad_request("invalid_cursor", "cursor", &err),
            QueryError::NotIndexed { .. } => ApiError::not_found("not_found", "id", &err),
            QueryError::Corrupt { .. } => ApiError::corrupt(&err),
            QueryError::Store(_) => ApiError::internal("reading the eth store", &err),
        }
    }
}

impl From<TagsError> for ApiError {
    fn from(err: TagsError) -> ApiError {
        match err {
            TagsError::Address(_) => {
                ApiError::bad_request("invalid_address", "address", chainsleuth_tags::error_chain(&err))
            }
            TagsError::UnknownSource(_) => ApiError::not_found("unknown_source", "source", &err),
            TagsError::BadCursor(_) => ApiError::bad_request("invalid_cursor", "cursor", &err),
            TagsError::UnknownVersion { .. } => ApiError::not_found("unknown_version", "version", &err),
            _ => ApiError::internal("reading the tag store", &err),
        }
    }
}

impl From<chainsleuth_case::CaseError> for ApiError {
    fn from(err: chainsleuth_case::CaseError) -> ApiError {
        use chainsleuth_case::CaseError;
        match err {
            CaseError::Invalid(e) => {
                ApiError { status: StatusCode::BAD_REQUEST, code: "invalid_parameter", message: e.to_string() }
            }
            CaseError::NotFound(e) => {
                ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message: e.to_string() }
            }
            CaseError::NotIndexed(_) => ApiError::not_found("not_indexed", "chain", &err),
            CaseError::Stopped(stopped) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "over_budget",
                message: format!("max_hops: {stopped}; ask fewer hops or a shorter window"),
            },
            CaseError::Store { .. } => ApiError::internal("reading the stores for a trace", &err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_codes_and_statuses() {
        let bad = ApiError::from(IndexError::BadCursor("zz".into()));
        assert_eq!((bad.status, bad.code), (StatusCode::BAD_REQUEST, "invalid_cursor"));
        assert!(bad.message.starts_with("cursor: ") && bad.message.contains("\"zz\""), "{}", bad.message);
        let missing = ApiError::from(QueryError::NotIndexed { what: "transaction", id: "0xab".into() });
        assert_eq!(missing.message, "id: transaction 0xab is not in the eth index");
        assert_eq!((missing.status, missing.code), (StatusCode::NOT_FOUND, "not_found"));
        let corrupt = ApiError::from(IndexError::Corrupt("row 7".into()));
        assert_eq!(corrupt.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!corrupt.message.contains("row 7"));
    }
}
