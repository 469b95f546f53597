//! `[upstream]`: where requests Spanbridge does not serve itself are passed through (the team's
//! Langfuse), and the limits that keep that traffic from hurting ingestion.

use std::path::Path;
use std::time::Duration;

use http::Uri;
use serde::{Deserialize, Serialize};

/// The team's Langfuse and the pass-through's limits. Empty `url` = no upstream: unknown routes
/// answer 404.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// Base URL of the team's Langfuse (`https://langfuse.example.com`); empty = none.
    pub url: String,
    /// Longest one proxied request may take, answer body included; no answer by then is a 504.
    pub timeout_secs: u64,
    /// Longest the TCP (and TLS) connect to the upstream may take; past it, a 502.
    pub connect_timeout_secs: u64,
    /// Proxied requests in flight at once; more are answered 503 with `Retry-After`. Separate
    /// from `gateway.max_inflight_requests`, so slow proxied requests never take ingestion's
    /// slots.
    pub max_concurrent: usize,
    /// Largest proxied request body (Langfuse's own limits are lower); larger is a 413.
    pub max_body_bytes: usize,
    /// PEM file of CA certificates trusted for an `https` upstream, on top of the system's.
    pub ca_file: String,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            timeout_secs: 60,
            connect_timeout_secs: 10,
            max_concurrent: 256,
            max_body_bytes: 64 * 1024 * 1024,
            ca_file: String::new(),
        }
    }
}

/// Where proxied requests go: scheme, authority and an optional path prefix, nothing else.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// The URL's path without its trailing `/` (usually empty).
    pub prefix: String,
}

impl Origin {
    /// `scheme://host[:port]` (no path: what error bodies and logs name).
    pub fn display(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

impl UpstreamSettings {
    pub fn is_configured(&self) -> bool {
        !self.url.trim().is_empty()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    /// Checks every key, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("upstream.timeout_secs", self.timeout_secs),
            ("upstream.connect_timeout_secs", self.connect_timeout_secs),
            ("upstream.max_concurrent", self.max_concurrent as u64),
            ("upstream.max_body_bytes", self.max_body_bytes as u64),
        ] {
            if value < 1 {
                return Err(format!("{key} must be at least 1 (got {value})"));
            }
        }
        if self.is_configured() {
            self.origin()?;
        }
        let ca_file = self.ca_file.trim();
        if !ca_file.is_empty() && !Path::new(ca_file).is_file() {
            return Err(format!(
                "upstream.ca_file {ca_file:?} is not a readable file"
            ));
        }
        Ok(())
    }

    /// The parsed `url`. Credentials in it are refused: Langfuse authenticates every request
    /// with the client's own `Authorization`, and a URL with a password would end up in logs.
    pub(crate) fn origin(&self) -> Result<Origin, String> {
        let url = self.url.trim();
        let uri: Uri = url
            .parse()
            .map_err(|_| format!("upstream.url is not a URL (got {url:?})"))?;
        let scheme = uri
            .scheme()
            .filter(|s| **s == http::uri::Scheme::HTTP || **s == http::uri::Scheme::HTTPS)
            .cloned()
            .ok_or_else(|| {
                format!("upstream.url must start with http:// or https:// (got {url:?})")
            })?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("upstream.url must name a host (got {url:?})"))?;
        if authority.as_str().contains('@') {
            return Err(
                "upstream.url must not contain credentials (Langfuse reads each client's own Authorization header)"
                    .into(),
            );
        }
        if uri.query().is_some() {
            return Err(format!("upstream.url must not have a query (got {url:?})"));
        }
        Ok(Origin {
            scheme,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> UpstreamSettings {
        UpstreamSettings {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn urls_are_checked_naming_the_key() {
        assert!(with_url("").validate().is_ok());
        let origin = with_url("https://cloud.langfuse.com/").origin().unwrap();
        assert_eq!(origin.display(), "https://cloud.langfuse.com");
        assert_eq!(origin.prefix, "");
        let prefixed = with_url("http://10.0.0.5:3000/langfuse/").origin().unwrap();
        assert_eq!(prefixed.prefix, "/langfuse");
        for (url, problem) in [
            ("ftp://x", "must start with http:// or https://"),
            ("langfuse.internal", "must start with http:// or https://"),
            ("http://pk:sk@langfuse", "must not contain credentials"),
            ("http://langfuse/?a=1", "must not have a query"),
        ] {
            let error = with_url(url).validate().unwrap_err();
            assert!(
                error.starts_with("upstream.url") && error.contains(problem),
                "{url}: {error}"
            );
            assert!(!error.contains("sk@"), "{error}");
        }
    }

    #[test]
    fn minimums_and_the_ca_file_are_checked() {
        let zero = UpstreamSettings {
            max_concurrent: 0,
            ..Default::default()
        };
        assert_eq!(
            zero.validate().unwrap_err(),
            "upstream.max_concurrent must be at least 1 (got 0)"
        );
        let missing = UpstreamSettings {
            ca_file: "/no/such/ca.pem".into(),
            ..Default::default()
        };
        assert!(missing.validate().unwrap_err().contains("upstream.ca_file"));
    }
}
