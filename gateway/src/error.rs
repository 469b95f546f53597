//! The one error type of the request path. Each variant knows its HTTP status and gRPC code, so
//! the OTLP retry semantics (retryable: 429/503, UNAVAILABLE/RESOURCE_EXHAUSTED; everything else
//! is final) live in this one `match`.

use axum::http::StatusCode;

use crate::publish::PublishError;

/// Seconds a client should wait before retrying a transient failure.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Why an export request was not accepted. Messages go to the client, so they never contain a
/// secret or payload content.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid key whose ingestion is not allowed (Langfuse: the organisation is suspended).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body exceeds the limit of {limit} bytes (after decompression)")]
    PayloadTooLarge { limit: usize },
    /// The queue, the broker or the store cannot take the data right now; the client retries.
    #[error("{0}")]
    Unavailable(String),
    /// The project sent more spans per second than it may; retry after the given seconds.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
}

impl IngestError {
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            Self::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Self::Forbidden(_) => tonic::Code::PermissionDenied,
            Self::BadRequest(_) | Self::UnsupportedMediaType(_) | Self::PayloadTooLarge { .. } => {
                tonic::Code::InvalidArgument
            }
            Self::Unavailable(_) => tonic::Code::Unavailable,
            Self::RateLimited { .. } => tonic::Code::ResourceExhausted,
        }
    }

    /// Seconds the client should wait before retrying (`Retry-After`, gRPC `RetryInfo`), or
    /// None when retrying the same request cannot succeed.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Unavailable(_) => Some(RETRY_AFTER_SECS),
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// A short label for logs and metrics (never a payload value).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unavailable(_) => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
        }
    }
}

impl From<IngestError> for tonic::Status {
    /// Retryable errors carry a `google.rpc.RetryInfo`, which OTLP exporters honour.
    fn from(error: IngestError) -> Self {
        use tonic_types::{ErrorDetails, StatusExt};
        match error.retry_after_secs() {
            Some(secs) => tonic::Status::with_error_details(
                error.grpc_code(),
                error.to_string(),
                ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(secs))),
            ),
            None => tonic::Status::new(error.grpc_code(), error.to_string()),
        }
    }
}

/// A backend behind one of the gateway's seams (key store, event store) failed. The client's
/// request is fine, so this is always transient (503 / UNAVAILABLE); `detail` goes to the log,
/// never to the client.
#[derive(Debug, thiserror::Error)]
#[error("{backend} unavailable: {detail}")]
pub struct BackendUnavailable {
    pub backend: &'static str,
    pub detail: String,
}

impl From<BackendUnavailable> for IngestError {
    fn from(error: BackendUnavailable) -> Self {
        tracing::warn!(%error, "backend unavailable");
        IngestError::Unavailable(format!("{} unavailable, retry later", error.backend))
    }
}

impl From<PublishError> for IngestError {
    /// Every publish failure is transient for the client; the broker's or store's detail is
    /// logged, not sent.
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Full | PublishError::Closed => {
                IngestError::Unavailable(error.to_string())
            }
            PublishError::Unavailable(_) => {
                tracing::warn!(%error, "publish failed");
                IngestError::Unavailable("the store is unavailable, retry later".into())
            }
        }
    }
}
