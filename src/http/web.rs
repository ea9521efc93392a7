//! The browser pages: the built SPA from WEB_DIR (its index.html for every route it owns), or,
//! when no build is there, an embedded page on /reset-password that completes a reset by link or
//! code, in English or Korean as the browser prefers — so the link of a development reset mail
//! works on a fresh clone without Node.
use std::path::Path;

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, header},
    middleware::map_response,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use tower_http::services::{ServeDir, ServeFile};

use crate::domain::lang::Lang;

/// Same-origin scripts only: the reset pages hold live tokens. Workers (the proof-of-work solver)
/// fall back to default-src too: same-origin files, no blob: URLs. Inline styles are allowed for
/// GraphiQL's editor.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// For files whose URL changes with their content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The SPA from `web_dir` when it holds an index.html (checked once, at start), else the
/// embedded reset page.
pub fn pages(web_dir: &Path) -> Router {
    let index = web_dir.join("index.html");
    let pages = if index.is_file() {
        tracing::info!(web_dir = %web_dir.display(), "serving the single-page app");
        // Vite names built assets by content hash: cache them for ever, and a missing one is a
        // 404, not index.html.
        let assets = Router::new()
            .fallback_service(ServeDir::new(web_dir.join("assets")))
            .layer(map_response(async |mut response: Response| {
                if response.status().is_success() {
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
                }
                response
            }));
        Router::new()
            .nest("/assets", assets)
            .fallback_service(ServeDir::new(web_dir).fallback(ServeFile::new(index)))
    } else {
        tracing::info!(web_dir = %web_dir.display(), "no built single-page app: serving the embedded reset page");
        Router::new()
            .route("/reset-password", get(embedded_reset_page))
            .route("/reset-password/page.js", get(embedded_reset_script))
            .route("/reset-password/page.css", get(embedded_reset_style))
            .route("/reset-password/pow-worker.js", get(embedded_reset_worker))
    };
    pages.layer(map_response(async |response| secure_page(response)))
}

/// The page in the language of `Accept-Language`, the one its error messages (localised by the
/// GraphQL endpoint from the same header) will be in.
async fn embedded_reset_page(headers: HeaderMap) -> impl IntoResponse {
    let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let page = match Lang::from_accept_language(accepted) {
        Lang::En => include_str!("reset_page.html"),
        Lang::Ko => include_str!("reset_page.ko.html"),
    };
    ([(header::VARY, "Accept-Language")], Html(page))
}

async fn embedded_reset_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("reset_page.js"),
    )
}

/// Solves a rate limit's proof-of-work challenge off the page's thread (a same-origin file: the
/// CSP allows no blob: workers).
async fn embedded_reset_worker() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("reset_page_worker.js"),
    )
}

/// The SPA's stylesheet, so that both pages look the same and a host brands them in one place.
async fn embedded_reset_style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../web/src/style.css"),
    )
}

/// Headers for a page that may carry a reset token in its URL: no Referer to other sites, no
/// framing, same-origin scripts, and never kept by a cache (content-hashed assets keep theirs).
pub fn secure_page(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    /// The `id="…"` values of a page, in order.
    fn ids(page: &str) -> Vec<&str> {
        page.split(" id=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap_or(""))
            .collect()
    }

    #[test]
    fn both_languages_of_the_embedded_page_have_the_elements_its_script_uses() {
        let english = ids(include_str!("reset_page.html"));
        assert!(english.contains(&"password-form"), "{english:?}");
        assert_eq!(ids(include_str!("reset_page.ko.html")), english);
    }
}
