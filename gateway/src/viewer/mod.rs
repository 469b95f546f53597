//! The trace viewer under `/ui/`: hand-written ES modules, a stylesheet and one HTML page,
//! embedded in the binary so `cargo run` needs no Node toolchain. The pages hold no data: the
//! browser reads the public API with the project's key pair, which the sign-in form keeps in
//! `sessionStorage` and sends as `Authorization: Basic`; so the viewer shows nothing without a
//! valid key and the server never sees the key outside that header.
//!
//! Every viewer response carries a strict Content-Security-Policy (no inline script or style,
//! no framing, no plugins) and `nosniff`; the scripts build the DOM with `textContent` only, so
//! span content renders as text.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;

/// What the HTTP port serves besides the API: the viewer, or nothing.
#[derive(Debug, Clone, Default)]
pub struct ViewerOptions {
    /// `false`: `/ui/` answers 404 and `/` is not redirected.
    pub enabled: bool,
    /// Whether `/` redirects to `/ui/`. Not with an upstream Langfuse (`[upstream] url`): then
    /// `/` is its web app, passed through by the front door, since that is the UI its users know.
    pub redirect_root: bool,
}

impl ViewerOptions {
    /// The viewer on, `/` redirected to it.
    pub fn enabled() -> Self {
        ViewerOptions {
            enabled: true,
            redirect_root: true,
        }
    }
}

/// Only our own files; no inline code, no plugins, no framing, no base or form hijacking.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The embedded files: path under `/ui/`, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/dom.js"),
    ),
    (
        "format.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/format.js"),
    ),
    (
        "content.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/content.js"),
    ),
    (
        "traces.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/traces.js"),
    ),
    (
        "trace.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/trace.js"),
    ),
    (
        "sessions.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/sessions.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/dashboard.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

/// The viewer's routes (`/`, `/ui`, `/ui/`, `/ui/{file}`), merged into the HTTP port's router.
pub fn routes(options: &ViewerOptions) -> Router {
    if !options.enabled {
        return Router::new()
            .route("/ui", get(disabled))
            .route("/ui/", get(disabled))
            .route("/ui/{*path}", get(disabled));
    }
    let viewer = Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        );
    if options.redirect_root {
        viewer.route("/", get(|| async { Redirect::temporary("/ui/") }))
    } else {
        viewer
    }
}

fn asset(path: &str) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, body)) => {
            let mut response = (*body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            // Assets change with the binary; a restart must not serve yesterday's script.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            secure(response)
        }
        None => secure(not_found(&format!("no viewer file {path:?}"))),
    }
}

async fn disabled() -> Response {
    not_found("the viewer is switched off (viewer.enabled = false)")
}

/// Langfuse's public API error body, as the API's other 404s.
fn not_found(message: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": message, "error": "Not Found"})),
    )
        .into_response()
}

/// The headers every viewer response carries.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get_path(options: &ViewerOptions, path: &str) -> Response {
        let request = Request::get(path).body(Body::empty()).unwrap();
        routes(options).oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn every_file_is_served_with_its_type_and_the_security_headers() {
        let on = ViewerOptions::enabled();
        for (name, content_type, body) in ASSETS {
            let response = get_path(&on, &format!("/ui/{name}")).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], *content_type);
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            assert_eq!(bytes.len(), body.len(), "{name}");
        }
        let index = get_path(&on, "/ui/").await;
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let missing = get_path(&on, "/ui/../../etc/passwd").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }

    #[tokio::test]
    async fn the_root_redirects_to_the_viewer_unless_an_upstream_serves_it() {
        let root = get_path(&ViewerOptions::enabled(), "/").await;
        assert_eq!(root.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(root.headers()[header::LOCATION], "/ui/");
        let bare = get_path(&ViewerOptions::enabled(), "/ui").await;
        assert_eq!(bare.headers()[header::LOCATION], "/ui/");
        let upstream = ViewerOptions {
            enabled: true,
            redirect_root: false,
        };
        let root = get_path(&upstream, "/").await;
        assert_eq!(
            root.status(),
            StatusCode::NOT_FOUND,
            "`/` is left to the front door"
        );
    }

    #[tokio::test]
    async fn switched_off_the_viewer_answers_404_json() {
        let off = ViewerOptions::default();
        for path in ["/ui/", "/ui/app.js", "/ui"] {
            let response = get_path(&off, path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert!(body["message"].as_str().unwrap().contains("viewer.enabled"));
        }
        assert_eq!(get_path(&off, "/").await.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn no_asset_has_inline_script_or_style_or_inner_html() {
        let handler = regex::Regex::new(r"\son[a-z]+\s*=").unwrap();
        for (name, _, body) in ASSETS {
            if name.ends_with(".html") {
                assert!(!body.contains("<script>"), "{name}: inline script");
                assert!(!body.contains("<style"), "{name}: inline style");
                assert!(!body.contains(" style="), "{name}: style attribute");
                assert!(!handler.is_match(body), "{name}: event handler attribute");
            }
            if name.ends_with(".js") {
                for sink in [
                    "innerHTML",
                    "outerHTML",
                    "insertAdjacentHTML",
                    "document.write",
                    "eval(",
                    "new Function",
                ] {
                    assert!(!body.contains(sink), "{name} uses {sink}");
                }
            }
        }
    }

    #[test]
    fn every_module_imported_is_embedded() {
        for (name, _, body) in ASSETS {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let Some(file) = line.split("'./").nth(1).and_then(|r| r.split('\'').next()) else {
                    continue;
                };
                assert!(
                    ASSETS.iter().any(|(asset, _, _)| *asset == file),
                    "{name} imports {file}, which is not embedded"
                );
            }
        }
    }
}
