//! The tag routes: the paged listing of current tags, the sources, an
//! entity, and imports (admin): an uploaded file, or a run of a source the
//! config's `[tags]` section names.
//!
//! Imports write the tag store, so they take [`ApiState::tag_imports`]
//! first: one import at a time, whether from a request or from the
//! scheduled sources. Readers are not held up (they open the store
//! read-only and see the active versions).

use std::io::Write as _;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chainsleuth_tags::{
    Category, Confidence, Defaults, Format, ImportOptions, ImportReport, Mapping, SourceInfo, SyncReport, TagChain,
    TagFilter, TagPage, TagStore, TagsError, MAX_LIST_PAGE,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::routes::{blocking, path_error, query_error};
use crate::stores::open_tags;
use crate::{ApiState, Caller, Role};

/// Tags per listing page when `limit` is not given.
const DEFAULT_TAGS_LIMIT: usize = 100;

/// Query parameters of the tag listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsParams {
    chain: Option<String>,
    category: Option<String>,
    entity: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// Query parameters of an uploaded import, as `chainsleuth tags import`
/// takes them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    format: Option<String>,
    source: Option<String>,
    category: Option<String>,
    entity: Option<String>,
    chain: Option<String>,
    confidence: Option<String>,
    mapping: Option<String>,
    skip_invalid: Option<String>,
    btc_network: Option<String>,
}

/// The body of an import of a configured source.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSource {
    /// The name of a `[[tags.source]]` of the server's configuration.
    pub source: String,
}

/// Parses the optional query field `field` with `parse`, a 400 naming it.
fn field<T, E: std::fmt::Display>(
    field: &'static str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, ApiError> {
    text.map(|text| parse(text).map_err(|err| ApiError::bad_request(invalid_code(field), field, err))).transpose()
}

/// The error code of a bad value of query field `field`.
fn invalid_code(field: &str) -> &'static str {
    match field {
        "chain" => "invalid_chain",
        "category" => "invalid_category",
        "format" => "invalid_format",
        "limit" => "invalid_limit",
        _ => "invalid_query",
    }
}

/// An import's failure: the file's faults are 400s about the body, bad
/// options 400s about their field; the rest is the server's.
fn import_error(err: TagsError) -> ApiError {
    match err {
        TagsError::InvalidRows { .. }
        | TagsError::Malformed { .. }
        | TagsError::LineTooLong { .. }
        | TagsError::Empty { .. } => ApiError::bad_request("invalid_file", "body", &err),
        TagsError::Config { field, reason } => ApiError::bad_request(invalid_code(&field), &field, reason),
        other => ApiError::from(other),
    }
}

/// `GET /v1/tags?chain=&category=&entity=&cursor=&limit=`.
#[utoipa::path(get, path = "/v1/tags", tag = "tags",
    params(
        ("chain" = Option<String>, Query, description = "Only tags of addresses on this chain (btc, eth, ltc...)"),
        ("category" = Option<String>, Query, description = "Only tags of this category of the taxonomy (exchange, sanctioned...)"),
        ("entity" = Option<String>, Query, description = "Only tags of this entity (its name or an alias, any case)"),
        ("cursor" = Option<String>, Query, description = "The next_cursor of the previous page, with the same filters"),
        ("limit" = Option<u32>, Query, description = "Tags per page, 1 to 1000 [default: 100]"),
    ),
    responses(
        (status = 200, description = "`{tags, next_cursor}`: current tags in key order (chain, address, source), \
each with its source, version, file, line and import time. A page examines at most 100000 rows, so a rare \
category can give a short page that still has a `next_cursor`; `null` on the last page.", body = serde_json::Value),
        (status = 400, description = "Bad input: the message names the field", body = ErrorBody),
    ))]
pub async fn list_tags(
    State(state): State<ApiState>,
    params: Result<Query<TagsParams>, QueryRejection>,
) -> Result<Json<TagPage>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let filter = TagFilter {
        chain: field("chain", params.chain.as_deref(), str::parse::<TagChain>)?,
        category: field("category", params.category.as_deref(), str::parse::<Category>)?,
        entity: params.entity,
    };
    let limit = field("limit", params.limit.as_deref(), |text| {
        text.parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_PAGE).contains(n))
            .ok_or_else(|| format!("expected a whole number from 1 to {MAX_LIST_PAGE}, got {text:?}"))
    })?
    .unwrap_or(DEFAULT_TAGS_LIMIT);
    blocking(move || {
        if !TagStore::path_in(&state.data_dir).exists() {
            return match params.cursor {
                Some(cursor) => Err(ApiError::from(TagsError::BadCursor(cursor))),
                None => Ok(TagPage { tags: Vec::new(), next_cursor: None }),
            };
        }
        Ok(open_tags(&state.data_dir)?.list(&filter, params.cursor.as_deref(), limit)?)
    })
    .await
    .map(Json)
}

