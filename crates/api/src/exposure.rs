//! `GET /v1/{chain}/exposure/{address}`: of what an address received (or
//! sent), the share that came from (went to) each tagged category and
//! entity; the same answer as `chainsleuth exposure ... --json`, computed
//! by `chainsleuth-case` within the trace jobs' budget.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use chainsleuth_case::{ExposureDirection, ExposureReport, ExposureRequest, ModelChoice};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::routes::{blocking, path_error, query_error};
use crate::ApiState;

/// The exposure route.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(exposure))
}

/// Query parameters of an exposure.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExposureParams {
    /// received (where the funds came from, the default) or sent.
    direction: Option<String>,
    /// Follow at most this many hops, 1 to 1000 [default: 10].
    #[param(value_type = Option<u32>)]
    max_hops: Option<String>,
    /// poison, haircut (the default), fifo or lifo (sent only).
    model: Option<String>,
    /// eth: ETH or a token contract [default: ETH].
    asset: Option<String>,
}

/// Parses a query value as the serde name of `T` (an enum of words).
fn word<T: serde::de::DeserializeOwned>(field: &str, text: &str, expected: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| ApiError::bad_request("invalid_parameter", field, format!("expected {expected}, got {text:?}")))
}

/// `GET /v1/{chain}/exposure/{address}`.
#[utoipa::path(get, path = "/v1/{chain}/exposure/{address}", tag = "traces",
    params(
        ("chain" = String, Path, description = "btc or eth"),
        ("address" = String, Path, description = "The address"),
        ExposureParams,
    ),
    responses(
        (status = 200, description = "`chain`, `address`, `direction`, `max_hops`, `asset`, `unit` (`symbol` and \
`decimals`: the amounts are integers of its smallest unit) and `exposure`: the model, the `total` traced, `rows` \
per category and entity (direct, indirect, total, share), `untagged` and its share; as `chainsleuth exposure \
--json` prints it", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
        (status = 404, description = "Not indexed, or the address has no history", body = ErrorBody),
        (status = 422, description = "The exposure needs more than the trace budget", body = ErrorBody),
    ))]
async fn exposure(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ExposureParams>, QueryRejection>,
) -> Result<Json<ExposureReport>, ApiError> {
    let Path((chain, address)) = path.map_err(path_error)?;
    let Query(params) = query.map_err(query_error)?;
    let direction = match params.direction.as_deref() {
        None => ExposureDirection::Received,
        Some(text) => word("direction", text, "received or sent")?,
    };
    let model = match params.model.as_deref() {
        None => ModelChoice::Haircut,
        Some(text) => word("model", text, "poison, haircut, fifo or lifo")?,
    };
    let max_hops = match params.max_hops.as_deref() {
        None => 10,
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request("invalid_parameter", "max_hops", format!("expected a whole number, got {text:?}"))
        })?,
    };
    let request = ExposureRequest { chain, address, direction, max_hops, model, asset: params.asset };
    blocking(move || {
        let budget = state.jobs.settings().budget();
        Ok(chainsleuth_case::run_exposure(&state.data_dir, &state.case, &request, &budget)?)
    })
    .await
    .map(Json)
}
