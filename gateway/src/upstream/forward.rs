//! The forwarder: one request in, the same request to the configured origin, its answer back,
//! bodies streamed both ways frame by frame (an SSE event or a chunk reaches the client when the
//! upstream sends it). Only the connection-level headers change (RFC 9110 §7.6.1): hop-by-hop
//! headers and those `Connection` names are dropped both ways, `Host` becomes the upstream's,
//! and `X-Forwarded-For/-Proto/-Host` say who asked. Redirects go back to the client as they are.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Uri, Version};
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use super::config::{Origin, UpstreamSettings};
use super::error::UpstreamError;
use super::family;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The configured upstream: one connection pool, the limits, the origin every request goes to.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Limited<Body>>,
    origin: Origin,
    /// `scheme://host[:port]`, for error bodies and logs.
    name: String,
    settings: UpstreamSettings,
    slots: Arc<Semaphore>,
}

/// Connection-level headers, never forwarded (RFC 9110 §7.6.1; `Proxy-*` and `Trailer` from
/// RFC 2616 §13.5.1, which proxies still drop).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Upstream {
    /// The client for `settings.url` (already validated). Fails when the CA file or the system
    /// roots cannot be read for an `https` upstream.
    pub fn new(settings: &UpstreamSettings) -> Result<Self, String> {
        let origin = settings.origin()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.connect_timeout()));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(settings, &origin)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            client,
            name: origin.display(),
            origin,
            settings: settings.clone(),
            slots: Arc::new(Semaphore::new(settings.max_concurrent)),
        })
    }

    /// The upstream's origin, `scheme://host[:port]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Passes `request` through and returns the upstream's answer, or the error's answer (502,
    /// 504, 413, 503) in Langfuse's JSON shape. Records the pass-through's metrics.
    pub async fn forward(&self, request: Request) -> Response {
        let family = family(request.uri().path());
        let method = request.method().clone();
        let started = Instant::now();
        let result = self.try_forward(request, family).await;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                metrics::counter!("spanbridge_upstream_errors_total", "kind" => error.kind())
                    .increment(1);
                match error {
                    UpstreamError::Overloaded | UpstreamError::BodyTooLarge { .. } => {
                        tracing::debug!(upstream = %self.name, family, %method, kind = error.kind(), "proxied request refused")
                    }
                    // Logged with their cause where they are classified.
                    UpstreamError::Unreachable { .. } | UpstreamError::Broken { .. } => {}
                    UpstreamError::Timeout { .. } => {
                        tracing::warn!(upstream = %self.name, family, %method, kind = error.kind(), %error, "proxied request failed")
                    }
                }
                error.into_response()
            }
        };
        metrics::counter!(
            "spanbridge_upstream_requests_total",
            "family" => family,
            "status_class" => status_class(response.status().as_u16()),
        )
        .increment(1);
        metrics::histogram!("spanbridge_upstream_request_duration_seconds", "family" => family)
            .record(started.elapsed().as_secs_f64());
        response
    }

    async fn try_forward(
        &self,
        request: Request,
        family: &'static str,
    ) -> Result<Response, UpstreamError> {
        let slot = Slot::take(&self.slots)?;
        let limit = self.settings.max_body_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(UpstreamError::BodyTooLarge { limit });
        }
        let deadline = tokio::time::Instant::now() + self.settings.timeout();
        let outgoing = self.outgoing(request)?;
        let answer = tokio::time::timeout_at(deadline, self.client.request(outgoing)).await;
        let response = match answer {
            Err(_) => return Err(self.timeout()),
            Ok(Err(error)) => return Err(self.send_error(&error)),
            Ok(Ok(response)) => response,
        };
        let (mut parts, incoming) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts.version = Version::default();
        let body = Streamed {
            inner: incoming,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            family,
            _slot: slot,
        };
        Ok(Response::from_parts(parts, Body::new(body)))
    }

    /// The request as it goes upstream: the configured origin (whatever the request target's
    /// or `Host`'s authority), the path and query as sent, the connection headers rewritten.
    fn outgoing(&self, request: Request) -> Result<hyper::Request<Limited<Body>>, UpstreamError> {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |path_and_query| path_and_query.as_str());
        parts.uri = Uri::builder()
            .scheme(self.origin.scheme.clone())
            .authority(self.origin.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.origin.prefix))
            .build()
            .map_err(|_| UpstreamError::Broken {
                origin: self.name.clone(),
            })?;
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::HOST);
        if let Some(host) = host {
            parts.headers.insert("x-forwarded-host", host);
        }
        parts
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("http"));
        if let Some(client) = client {
            append_forwarded_for(&mut parts.headers, &client.to_string());
        }
        parts.version = Version::HTTP_11;
        Ok(hyper::Request::from_parts(
            parts,
            Limited::new(body, self.settings.max_body_bytes),
        ))
    }

    fn timeout(&self) -> UpstreamError {
        UpstreamError::Timeout {
            origin: self.name.clone(),
            secs: self.settings.timeout_secs,
        }
    }

    /// What a failed exchange means for the client: its body was too large, the upstream could
    /// not be reached, or it broke the exchange.
    fn send_error(&self, error: &hyper_util::client::legacy::Error) -> UpstreamError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if cause.is::<LengthLimitError>() {
                return UpstreamError::BodyTooLarge {
                    limit: self.settings.max_body_bytes,
                };
            }
            source = cause.source();
        }
        let origin = self.name.clone();
        let failure = if error.is_connect() {
            UpstreamError::Unreachable { origin }
        } else {
            UpstreamError::Broken { origin }
        };
        // The cause (refused, DNS, a certificate problem) is what an operator needs; hyper's
        // errors carry no header or body.
        tracing::warn!(upstream = %self.name, kind = failure.kind(), cause = %error_chain(error), "proxied request failed");
        failure
    }
}

