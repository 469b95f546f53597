//! The read API: `GET /api/public/traces/{id}`, the v1 lists with Langfuse's pages
//! (`GET /api/public/traces`, `/sessions`, `/sessions/{id}`, `/observations`,
//! `/metrics/daily`) and v4's `GET /api/public/v2/observations` (its filters, field groups and
//! cursor pagination: reference langfuse-legacy.md §6.1), in Langfuse's public API shapes
//! ([`shape`]), always scoped to the key's project. Every store answers through the contract's
//! [`TraceReader`], from whichever tables it writes.

pub mod shape;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use spanbridge_proto::{
    Cursor, ObservationQuery, SessionQuery, StoreError, TraceFilter, TraceQuery, TraceReader,
};

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

/// Langfuse's v1 page size: default and most (`publicApiPaginationZod`); a larger `limit` is
/// refused with 400, not capped, so a client never silently gets fewer rows than it asked for.
pub const V1_DEFAULT_LIMIT: usize = 50;
pub const V1_MAX_LIMIT: usize = 100;

/// The most traces `GET /api/public/sessions/{id}` returns (the session's newest).
pub const SESSION_TRACES_MAX: usize = 1000;

/// The orders `GET /api/public/traces` accepts for `orderBy`.
const TRACE_ORDERS: &str = "timestamp.desc, timestamp.asc";

/// A v1 list's page: 1-based, and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page {
    pub page: usize,
    pub limit: usize,
}

impl Page {
    /// Rows before this page.
    pub fn offset(&self) -> usize {
        (self.page - 1).saturating_mul(self.limit)
    }

    /// Langfuse's `meta`.
    pub fn meta(&self, total_items: u64) -> Value {
        json!({
            "page": self.page,
            "limit": self.limit,
            "totalItems": total_items,
            "totalPages": total_items.div_ceil(self.limit as u64),
        })
    }
}

fn time_us(name: &str, value: &str) -> Result<i64, String> {
    crate::convert::vocab::value::parse_timestamp_us(value)
        .ok_or_else(|| format!("{name} must be an ISO-8601 date-time, got {value:?}"))
}

/// `page` and `limit` of a v1 list; the error is the 400 message.
pub fn parse_page(pairs: &[(String, String)]) -> Result<Page, String> {
    let mut page = Page {
        page: 1,
        limit: V1_DEFAULT_LIMIT,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "page" => {
                page.page = value
                    .parse::<usize>()
                    .ok()
                    .filter(|page| (1..=1_000_000).contains(page))
                    .ok_or_else(|| {
                        format!("page must be an integer from 1 to 1000000, got {value:?}")
                    })?
            }
            "limit" => {
                page.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| (1..=V1_MAX_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        format!("limit must be an integer from 1 to {V1_MAX_LIMIT}, got {value:?}")
                    })?
            }
            _ => {}
        }
    }
    Ok(page)
}

/// The trace filters shared by the trace list and daily metrics (`name_key`: `name` or
/// `traceName`); unknown parameters are ignored, as Langfuse ignores them.
fn parse_trace_filter(pairs: &[(String, String)], name_key: &str) -> Result<TraceFilter, String> {
    let mut filter = TraceFilter::default();
    for (name, value) in pairs {
        let text = Some(value.clone());
        match name.as_str() {
            key if key == name_key => filter.name = text,
            "userId" => filter.user_id = text,
            "sessionId" => filter.session_id = text,
            "tags" => filter.tags.push(value.clone()),
            "environment" => filter.environments.push(value.clone()),
            "fromTimestamp" => filter.from_us = Some(time_us(name, value)?),
            "toTimestamp" => filter.to_us = Some(time_us(name, value)?),
            _ => {}
        }
    }
    Ok(filter)
}

/// `GET /api/public/traces`' parameters; the error is the 400 message.
pub fn parse_traces(pairs: &[(String, String)]) -> Result<(TraceQuery, Page), String> {
    let page = parse_page(pairs)?;
    let mut query = TraceQuery {
        filter: parse_trace_filter(pairs, "name")?,
        offset: page.offset(),
        limit: page.limit,
        ..Default::default()
    };
    for (name, value) in pairs {
        if name == "orderBy" {
            query.ascending = match value.as_str() {
                "timestamp.desc" => false,
                "timestamp.asc" => true,
                _ => {
                    return Err(format!(
                        "orderBy {value:?} is not supported; accepted: {TRACE_ORDERS}"
                    ));
                }
            }
        }
    }
    Ok((query, page))
}

/// `GET /api/public/sessions`' parameters.
pub fn parse_sessions(pairs: &[(String, String)]) -> Result<(SessionQuery, Page), String> {
    let page = parse_page(pairs)?;
    let mut query = SessionQuery {
        offset: page.offset(),
        limit: page.limit,
        ..Default::default()
    };
    for (name, value) in pairs {
        match name.as_str() {
            "environment" => query.environments.push(value.clone()),
            "fromTimestamp" => query.from_us = Some(time_us(name, value)?),
            "toTimestamp" => query.to_us = Some(time_us(name, value)?),
            _ => {}
        }
    }
    Ok((query, page))
}

