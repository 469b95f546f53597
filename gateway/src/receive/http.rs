//! OTLP/HTTP receiver (`POST /v1/traces`, `/v1/logs` and their `/api/public/otel` twins) and
//! `GET /health`; Langfuse's `POST /api/public/scores` ([`scores`]) and the read API
//! ([`crate::api`]) share the port; every other request goes to the front door
//! ([`crate::upstream`]). One handler, generic over the
//! [`Signal`], serves every signal. Replies in the request's encoding; errors
//! carry a `google.rpc.Status` body as the OTLP/HTTP spec asks, and `Retry-After` when the
//! client should retry.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prost::Message;
use serde_json::json;

use tokio::sync::OwnedSemaphorePermit;

use spanbridge_proto::TraceReader;

use crate::api::{self, ReadApi};
use crate::auth::Project;
use crate::error::IngestError;
use crate::ingest::{Gateway, SdkInfo, with_timeout};
use crate::observe::RequestMetrics;
use crate::receive::batch_api;
use crate::receive::decode::{Encoding, decode_request, decompress};
use crate::receive::scores;
use crate::receive::signal::{Logs, Signal, Traces};
use crate::upstream::{self, Upstream};
use crate::viewer::{self, ViewerOptions};

/// `google.rpc.Status`, the OTLP/HTTP error body.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// All HTTP routes of the gateway port: OTLP, health, the read API over `reader` and the
/// viewer (as `viewer` says); what none of them serves goes to `upstream` (the team's
/// Langfuse), or is a 404 naming the setting.
pub fn router(
    gateway: Arc<Gateway>,
    reader: Arc<dyn TraceReader>,
    viewer: &ViewerOptions,
    upstream: Option<Arc<Upstream>>,
) -> Router {
    let local = Router::new()
        .route("/v1/traces", post(export_signal::<Traces>))
        .route("/api/public/otel/v1/traces", post(export_signal::<Traces>))
        .route("/v1/logs", post(export_signal::<Logs>))
        .route("/api/public/otel/v1/logs", post(export_signal::<Logs>))
        .route("/api/public/scores", post(scores::post_scores))
        .route("/health", get(|| async { "ok" }))
        .merge(batch_api::routes())
        .with_state(gateway.clone())
        .merge(api::routes(ReadApi { gateway, reader }))
        .merge(viewer::routes(viewer));
    upstream::front_door(local, upstream)
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Langfuse's ingestion attribution headers (dash or underscore spelling).
pub(crate) fn sdk_info(headers: &HeaderMap) -> SdkInfo {
    SdkInfo::new(
        header_str(headers, "x-langfuse-sdk-name").or(header_str(headers, "x_langfuse_sdk_name")),
        header_str(headers, "x-langfuse-sdk-version")
            .or(header_str(headers, "x_langfuse_sdk_version")),
    )
}

async fn export_signal<S: Signal>(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Errors before the content type is known are answered in JSON.
    let encoding = Encoding::from_content_type(header_str(&headers, "content-type"));
    let reply_encoding = *encoding.as_ref().unwrap_or(&Encoding::Json);
    let mut metrics = RequestMetrics::start(S::ITEMS, "http", reply_encoding.label());
    let result = with_timeout(
        &gateway.limits,
        export::<S>(&gateway, &headers, encoding, body, &mut metrics),
    )
    .await;
    metrics.finish(result.as_ref().map(S::rejected));
    match result {
        Ok(response) => {
            let bytes = match reply_encoding {
                Encoding::Protobuf => response.encode_to_vec(),
                Encoding::Json => json_reply(&response),
            };
            (
                [(header::CONTENT_TYPE, reply_encoding.content_type())],
                bytes,
            )
                .into_response()
        }
        Err(error) => {
            tracing::info!(signal = S::ITEMS.signal, protocol = "http", encoding = reply_encoding.label(), reason = error.reason(), %error, "export rejected");
            error_response(&error, reply_encoding)
        }
    }
}

/// An export answer in the OTLP/JSON mapping, which omits absent fields: a full success is
/// `{}`, not `{"partialSuccess": null}` (prost's serde form writes `None` as `null`).
fn json_reply<R: serde::Serialize>(response: &R) -> Vec<u8> {
    let mut value = serde_json::to_value(response).unwrap_or_default();
    if let serde_json::Value::Object(fields) = &mut value {
        fields.retain(|_, v| !v.is_null());
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
}

async fn export<S: Signal>(
    gateway: &Gateway,
    headers: &HeaderMap,
    encoding: Result<Encoding, IngestError>,
    body: Body,
    metrics: &mut RequestMetrics,
) -> Result<S::Response, IngestError> {
    let mut admitted = admit_then_read(gateway, headers, body, encoding).await?;
    let plain = admitted.decompress(headers)?;
    let request: S::Request = decode_request(&plain, admitted.checked)?;
    metrics.decoded(plain.len(), S::count(&request));
    drop(plain);
    admitted.drop_body();
    let project = admitted.project;
    S::ingest(gateway, &project, &sdk_info(headers), request).await
}

/// An admitted request: its in-flight permit (held until the answer), its project and its
/// body as received.
pub(crate) struct Admitted<T> {
    _permit: OwnedSemaphorePermit,
    pub project: Project,
    /// What the caller's check returned (e.g. the body's encoding).
    pub checked: T,
    raw: Bytes,
    limit: usize,
}

impl<T> Admitted<T> {
    /// The body, decompressed per `content-encoding` within the body limit.
    pub fn decompress(&self, headers: &HeaderMap) -> Result<Cow<'_, [u8]>, IngestError> {
        decompress(
            &self.raw,
            header_str(headers, "content-encoding"),
            self.limit,
        )
    }

    /// Frees the body once decoded, so a request waiting for its publish holds no copy.
    pub fn drop_body(&mut self) {
        self.raw = Bytes::new();
    }
}

/// Admits the request, authenticates its key and runs the caller's `check` before the body is
/// buffered: shed load and bad keys cost no memory. A refused request's body is drained, so the
/// client reads the answer instead of a broken pipe.
pub(crate) async fn admit_then_read<T>(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Body,
    check: Result<T, IngestError>,
) -> Result<Admitted<T>, IngestError> {
    let limit = gateway.limits.max_body_bytes;
    let admitted = async {
        let permit = gateway.inflight.admit()?;
        let project = gateway
            .auth
            .authenticate(header_str(headers, "authorization"))
            .await?;
        Ok((permit, project, check?))
    };
    match admitted.await {
        Ok((permit, project, checked)) => Ok(Admitted {
            _permit: permit,
            project,
            checked,
            raw: read_body(body, limit).await?,
            limit,
        }),
        Err(error) => {
            discard_body(body, limit).await;
            Err(error)
        }
    }
}

/// Reads and drops a refused request's body (up to `limit` bytes, chunk by chunk, for at most
/// a few seconds), so the client reads our 503/401 instead of a broken pipe while it is still
/// writing. Nothing is buffered.
async fn discard_body(body: Body, limit: usize) {
    use futures::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut seen = 0usize;
    let drain = async {
        while let Some(Ok(chunk)) = chunks.next().await {
            seen += chunk.len();
            if seen > limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
}

/// Reads the (still compressed) body, refusing more than `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            IngestError::PayloadTooLarge { limit }
        } else {
            IngestError::BadRequest(format!("could not read the request body: {error}"))
        }
    })
}

fn error_response(error: &IngestError, encoding: Encoding) -> Response {
    let status = RpcStatus {
        code: error.grpc_code() as i32,
        message: error.to_string(),
    };
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => {
            serde_json::to_vec(&json!({"code": status.code, "message": status.message}))
                .unwrap_or_default()
        }
    };
    let mut response = (
        error.http_status(),
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    if let Some(secs) = error.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
