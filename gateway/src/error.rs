//! The one error type of the request path. Each variant knows its HTTP status and gRPC code, so
//! the OTLP retry semantics (retryable: 429/503, UNAVAILABLE/RESOURCE_EXHAUSTED; everything else
//! is final) live in this one `match`.

use axum::http::StatusCode;

/// Seconds a client should wait before retrying a transient failure.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Why an export request was not accepted. Messages go to the client, so they never contain a
/// secret or payload content.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body exceeds the limit of {limit} bytes (after decompression)")]
    PayloadTooLarge { limit: usize },
    /// The queue, the broker or the store cannot take the data right now; the client retries.
    #[error("{0}")]
    Unavailable(String),
}

impl IngestError {
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            Self::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Self::BadRequest(_) | Self::UnsupportedMediaType(_) | Self::PayloadTooLarge { .. } => {
                tonic::Code::InvalidArgument
            }
            Self::Unavailable(_) => tonic::Code::Unavailable,
        }
    }

    /// Whether the client should retry (and so gets a `Retry-After`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// A short label for logs and metrics (never a payload value).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl From<IngestError> for tonic::Status {
    fn from(error: IngestError) -> Self {
        tonic::Status::new(error.grpc_code(), error.to_string())
    }
}
