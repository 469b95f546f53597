//! The front door (DESIGN.md "The front door"): Langfuse clients use one host for everything, so
//! every request on the HTTP port that no local route serves is passed through to the team's
//! Langfuse (`[upstream] url`) unchanged. The pass-through is the router's fallback, so a local
//! route simply wins and there is no list of upstream routes to keep: a path Spanbridge does not
//! route, and a method a local path does not serve (`GET /api/public/scores` while `POST` is
//! local), both go upstream. Without an upstream they answer a JSON 404 that names the setting.
//!
//! [`config`] holds the settings, [`forward`] the streaming forwarder, [`error`] what can go
//! wrong with its status.

pub mod config;
pub mod error;
pub mod forward;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use config::UpstreamSettings;
pub use error::UpstreamError;
pub use forward::Upstream;

/// Adds the front door to the HTTP port's `router`: the pass-through when `upstream` is set,
/// else the 404 naming `upstream.url`. Call it on the finished router: the method fallback
/// applies to the routes present when it is added.
pub fn front_door(router: Router, upstream: Option<Arc<Upstream>>) -> Router {
    let Some(upstream) = upstream else {
        return router.fallback(not_found);
    };
    let for_methods = upstream.clone();
    router
        .method_not_allowed_fallback(move |request: Request| {
            let upstream = for_methods.clone();
            async move { upstream.forward(request).await }
        })
        .fallback(move |request: Request| {
            let upstream = upstream.clone();
            async move { upstream.forward(request).await }
        })
}

/// No local route and no upstream: Langfuse's error shape, naming the setting that would make
/// the route work (a client pointed at Spanbridge asks for prompts, datasets, media…).
async fn not_found(request: Request) -> Response {
    let message = format!(
        "Spanbridge does not serve {} {}: it serves ingestion (OTLP, the batch API, scores), \
         /api/public/projects and its read API. Set upstream.url (SPANBRIDGE_UPSTREAM__URL) to \
         the team's Langfuse to pass every other request through to it.",
        request.method(),
        request.uri().path()
    );
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": message, "error": "NotFound"})),
    )
        .into_response()
}

/// The `family` label of the pass-through's metrics: a bounded set, whatever the path.
pub fn family(path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/api/public/") else {
        return "ui";
    };
    let rest = rest.strip_prefix("v2/").unwrap_or(rest);
    match rest.split('/').next().unwrap_or_default() {
        "prompts" => "prompts",
        "datasets" | "dataset-items" | "dataset-run-items" => "datasets",
        "media" => "media",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::family;

    #[test]
    fn families_are_a_bounded_set() {
        for (path, expected) in [
            ("/api/public/v2/prompts/movie-critic", "prompts"),
            ("/api/public/prompts", "prompts"),
            ("/api/public/v2/datasets/d/items", "datasets"),
            ("/api/public/dataset-items", "datasets"),
            ("/api/public/dataset-run-items", "datasets"),
            ("/api/public/media/abc", "media"),
            ("/", "ui"),
            ("/project/x/traces", "ui"),
            ("/api/trpc/traces.all", "ui"),
            ("/api/auth/session", "ui"),
            ("/api/public/health", "other"),
            ("/api/public/comments", "other"),
        ] {
            assert_eq!(family(path), expected, "{path}");
        }
    }
}
