//! `POST /api/public/scores`, where Langfuse SDK 5.x sends every score (batched, a JSON array)
//! and older clients send one score object. Same admission, auth, body limit, decompression,
//! rate limit and metrics as the OTLP intakes; each score is parsed by
//! [`crate::convert::score::parse_score`] and the valid ones published through
//! [`Gateway::ingest_scores`] before the answer:
//!
//! | request | answer |
//! |---|---|
//! | array, every score valid (or empty) | 202 `{"message": "Accepted"}` |
//! | array with invalid scores | 207 `{"accepted", "rejected", "errors": [{"message"}]}`; the valid ones are stored |
//! | one valid object | 200 `{"id"}` |
//! | one invalid object, not JSON, neither object nor array | 400 |
//! | bad key 401, body over the limit 413, rate limit 429, overload or store down 503 | `{"message", "error"}`, `Retry-After` on 429/503 |
//!
//! The SDK does not retry a 207, so one bad score never holds back the good ones.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde_json::{Value, json};
use spanbridge_proto::Score;

use crate::convert::score::{ScoreContext, parse_score};
use crate::error::IngestError;
use crate::ingest::{Gateway, now_us, with_timeout};
use crate::observe::{self, RequestMetrics};
use crate::receive::http::{admit_then_read, sdk_info};

/// Largest accepted score (encoded), far above any real one (a TEXT value is at most 500
/// characters), so one score always fits a Kafka message with room to spare.
pub const MAX_SCORE_BYTES: usize = 256 * 1024;

/// What the client sent: one score object, or an array of them.
enum Sent {
    One(Value),
    Many(Vec<Value>),
}

/// The answer to a request that was not refused as a whole.
#[derive(Debug, PartialEq)]
enum Answer {
    /// One object, stored under this id.
    Created { id: String },
    /// An array whose every score was stored.
    Accepted,
    /// An array some of whose scores were refused; the others were stored.
    Partial {
        accepted: usize,
        errors: Vec<String>,
    },
}

impl Answer {
    /// Scores refused inside a successful answer (for the metrics).
    fn rejected(&self) -> u64 {
        match self {
            Self::Partial { errors, .. } => errors.len() as u64,
            _ => 0,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Self::Created { id } => (StatusCode::OK, axum::Json(json!({"id": id}))).into_response(),
            Self::Accepted => (
                StatusCode::ACCEPTED,
                axum::Json(json!({"message": "Accepted"})),
            )
                .into_response(),
            Self::Partial { accepted, errors } => {
                let body = json!({
                    "accepted": accepted,
                    "rejected": errors.len(),
                    "errors": errors.iter().map(|message| json!({"message": message})).collect::<Vec<_>>(),
                });
                (StatusCode::MULTI_STATUS, axum::Json(body)).into_response()
            }
        }
    }
}

/// The route handler: measures, bounds the time, answers.
pub async fn post_scores(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut metrics = RequestMetrics::start(observe::SCORES, "http", "json");
    let result = with_timeout(
        &gateway.limits,
        receive(&gateway, &headers, body, &mut metrics),
    )
    .await;
    metrics.finish(result.as_ref().map(Answer::rejected));
    match result {
        Ok(answer) => answer.into_response(),
        Err(error) => {
            tracing::info!(signal = "scores", protocol = "http", reason = error.reason(), %error, "scores rejected");
            error_response(&error)
        }
    }
}