/// `GET /api/public/observations`' v1 filters and page.
pub fn parse_observations_v1(
    pairs: &[(String, String)],
) -> Result<(ObservationQuery, Page), String> {
    let page = parse_page(pairs)?;
    let mut query = ObservationQuery {
        offset: page.offset(),
        limit: page.limit,
        ..Default::default()
    };
    for (name, value) in pairs {
        let text = Some(value.clone());
        match name.as_str() {
            "traceId" => query.trace_id = text,
            "type" => query.r#type = text,
            "name" => query.name = text,
            "userId" => query.user_id = text,
            "version" => query.version = text,
            "parentObservationId" => query.parent_observation_id = text,
            "environment" => query.environments.push(value.clone()),
            "fromStartTime" => query.from_start_time_us = Some(time_us(name, value)?),
            "toStartTime" => query.to_start_time_us = Some(time_us(name, value)?),
            _ => {}
        }
    }
    Ok((query, page))
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
        .route("/api/public/traces", get(list_traces))
        .route("/api/public/sessions", get(list_sessions))
        .route("/api/public/sessions/{session_id}", get(get_session))
        .route("/api/public/metrics/daily", get(daily_metrics))
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

/// The project of the request's key: every read route takes it as an argument, so none can
/// answer without a valid key (the same key cache as ingestion); a bad key is its 401/403.
struct KeyProject(Project);

impl FromRequestParts<ReadApi> for KeyProject {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &ReadApi) -> Result<Self, Response> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        api.gateway
            .auth
            .authenticate(authorization)
            .await
            .map(KeyProject)
            .map_err(|error| api_error(error.http_status(), &error.to_string()))
    }
}

fn store_unavailable(error: StoreError) -> Response {
    if let StoreError::Unsupported { .. } = error {
        return api_error(StatusCode::NOT_IMPLEMENTED, &error.to_string());
    }
    tracing::warn!(%error, "read query failed");
    api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is unavailable, retry later",
    )
}

async fn get_trace(
    State(api): State<ReadApi>,
    KeyProject(project): KeyProject,
    Path(trace_id): Path<String>,
) -> Response {
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

/// Every observation of one trace, by start time: the answer to a call with only `traceId`
/// (what this route answered before it had pages).
async fn observations_of_trace(api: &ReadApi, project_id: &str, trace_id: &str) -> Response {
    match api.reader.rows_of_trace(project_id, trace_id).await {
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

async fn list_observations(
    State(api): State<ReadApi>,
    KeyProject(project): KeyProject,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let project_id = &project.project_id;
    if let [(name, trace_id)] = pairs.as_slice()
        && name == "traceId"
        && !trace_id.is_empty()
    {
        return observations_of_trace(&api, project_id, trace_id).await;
    }
    let (query, page) = match parse_observations_v1(&pairs) {
        Ok(parsed) => parsed,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, &message),
    };
    let (rows, total) = tokio::join!(
        api.reader.list_observations(project_id, &query),
        api.reader.count_observations(project_id, &query)
    );
    match (rows, total) {
        (Ok(rows), Ok(total)) => {
            let data: Vec<Value> = rows
                .iter()
                .filter(|r| !shape::is_trace_row(r))
                .map(shape::observation)
                .collect();
            axum::Json(json!({"data": data, "meta": page.meta(total)})).into_response()
        }
        (Err(error), _) | (_, Err(error)) => store_unavailable(error),
    }
}

async fn list_traces(
    State(api): State<ReadApi>,
    KeyProject(project): KeyProject,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (query, page) = match parse_traces(&pairs) {
        Ok(parsed) => parsed,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, &message),
    };
    let project_id = &project.project_id;
    match api.reader.list_traces(project_id, &query).await {
        Ok(listed) => {
            let data: Vec<Value> = listed
                .traces
                .iter()
                .filter_map(|trace| shape::listed_trace(trace, project_id))
                .collect();
            axum::Json(json!({"data": data, "meta": page.meta(listed.total_items)})).into_response()
        }
        Err(error) => store_unavailable(error),
    }
}

async fn list_sessions(
    State(api): State<ReadApi>,
    KeyProject(project): KeyProject,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (query, page) = match parse_sessions(&pairs) {
        Ok(parsed) => parsed,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, &message),
    };
    let project_id = &project.project_id;
    match api.reader.list_sessions(project_id, &query).await {
        Ok(listed) => {
            let data: Vec<Value> = listed
                .sessions
                .iter()
                .map(|session| shape::session(session, project_id))
                .collect();
            axum::Json(json!({"data": data, "meta": page.meta(listed.total_items)})).into_response()
        }
        Err(error) => store_unavailable(error),
    }
}