/// `GET /v1/tags/sources`: every tag source, empty before the first import.
#[utoipa::path(get, path = "/v1/tags/sources", tag = "tags",
    responses((status = 200, description = "Every tag source with its versions (`tags sources --json`)",
        body = serde_json::Value)))]
pub async fn tag_sources(State(state): State<ApiState>) -> Result<Json<Vec<SourceInfo>>, ApiError> {
    blocking(move || {
        if !TagStore::path_in(&state.data_dir).exists() {
            return Ok(Vec::new());
        }
        Ok(open_tags(&state.data_dir)?.sources()?)
    })
    .await
    .map(Json)
}

/// `GET /v1/entities/{name}`: an entity's records and tags.
#[utoipa::path(get, path = "/v1/entities/{name}", tag = "tags",
    params(("name" = String, Path, description = "The entity's id, name or an alias (any case)")),
    responses(
        (status = 200, description = "`{id, records, tags}` (`entity NAME --json`)", body = serde_json::Value),
        (status = 404, description = "No such entity", body = ErrorBody),
    ))]
pub async fn entity(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<chainsleuth_tags::EntityView>, ApiError> {
    let Path(name) = path.map_err(path_error)?;
    blocking(move || {
        open_tags(&state.data_dir)?
            .entity(&name)?
            .ok_or_else(|| ApiError::not_found("unknown_entity", "name", format!("no entity called {name:?}")))
    })
    .await
    .map(Json)
}

/// What an import request asks for.
enum ImportJob {
    /// The body is the file.
    Upload { format: Format, source: String, options: ImportOptions, network: bitcoin::Network },
    /// A configured source, run now.
    Configured { source: String },
}

impl ImportJob {
    fn parse(params: ImportParams, body: &[u8]) -> Result<ImportJob, ApiError> {
        let Some(format) = params.format.as_deref() else {
            return ImportJob::configured(params, body);
        };
        let format = format.parse::<Format>().map_err(import_error)?;
        let source = params.source.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                "source",
                "an upload needs ?source=NAME (each import is a version of it)",
            )
        })?;
        let skip_invalid = field("skip_invalid", params.skip_invalid.as_deref(), |text| match text {
            "" | "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(format!("expected true or false, got {other:?}")),
        })?;
        let options = ImportOptions {
            skip_invalid: skip_invalid.unwrap_or(false),
            mapping: params
                .mapping
                .as_deref()
                .map(Mapping::parse)
                .transpose()
                .map_err(import_error)?
                .unwrap_or_default(),
            defaults: Defaults {
                category: field("category", params.category.as_deref(), str::parse::<Category>)?,
                entity: params.entity,
                chain: field("chain", params.chain.as_deref(), str::parse::<TagChain>)?,
                confidence: field("confidence", params.confidence.as_deref(), str::parse::<Confidence>)?,
            },
            file_label: Some(format!("upload of {} bytes", body.len())),
            ..ImportOptions::default()
        };
        let network = field("btc_network", params.btc_network.as_deref(), chainsleuth_tags::address::parse_network)?
            .unwrap_or(bitcoin::Network::Bitcoin);
        Ok(ImportJob::Upload { format, source, options, network })
    }

    /// `{"source": NAME}` with no other query parameter.
    fn configured(params: ImportParams, body: &[u8]) -> Result<ImportJob, ApiError> {
        let ImportParams { source, category, entity, chain, confidence, mapping, skip_invalid, btc_network, .. } =
            params;
        let given = [
            ("source", source),
            ("category", category),
            ("entity", entity),
            ("chain", chain),
            ("confidence", confidence),
            ("mapping", mapping),
            ("skip_invalid", skip_invalid),
            ("btc_network", btc_network),
        ];
        if let Some((name, _)) = given.iter().find(|(_, value)| value.is_some()) {
            return Err(ApiError::bad_request(
                "invalid_query",
                name,
                "only an upload (with ?format=) takes query parameters; a configured source takes none",
            ));
        }
        let request: ImportSource = serde_json::from_slice(body).map_err(|err| {
            ApiError::bad_request(
                "invalid_body",
                "body",
                format!("expected {{\"source\": NAME}} naming a configured source, or an upload with ?format=&source=: {err}"),
            )
        })?;
        Ok(ImportJob::Configured { source: request.source })
    }
}

