//! Why a request could not be passed through, each with its status in one `match`. Messages go
//! to the client: they name the upstream's origin and never a credential or body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::RETRY_AFTER_SECS;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connecting failed (refused, no route, DNS, TLS, connect timeout).
    #[error("the upstream Langfuse at {origin} could not be reached")]
    Unreachable { origin: String },
    /// Connected, but the exchange broke before an answer.
    #[error("the upstream Langfuse at {origin} closed the connection without an answer")]
    Broken { origin: String },
    #[error("the upstream Langfuse at {origin} did not answer within {secs} s")]
    Timeout { origin: String, secs: u64 },
    #[error("request body exceeds upstream.max_body_bytes ({limit} bytes)")]
    BodyTooLarge { limit: usize },
    #[error(
        "too many requests to the upstream Langfuse in flight (upstream.max_concurrent), retry later"
    )]
    Overloaded,
}

impl UpstreamError {
    pub fn http_status(&self) -> StatusCode {
        match self {
            Self::Unreachable { .. } | Self::Broken { .. } => StatusCode::BAD_GATEWAY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `kind` label of `spanbridge_upstream_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "unreachable",
            Self::Broken { .. } => "broken",
            Self::Timeout { .. } => "timeout",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::Overloaded => "overloaded",
        }
    }

    /// Langfuse's error name for the `error` field of the body.
    fn name(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } | Self::Broken { .. } => "BadGateway",
            Self::Timeout { .. } => "GatewayTimeout",
            Self::BodyTooLarge { .. } => "PayloadTooLarge",
            Self::Overloaded => "ServiceUnavailable",
        }
    }
}

impl IntoResponse for UpstreamError {
    /// Langfuse's error shape, `{message, error}`; `Retry-After` when the client should retry.
    fn into_response(self) -> Response {
        let body = json!({"message": self.to_string(), "error": self.name()});
        let mut response = (self.http_status(), axum::Json(body)).into_response();
        if matches!(self, Self::Overloaded) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