async fn receive(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Body,
    metrics: &mut RequestMetrics,
) -> Result<Answer, IngestError> {
    let mut admitted = admit_then_read(gateway, headers, body, Ok(())).await?;
    let plain = admitted.decompress(headers)?;
    let sent = decode(&plain)?;
    let count = match &sent {
        Sent::One(_) => 1,
        Sent::Many(items) => items.len(),
    };
    metrics.decoded(plain.len(), count as u64);
    drop(plain);
    admitted.drop_body();
    let project = &admitted.project;
    gateway
        .rate_limit
        .check(&project.project_id, count as u64)?;
    let received_at_us = now_us();
    let seed = |index: usize| format!("{}:{received_at_us}:{index}", project.api_key_id);
    let sdk = sdk_info(headers);
    match sent {
        Sent::One(body) => {
            let score = parse(&body, &seed(0), received_at_us).map_err(IngestError::BadRequest)?;
            let id = score.id.clone();
            gateway
                .ingest_scores(project, &sdk, received_at_us, vec![score])
                .await?;
            Ok(Answer::Created { id })
        }
        Sent::Many(bodies) => {
            let mut scores = Vec::with_capacity(bodies.len());
            let mut errors = Vec::new();
            for (index, body) in bodies.iter().enumerate() {
                match parse(body, &seed(index), received_at_us) {
                    Ok(score) => scores.push(score),
                    Err(message) => errors.push(format!("score {index}: {message}")),
                }
            }
            drop(bodies);
            let accepted = scores.len();
            if !scores.is_empty() {
                gateway
                    .ingest_scores(project, &sdk, received_at_us, scores)
                    .await?;
            }
            Ok(if errors.is_empty() {
                Answer::Accepted
            } else {
                Answer::Partial { accepted, errors }
            })
        }
    }
}

/// The body as a score object or an array of them; anything else is a 400.
fn decode(body: &[u8]) -> Result<Sent, IngestError> {
    match serde_json::from_slice(body) {
        Ok(Value::Array(items)) => Ok(Sent::Many(items)),
        Ok(object @ Value::Object(_)) => Ok(Sent::One(object)),
        Ok(_) => Err(IngestError::BadRequest(
            "the body must be a score object or an array of score objects".into(),
        )),
        Err(error) => Err(IngestError::BadRequest(format!(
            "the body is not valid JSON: {error}"
        ))),
    }
}

/// One score for the public endpoint (`source: EVAL` is Langfuse's own), no larger than
/// [`MAX_SCORE_BYTES`].
fn parse(body: &Value, id_seed: &str, received_at_us: i64) -> Result<Score, String> {
    let context = ScoreContext {
        timestamp_us: received_at_us,
        id_seed,
        allow_eval_source: false,
    };
    let score = parse_score(body, &context).map_err(|error| error.to_string())?;
    if score.encoded_len() > MAX_SCORE_BYTES {
        return Err(format!(
            "invalid score: larger than {MAX_SCORE_BYTES} bytes"
        ));
    }
    Ok(score)
}

/// Request-level errors in Langfuse's public API body, `{"message", "error"}`, with
/// `Retry-After` when the client should retry.
fn error_response(error: &IngestError) -> Response {
    let status = error.http_status();
    let body = json!({
        "message": error.to_string(),
        "error": status.canonical_reason().unwrap_or("Error"),
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secs) = error.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_objects_or_arrays() {
        assert!(matches!(decode(br#"{"name": "n"}"#), Ok(Sent::One(_))));
        assert!(matches!(decode(b"[]"), Ok(Sent::Many(items)) if items.is_empty()));
        for refused in [&b"\"text\""[..], b"1", b"null", b"{", b"not json"] {
            let error = decode(refused).err().expect("refused");
            assert_eq!(error.http_status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn oversized_scores_are_refused_alone() {
        let body = json!({"traceId": "t", "name": "n", "value": 1,
            "metadata": {"big": "x".repeat(MAX_SCORE_BYTES)}});
        let message = parse(&body, "seed", 0).unwrap_err();
        assert!(message.contains("larger than"), "{message}");
        let small = json!({"traceId": "t", "name": "n", "value": 1});
        assert!(parse(&small, "seed", 0).is_ok());
    }

    #[test]
    fn eval_source_is_reserved_on_this_endpoint() {
        let body = json!({"traceId": "t", "name": "n", "value": 1, "source": "EVAL"});
        assert!(parse(&body, "seed", 0).unwrap_err().contains("EVAL"));
    }

    #[test]
    fn answers_have_langfuse_shapes() {
        let partial = Answer::Partial {
            accepted: 2,
            errors: vec!["score 1: invalid score: `name` is required".into()],
        };
        assert_eq!(partial.rejected(), 1);
        assert_eq!(partial.into_response().status(), StatusCode::MULTI_STATUS);
        assert_eq!(
            Answer::Accepted.into_response().status(),
            StatusCode::ACCEPTED
        );
        let created = Answer::Created { id: "s".into() };
        assert_eq!(created.rejected(), 0);
        assert_eq!(created.into_response().status(), StatusCode::OK);
    }
}
