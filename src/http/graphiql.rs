//! GraphiQL from the service itself: pinned production builds vendored in assets/graphiql/
//! (rebuilt by its vendor.sh), so it works with no internet access. Off in production.
use std::sync::LazyLock;

use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use super::{
    AppState,
    web::{IMMUTABLE, secure_page},
};

/// The vendored GraphiQL release; its files are served under `/graphiql/{version}/`, so a new
/// version gets new URLs and the old ones may be cached for ever.
pub const GRAPHIQL_VERSION: &str = "4.1.2";

const JS: &str = "text/javascript; charset=utf-8";

/// Name, content type, bytes of each vendored file.
const VENDORED: [(&str, &str, &[u8]); 4] = [
    (
        "react.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "graphiql.min.js",
        JS,
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
];

/// Starts GraphiQL on `/graphql`; a file of its own (not inline) so the page's CSP stays 'self'.
const INIT_JS: &str = r#"'use strict';
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: '/graphql' }),
    defaultQuery: '{\n  passwordPolicy {\n    minLength\n    maxLength\n  }\n}\n',
  }),
);
"#;

static PAGE: LazyLock<String> = LazyLock::new(|| {
    let base = format!("/graphiql/{GRAPHIQL_VERSION}");
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>account-recovery · GraphiQL</title>
  <link rel="stylesheet" href="{base}/graphiql.min.css">
  <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
  <script src="{base}/react.production.min.js" defer></script>
  <script src="{base}/react-dom.production.min.js" defer></script>
  <script src="{base}/graphiql.min.js" defer></script>
  <script src="/graphiql/init.js" defer></script>
</head>
<body><div id="graphiql">Loading GraphiQL…</div></body>
</html>
"#
    )
});

/// The GraphiQL page (the caller checks that GraphiQL is on).
pub fn page() -> Response {
    secure_page(Html(PAGE.as_str()).into_response())
}

pub async fn init_script(State(state): State<AppState>) -> Response {
    if !state.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, JS), (header::CACHE_CONTROL, "no-cache")],
        INIT_JS,
    )
        .into_response()
}

pub async fn vendored(
    State(state): State<AppState>,
    Path((version, file)): Path<(String, String)>,
) -> Response {
    let found = VENDORED.iter().find(|(name, ..)| *name == file);
    match found {
        Some((_, content_type, bytes)) if state.graphiql && version == GRAPHIQL_VERSION => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, IMMUTABLE),
            ],
            *bytes,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