/// `POST /v1/tags/imports`: an import, run now, one at a time.
#[utoipa::path(post, path = "/v1/tags/imports", tag = "tags", security(("bearer" = ["admin"])),
    params(
        ("format" = Option<String>, Query, description = "Upload: the body's format, csv, jsonl, tagpack, actorpack, ofac-sdn or list. Without it the body is `{\"source\": NAME}`"),
        ("source" = Option<String>, Query, description = "Upload: the source this file is the next version of"),
        ("category" = Option<String>, Query, description = "Upload: category of records without one (required for lists)"),
        ("entity" = Option<String>, Query, description = "Upload: entity of records without one"),
        ("chain" = Option<String>, Query, description = "Upload: chain of records without one (btc, eth, ltc...)"),
        ("confidence" = Option<String>, Query, description = "Upload: confidence of records without one, 0-100 or a GraphSense level"),
        ("mapping" = Option<String>, Query, description = "Upload: columns (CSV) or keys (JSONL) of fields, field=column,..."),
        ("skip_invalid" = Option<bool>, Query, description = "Upload: import the valid rows and report the invalid ones"),
        ("btc_network" = Option<String>, Query, description = "Upload: the Bitcoin network addresses belong to [default: bitcoin]"),
    ),
    request_body(content = ImportSource, description = "A configured source to run now (`{\"source\": NAME}`), or, with \
?format=, the file itself (any content type, within the server's body limit; larger lists are imported from a \
configured source, which streams from disk)"),
    responses(
        (status = 200, description = "Upload: the import report (`tags import --json`: version, added, retired, \
unchanged, per chain, invalid rows). Configured source: `{source, outcome, ...}` as `tags sync --json` reports it, \
`outcome` one of imported, not_modified, failed (with `error`; the previous version stays active)",
            body = serde_json::Value),
        (status = 400, description = "Bad parameters or a bad file: the message names the field (`body` for the file)", body = ErrorBody),
        (status = 403, description = "The token is not an admin's", body = ErrorBody),
        (status = 404, description = "No such configured source", body = ErrorBody),
        (status = 413, description = "The upload is larger than the server's body limit", body = ErrorBody),
    ))]
pub async fn import_tags(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<ImportParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Admin)?;
    let Query(params) = params.map_err(query_error)?;
    let body = body.map_err(|rejection| ApiError {
        status: rejection.status(),
        code: if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE { "body_too_large" } else { "invalid_body" },
        message: format!("body: {}", rejection.body_text()),
    })?;
    let job = ImportJob::parse(params, &body)?;
    let config = state.tags_config.clone();
    let guard = state.tag_imports.clone().lock_owned().await;
    blocking(move || {
        let _one_at_a_time = guard;
        let path = TagStore::path_in(&state.data_dir);
        match job {
            ImportJob::Upload { format, source, options, network } => {
                let mut file = tempfile::NamedTempFile::new()
                    .map_err(|err| ApiError::internal("creating a file for the upload", &err))?;
                file.write_all(&body).map_err(|err| ApiError::internal("writing the upload to a file", &err))?;
                let store = TagStore::open(&path).map_err(import_error)?.with_network(network);
                let report: ImportReport =
                    store.import(file.path(), format, &source, &options).map_err(import_error)?;
                Ok(serde_json::json!(report))
            }
            ImportJob::Configured { source } => {
                let config = config.ok_or_else(|| {
                    ApiError::not_found("unknown_source", "source", "this server's config has no [[tags.source]]")
                })?;
                let store = TagStore::open(&path).map_err(import_error)?.with_network(config.network()?);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_secs());
                let report: SyncReport = store.sync_source(&config, &source, now).map_err(import_error)?;
                Ok(serde_json::json!(report))
            }
        }
    })
    .await
    .map(Json)
}

/// The routes of this module, each with its OpenAPI entry.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_tags))
        .routes(routes!(tag_sources))
        .routes(routes!(entity))
        .routes(routes!(import_tags))
}