/// The session with its traces (the newest [`SESSION_TRACES_MAX`], oldest first).
async fn get_session(
    State(api): State<ReadApi>,
    KeyProject(project): KeyProject,
    Path(session_id): Path<String>,
) -> Response {
    let project_id = &project.project_id;
    let query = TraceQuery {
        filter: TraceFilter {
            session_id: Some(session_id.clone()),
            ..Default::default()
        },
        limit: SESSION_TRACES_MAX,
        ..Default::default()
    };
    let listed = match api.reader.list_traces(project_id, &query).await {
        Ok(listed) => listed,
        Err(error) => return store_unavailable(error),
    };
    let mut traces: Vec<Value> = listed
        .traces
        .iter()
        .filter_map(|trace| shape::listed_trace(trace, project_id))
        .collect();
    traces.reverse();
    let Some(first) = traces.first() else {
        return api_error(
            StatusCode::NOT_FOUND,
            &format!("Session {session_id} not found within authorized project"),
        );
    };
    axum::Json(json!({
        "id": session_id,
        "createdAt": first["timestamp"],
        "projectId": project_id,
        "environment": first["environment"],
        "traces": traces,
    }))
    .into_response()
}

async fn daily_metrics(
    State(api): State<ReadApi>,
    KeyProject(project): KeyProject,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let parsed =
        parse_page(&pairs).and_then(|page| Ok((parse_trace_filter(&pairs, "traceName")?, page)));
    let (filter, page) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, &message),
    };
    let rows = match api.reader.daily_metrics(&project.project_id, &filter).await {
        Ok(rows) => rows,
        Err(error) => return store_unavailable(error),
    };
    let mut days: Vec<Value> = Vec::new();
    for row in rows {
        let usage = json!({
            "model": row.model,
            "inputUsage": row.input_usage,
            "outputUsage": row.output_usage,
            "totalUsage": row.total_usage,
            "countTraces": row.count_traces,
            "countObservations": row.count_observations,
            "totalCost": row.total_cost,
        });
        match (row.model.is_some(), days.last_mut()) {
            (true, Some(Value::Object(day))) => {
                if let Some(Value::Array(models)) = day.get_mut("usage") {
                    models.push(usage);
                }
            }
            _ => days.push(json!({
                "date": shape::iso_date(row.day),
                "countTraces": row.count_traces,
                "countObservations": row.count_observations,
                "totalCost": row.total_cost,
                "usage": [],
            })),
        }
    }
    let total = days.len() as u64;
    let data: Vec<Value> = days
        .into_iter()
        .skip(page.offset())
        .take(page.limit)
        .collect();
    axum::Json(json!({"data": data, "meta": page.meta(total)})).into_response()
}

/// v4's observation list: one page of `limit` rows, and `meta.cursor` when there is more.
async fn list_observations_v2(
    State(api): State<ReadApi>,
    KeyProject(project): KeyProject,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
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
    fn v1_lists_page_and_filter_with_langfuse_defaults() {
        let (query, page) = parse_traces(&[]).unwrap();
        assert_eq!(page, Page { page: 1, limit: 50 });
        assert!(!query.ascending);
        let (query, page) = parse_traces(&pairs(&[
            ("page", "3"),
            ("limit", "10"),
            ("tags", "a"),
            ("tags", "b"),
            ("environment", "prod"),
            ("userId", "u"),
            ("orderBy", "timestamp.asc"),
            ("toTimestamp", "2026-08-06T08:00:00Z"),
        ]))
        .unwrap();
        assert_eq!((query.offset, query.limit), (20, 10));
        assert_eq!(query.filter.tags, ["a", "b"]);
        assert_eq!(query.filter.environments, ["prod"]);
        assert_eq!(query.filter.user_id.as_deref(), Some("u"));
        assert_eq!(query.filter.to_us, Some(1_786_003_200_000_000));
        assert!(query.ascending);
        assert_eq!(
            page.meta(21),
            json!({"page": 3, "limit": 10, "totalItems": 21, "totalPages": 3})
        );
    }

    #[test]
    fn bad_v1_parameters_are_refused_with_a_reason() {
        for (bad, says) in [
            (("limit", "101"), "limit must be an integer from 1 to 100"),
            (("limit", "1000000000"), "limit"),
            (("page", "0"), "page"),
            (("page", "-1"), "page"),
            (("orderBy", "latency.desc"), "timestamp.desc, timestamp.asc"),
            (("fromTimestamp", "yesterday"), "fromTimestamp"),
        ] {
            let error = parse_traces(&pairs(&[bad])).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
        assert!(parse_sessions(&pairs(&[("limit", "500")])).is_err());
        assert!(parse_observations_v1(&pairs(&[("fromStartTime", "x")])).is_err());
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
