//! The read API, for checking what landed: `GET /api/public/traces/{id}`,
//! `GET /api/public/observations?traceId=` and v4's `GET /api/public/v2/observations` (its
//! filters, field groups and cursor pagination: reference langfuse-legacy.md §6.1), in
//! Langfuse's public API shapes ([`shape`]), always scoped to the key's project. Every store
//! answers through the contract's [`TraceReader`], from whichever tables it writes.

pub mod shape;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use spanbridge_proto::{Cursor, ObservationQuery, StoreError, TraceReader};

use crate::auth::Project;
use crate::ingest::Gateway;

/// `GET /api/public/v2/observations`, parsed: the store's query and the field groups the
/// answer shows (`core` is always returned).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservationsV2 {
    pub query: ObservationQuery,
    pub fields: Vec<String>,
}

/// Langfuse's v2 page size: default and most.
const V2_DEFAULT_LIMIT: usize = 50;
const V2_MAX_LIMIT: usize = 1000;

impl ObservationsV2 {
    /// Parses the query string pairs; the error is the 400 message.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut fields = vec!["core".to_owned(), "basic".to_owned()];
        let mut query = ObservationQuery {
            limit: V2_DEFAULT_LIMIT,
            ..Default::default()
        };
        let time = |name: &str, value: &str| {
            crate::convert::vocab::value::parse_timestamp_us(value)
                .ok_or_else(|| format!("{name} must be an ISO-8601 date-time, got {value:?}"))
        };
        for (name, value) in pairs {
            let text = Some(value.clone());
            match name.as_str() {
                "traceId" => query.trace_id = text,
                "type" => query.r#type = text,
                "name" => query.name = text,
                "userId" => query.user_id = text,
                "sessionId" => query.session_id = text,
                "level" => query.level = text,
                "version" => query.version = text,
                "parentObservationId" => query.parent_observation_id = text,
                "isRootObservation" => {
                    query.is_root = Some(match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "isRootObservation must be true or false, got {value:?}"
                            ));
                        }
                    })
                }
                "environment" => query.environments.push(value.clone()),
                "fromStartTime" => query.from_start_time_us = Some(time(name, value)?),
                "toStartTime" => query.to_start_time_us = Some(time(name, value)?),
                "limit" => {
                    query.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|limit| (1..=V2_MAX_LIMIT).contains(limit))
                        .ok_or_else(|| {
                            format!(
                                "limit must be an integer from 1 to {V2_MAX_LIMIT}, got {value:?}"
                            )
                        })?
                }
                "cursor" => {
                    query.after = Some(decode_cursor(value).ok_or("Invalid cursor format")?)
                }
                "fields" => {
                    fields = value
                        .split(',')
                        .map(|group| group.trim().to_owned())
                        .filter(|group| !group.is_empty())
                        .collect()
                }
                "parseIoAsJson" if value == "true" => {
                    return Err("parseIoAsJson is not supported: input and output are returned as stored text".into());
                }
                "filter" => {
                    return Err("the filter parameter is not supported by Spanbridge; use the simple filters (traceId, userId, type, …)".into());
                }
                // Langfuse ignores unknown parameters (and `expandMetadata`: values are never cut here).
                _ => {}
            }
        }
        Ok(ObservationsV2 { query, fields })
    }
}

/// The cursor Langfuse sends back: base64 of `{"lastStartTimeTo", "lastTraceId", "lastId"}`.
fn encode_cursor(start_time_iso: &str, trace_id: &str, id: &str) -> String {
    use base64::Engine;
    let json = json!({"lastStartTimeTo": start_time_iso, "lastTraceId": trace_id, "lastId": id});
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

fn decode_cursor(cursor: &str) -> Option<Cursor> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(cursor.trim()))
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let start =
        crate::convert::vocab::value::parse_timestamp_us(value["lastStartTimeTo"].as_str()?)?;
    Some(Cursor {
        start_time_us: start,
        trace_id: value["lastTraceId"].as_str()?.to_owned(),
        id: value["lastId"].as_str()?.to_owned(),
    })
}

/// What the read routes need: the gateway's authenticator (the same key cache as ingestion)
/// and the store's reader.
#[derive(Clone)]
pub struct ReadApi {
    pub gateway: Arc<Gateway>,
    pub reader: Arc<dyn TraceReader>,
}

/// The read routes, merged into the HTTP port's router.
pub fn routes(api: ReadApi) -> Router {
    Router::new()
        .route("/api/public/traces/{trace_id}", get(get_trace))
        .route("/api/public/observations", get(list_observations))
        .route("/api/public/v2/observations", get(list_observations_v2))
        .with_state(api)
}

/// Read API errors use Langfuse's public API body `{"message", "error"}`.
fn api_error(status: StatusCode, message: &str) -> Response {
    let error = status.canonical_reason().unwrap_or("Error");
    let mut response = (
        status,
        axum::Json(json!({"message": message, "error": error})),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::RETRY_AFTER_SECS),
        );
    }
    response
}

async fn read_project(gateway: &Gateway, headers: &HeaderMap) -> Result<Project, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    gateway
        .auth
        .authenticate(authorization)
        .await
        .map_err(|error| api_error(error.http_status(), &error.to_string()))
}