/// The TLS settings for an `https` upstream: the system's roots plus `ca_file`'s certificates.
/// A plain `http` upstream reads neither.
fn tls_config(
    settings: &UpstreamSettings,
    origin: &Origin,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if origin.scheme == http::uri::Scheme::HTTPS {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        let ca_file = settings.ca_file.trim();
        if !ca_file.is_empty() {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let certs = CertificateDer::pem_file_iter(ca_file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| format!("upstream.ca_file {ca_file:?}: {error}"))?;
            if certs.is_empty() {
                return Err(format!("upstream.ca_file {ca_file:?} holds no certificate"));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|error| format!("upstream.ca_file {ca_file:?}: {error}"))?;
            }
        }
        if roots.is_empty() {
            return Err(
                "no CA certificates for the https upstream: install the system's CA bundle or set upstream.ca_file"
                    .into(),
            );
        }
    }
    // ring builds without a C toolchain's cmake (aws-lc-rs needs one); it lacks only the
    // post-quantum key exchange, which rustls marks by deprecating this function.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS for the upstream: {error}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Drops hop-by-hop headers and every header `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Appends the peer's address to the client's own `X-Forwarded-For` (kept as sent, never taken
/// for the client's address).
fn append_forwarded_for(headers: &mut HeaderMap, client: &str) {
    let mut chain: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_owned)
        .collect();
    chain.push(client.to_owned());
    if let Ok(value) = HeaderValue::from_str(&chain.join(", ")) {
        headers.insert("x-forwarded-for", value);
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// One of `upstream.max_concurrent` slots, held until the answer's body is done.
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn take(slots: &Arc<Semaphore>) -> Result<Self, UpstreamError> {
        let permit = slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| UpstreamError::Overloaded)?;
        metrics::gauge!("spanbridge_upstream_inflight_requests").increment(1.0);
        Ok(Self { _permit: permit })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!("spanbridge_upstream_inflight_requests").decrement(1.0);
    }
}

/// The upstream's answer body, passed on frame by frame until the request's deadline; it holds
/// the request's slot until it ends or the client goes away.
struct Streamed {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    family: &'static str,
    _slot: Slot,
}

impl HttpBody for Streamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            metrics::counter!("spanbridge_upstream_errors_total", "kind" => "timeout").increment(1);
            tracing::warn!(
                family = self.family,
                "proxied answer cut at upstream.timeout_secs"
            );
            return Poll::Ready(Some(Err(
                "the upstream answer exceeded upstream.timeout_secs".into(),
            )));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Err(error))) => {
                metrics::counter!("spanbridge_upstream_errors_total", "kind" => "broken")
                    .increment(1);
                Poll::Ready(Some(Err(error.into())))
            }
            other => other.map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-hop"),
            ("keep-alive", "timeout=5"),
            ("x-hop", "1"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic eA=="),
            ("authorization", "Basic cGs6c2s="),
            ("content-encoding", "gzip"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["authorization", "content-encoding"]);
    }

    #[test]
    fn forwarded_for_is_appended_to() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        append_forwarded_for(&mut headers, "127.0.0.1");
        assert_eq!(headers["x-forwarded-for"], "6.6.6.6, 127.0.0.1");
    }
}
