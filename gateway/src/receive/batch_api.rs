//! Langfuse's batch API on the HTTP port (reference langfuse-legacy.md §1, §5), for SDK 2.x,
//! the JS SDK 3.x, LangChain/LlamaIndex callbacks, Dify and LiteLLM:
//! `POST /api/public/ingestion` (a batch of typed events, answered 207 with per-event results
//! once the accepted events are durable) and `GET /api/public/projects` (the SDKs' auth
//! check). Errors use Langfuse's JSON shapes; transient ones carry `Retry-After`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::convert::batch_api::Outcome;
use crate::error::IngestError;
use crate::ingest::{Gateway, with_timeout};
use crate::observe::{BATCH_API_EVENTS, RequestMetrics};
use crate::receive::http::{admit_then_read, header_str, sdk_info};

/// The batch API's routes (state: the gateway).
pub fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/api/public/ingestion", post(ingestion))
        .route("/api/public/projects", get(projects))
}

async fn ingestion(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut metrics = RequestMetrics::start(BATCH_API_EVENTS, "http", "json");
    let result = with_timeout(
        &gateway.limits,
        ingest(&gateway, &headers, body, &mut metrics),
    )
    .await;
    metrics.finish(result.as_ref().map(|outcomes| {
        outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Invalid(_)))
            .count() as u64
    }));
    match result {
        Ok(outcomes) => (StatusCode::MULTI_STATUS, axum::Json(answer(&outcomes))).into_response(),
        Err(error) => {
            tracing::info!(signal = "batch_api", protocol = "http", reason = error.reason(), %error, "batch API request rejected");
            error_response(&error)
        }
    }
}

async fn ingest(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Body,
    metrics: &mut RequestMetrics,
) -> Result<Vec<(String, Outcome)>, IngestError> {
    let mut admitted = admit_then_read(gateway, headers, body, Ok(())).await?;
    let plain = admitted.decompress(headers)?;
    let batch = parse_batch(&plain)?;
    metrics.decoded(plain.len(), batch.len() as u64);
    drop(plain);
    admitted.drop_body();
    gateway
        .ingest_batch(&admitted.project, &sdk_info(headers), &batch)
        .await
}

/// The request body: `{batch: [...], metadata?}` (top-level `metadata` is ignored, as in
/// Langfuse).
fn parse_batch(body: &[u8]) -> Result<Vec<Value>, IngestError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| IngestError::BadRequest(format!("the body is not JSON: {error}")))?;
    match value {
        Value::Object(mut object) => match object.remove("batch") {
            Some(Value::Array(batch)) => Ok(batch),
            _ => Err(IngestError::BadRequest(
                "the body must be an object with a `batch` array of events".into(),
            )),
        },
        _ => Err(IngestError::BadRequest(
            "the body must be an object with a `batch` array of events".into(),
        )),
    }
}

/// Langfuse's 207 body: accepted events in `successes` (201), invalid ones in `errors` (400),
/// `sdk-log` events in neither.
fn answer(outcomes: &[(String, Outcome)]) -> Value {
    let mut successes = Vec::new();
    let mut errors = Vec::new();
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Accepted => successes.push(json!({"id": id, "status": 201})),
            Outcome::Invalid(message) => errors.push(json!({
                "id": id,
                "status": 400,
                "message": "Invalid request data",
                "error": message,
            })),
            Outcome::SdkLog => {}
        }
    }
    json!({"successes": successes, "errors": errors})
}

/// Langfuse's error name for a request-level status.
fn error_name(error: &IngestError) -> &'static str {
    match error {
        IngestError::Unauthenticated(_) => "UnauthorizedError",
        IngestError::Forbidden(_) => "ForbiddenError",
        IngestError::BadRequest(_) => "InvalidRequestError",
        IngestError::UnsupportedMediaType(_) => "UnsupportedMediaTypeError",
        IngestError::PayloadTooLarge { .. } => "PayloadTooLargeError",
        IngestError::Unavailable(_) => "ServiceUnavailableError",
        IngestError::RateLimited { .. } => "TooManyRequestsError",
    }
}

/// A request-level error in Langfuse's shape: `{message, errors}` for a malformed body,
/// `{error, message}` otherwise; `Retry-After` when the client should retry.
fn error_response(error: &IngestError) -> Response {
    let body = match error {
        IngestError::BadRequest(message) => {
            json!({"message": "Invalid request data", "errors": [message]})
        }
        other => json!({"error": error_name(other), "message": other.to_string()}),
    };
    with_retry_after(
        error,
        (error.http_status(), axum::Json(body)).into_response(),
    )
}

fn with_retry_after(error: &IngestError, mut response: Response) -> Response {
    if let Some(secs) = error.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `GET /api/public/projects`: the key's project in Langfuse's shape (§5), with its
/// organisation from the key lookup; project metadata is not kept, so it is `{}`.
async fn projects(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let project = match gateway
        .auth
        .authenticate(header_str(&headers, "authorization"))
        .await
    {
        Ok(project) => project,
        Err(error) => {
            let body = json!({"message": error.to_string()});
            return with_retry_after(
                &error,
                (error.http_status(), axum::Json(body)).into_response(),
            );
        }
    };
    axum::Json(json!({
        "data": [{
            "id": project.project_id,
            "name": project.project_name,
            "organization": {"id": project.organization_id, "name": project.organization_name},
            "metadata": {},
        }]
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_lists_successes_and_errors_and_leaves_out_sdk_logs() {
        let outcomes = vec![
            ("a".to_owned(), Outcome::Accepted),
            (
                "b".to_owned(),
                Outcome::Invalid("body.name: expected a string".into()),
            ),
            ("c".to_owned(), Outcome::SdkLog),
        ];
        assert_eq!(
            answer(&outcomes),
            json!({
                "successes": [{"id": "a", "status": 201}],
                "errors": [{"id": "b", "status": 400, "message": "Invalid request data",
                            "error": "body.name: expected a string"}],
            })
        );
    }

    #[test]
    fn bodies_without_a_batch_array_are_bad_requests() {
        for body in [&b"not json"[..], b"[]", b"{}", b"{\"batch\": {}}"] {
            assert!(matches!(parse_batch(body), Err(IngestError::BadRequest(_))));
        }
        assert_eq!(
            parse_batch(b"{\"batch\": [], \"metadata\": 1}")
                .unwrap()
                .len(),
            0
        );
    }
}