fn store_unavailable(error: StoreError) -> Response {
    tracing::warn!(%error, "read query failed");
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is unavailable, retry later",
    )
}

async fn get_trace(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
) -> Response {
    let project = match read_project(&api.gateway, &headers).await {
        Ok(project) => project,
        Err(response) => return response,
    };
    let project_id = &project.project_id;
    let rows = match api.reader.rows_of_trace(project_id, &trace_id).await {
        Ok(rows) => rows,
        Err(error) => return store_unavailable(error),
    };
    let Some(mut trace) = shape::trace(&rows) else {
        return api_error(
            StatusCode::NOT_FOUND,
            &format!("Trace {trace_id} not found within authorized project"),
        );
    };
    match api.reader.scores_of_trace(project_id, &trace_id).await {
        Ok(scores) => {
            shape::attach_scores(&mut trace, &rows, &scores);
            axum::Json(trace).into_response()
        }
        Err(error) => store_unavailable(error),
    }
}

#[derive(Deserialize)]
struct ObservationsQuery {
    #[serde(rename = "traceId")]
    trace_id: Option<String>,
}

async fn list_observations(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Query(query): Query<ObservationsQuery>,
) -> Response {
    let project = match read_project(&api.gateway, &headers).await {
        Ok(project) => project,
        Err(response) => return response,
    };
    let Some(trace_id) = query.trace_id.filter(|id| !id.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "the traceId query parameter is required",
        );
    };
    match api
        .reader
        .rows_of_trace(&project.project_id, &trace_id)
        .await
    {
        Ok(rows) => {
            let data = shape::observations(&rows);
            let total = data.len();
            axum::Json(json!({
                "data": data,
                "meta": {"page": 1, "limit": total, "totalItems": total, "totalPages": 1},
            }))
            .into_response()
        }
        Err(error) => store_unavailable(error),
    }
}

/// v4's observation list: one page of `limit` rows, and `meta.cursor` when there is more.
async fn list_observations_v2(
    State(api): State<ReadApi>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let project = match read_project(&api.gateway, &headers).await {
        Ok(project) => project,
        Err(response) => return response,
    };
    let ObservationsV2 { mut query, fields } = match ObservationsV2::parse(&pairs) {
        Ok(parsed) => parsed,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, &message),
    };
    let page = query.limit;
    // One more row than the page tells whether there is a next page.
    query.limit = page + 1;
    match api
        .reader
        .list_observations(&project.project_id, &query)
        .await
    {
        Ok(rows) => {
            let more = rows.len() > page;
            let groups: Vec<&str> = fields.iter().map(String::as_str).collect();
            let data: Vec<Value> = rows
                .iter()
                .take(page)
                .map(|row| shape::observation_v2(row, &groups))
                .collect();
            let cursor = data.last().filter(|_| more).and_then(|last| {
                Some(encode_cursor(
                    last["startTime"].as_str()?,
                    last["traceId"].as_str()?,
                    last["id"].as_str()?,
                ))
            });
            let meta = match cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            axum::Json(json!({"data": data, "meta": meta})).into_response()
        }
        Err(error) => store_unavailable(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn v2_parameters_parse_with_langfuse_defaults() {
        let parsed = ObservationsV2::parse(&[]).unwrap();
        assert_eq!(parsed.query.limit, 50);
        assert_eq!(parsed.fields, ["core", "basic"]);
        let ObservationsV2 { query, fields } = ObservationsV2::parse(&pairs(&[
            ("traceId", "t"),
            ("environment", "a"),
            ("environment", "b"),
            ("isRootObservation", "true"),
            ("fromStartTime", "2026-08-06T08:00:00.123Z"),
            ("limit", "2"),
            ("fields", "core,io"),
        ]))
        .unwrap();
        assert_eq!(query.trace_id.as_deref(), Some("t"));
        assert_eq!(query.environments, ["a", "b"]);
        assert_eq!(query.is_root, Some(true));
        assert_eq!(query.from_start_time_us, Some(1_786_003_200_123_000));
        assert_eq!(query.limit, 2);
        assert_eq!(fields, ["core", "io"]);
    }

    #[test]
    fn bad_v2_parameters_are_refused_with_a_reason() {
        for (bad, says) in [
            (("limit", "0"), "limit"),
            (("limit", "1001"), "limit"),
            (("cursor", "not-base64!"), "Invalid cursor format"),
            (("fromStartTime", "yesterday"), "fromStartTime"),
            (("parseIoAsJson", "true"), "parseIoAsJson"),
            (("isRootObservation", "yes"), "isRootObservation"),
        ] {
            let error = ObservationsV2::parse(&pairs(&[bad])).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn the_cursor_round_trips() {
        let cursor = encode_cursor("2026-08-06T08:00:02.123Z", "t1", "s1");
        assert_eq!(
            decode_cursor(&cursor),
            Some(Cursor {
                start_time_us: 1_786_003_202_123_000,
                trace_id: "t1".into(),
                id: "s1".into(),
            })
        );
    }
}
