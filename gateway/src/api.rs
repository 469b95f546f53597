//! The read API, for checking what landed: `GET /api/public/traces/{id}` and
//! `GET /api/public/observations?traceId=`, in Langfuse's public API shape, always scoped to the
//! key's project. The store answers through the [`TraceReader`] seam.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Project;
use crate::error::BackendUnavailable;
use crate::ingest::Gateway;

/// Queries the event store, always scoped to one project.
#[async_trait]
pub trait TraceReader: Send + Sync + 'static {
    /// The trace with its `observations`, or None when the project has no such trace.
    async fn trace(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Option<Value>, BackendUnavailable>;
    /// The observations of one trace, ordered by start time.
    async fn observations(
        &self,
        project_id: &str,
        trace_id: &str,
    ) -> Result<Vec<Value>, BackendUnavailable>;
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

fn store_unavailable(error: BackendUnavailable) -> Response {
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
    match api.reader.trace(&project.project_id, &trace_id).await {
        Ok(Some(trace)) => axum::Json(trace).into_response(),
        Ok(None) => api_error(
            StatusCode::NOT_FOUND,
            &format!("Trace {trace_id} not found within authorized project"),
        ),
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
        .observations(&project.project_id, &trace_id)
        .await
    {
        Ok(data) => {
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
