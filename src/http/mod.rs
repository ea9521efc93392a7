//! The HTTP edge: router, GraphQL endpoint, browser pages, health checks, request ids, CORS, limits.
pub mod client_addr;
pub mod connections;
pub mod dev_identity;
pub mod document_cache;
pub mod graphiql;
pub mod graphql_endpoint;
pub mod health;
pub mod metric_families;
pub mod metrics;
pub mod query_limits;
pub mod scim;
pub mod trusted_documents;
pub mod web;

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, header},
    middleware::map_response,
    routing::get,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{config::HttpSettings, graphql::AppSchema, recovery::Recovery};

/// Largest accepted request body: ample for any legitimate operation.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    /// The schema for documents that only introspect: no depth or complexity limit (not in
    /// production, where introspection is off).
    pub introspection_schema: Option<AppSchema>,
    /// Shared, not copied, by every request (the use cases hold dozens of handles and settings).
    pub recovery: std::sync::Arc<Recovery>,
    pub trusted_proxies: std::sync::Arc<Vec<ipnet::IpNet>>,
    /// The shape limits checked with fragments expanded (root fields, aliases, fields).
    pub limits: query_limits::ShapeLimits,
    /// GraphiQL on `GET /graphql` (off in production and with trusted documents).
    pub graphiql: bool,
    /// With TRUSTED_DOCUMENTS, the only operations that run.
    pub trusted_documents: Option<std::sync::Arc<trusted_documents::TrustedDocuments>>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Peers that may read /metrics.
    pub metrics_allow: std::sync::Arc<Vec<ipnet::IpNet>>,
    /// Documents parsed once, shared by every request.
    pub documents: std::sync::Arc<document_cache::DocumentCache>,
    /// The demo signer of `POST /dev/identity-assertion` (development only).
    pub dev_signer: Option<std::sync::Arc<dev_identity::DevSigner>>,
    /// SCIM provisioning, with SCIM_TOKENS only.
    pub scim: Option<scim::ScimState>,
}

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let mut routes = Router::new()
        .route(
            "/graphql",
            get(graphql_endpoint::get_graphql)
                .post(graphql_endpoint::post_graphql)
                .layer(map_response(async |response| never_stored(response))),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/graphiql/init.js", get(graphiql::init_script))
        .route("/graphiql/{version}/{file}", get(graphiql::vendored));
    // With METRICS_BIND, /metrics lives on that listener only (see metrics::own_listener).
    if state.dev_signer.is_some() {
        routes = routes.route(
            "/dev/identity-assertion",
            axum::routing::post(dev_identity::sign)
                .layer(map_response(async |response| never_stored(response))),
        );
    }
    if settings.metrics_bind.is_none() {
        routes = routes.route("/metrics", get(metrics::render));
    }
    let hsts = settings.strict_transport_security;
    let scim = state.scim.clone();
    let mut app = routes.with_state(state).merge(web::pages(&settings.web_dir));
    if let Some(scim) = scim {
        app = app.nest(scim::SCIM_PREFIX, scim::routes(scim));
    }
    app
        .layer(map_response(move |response: axum::response::Response| async move {
            if hsts { strict_transport(response) } else { response }
        }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(&settings.cors_origins))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        // One access-log line per response (status, latency) inside the request's span.
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// `/graphql` answers may carry tokens, codes and names: no cache keeps them, and no browser
/// reads them as anything but what they say they are.
fn never_stored(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Served behind https (PUBLIC_RESET_URL says so): browsers keep to https for a year.
fn strict_transport(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    response
}

/// CORS for the SPA origins listed in CORS_ORIGINS; none listed means no cross-origin access.
/// Never with credentials: the API takes bearer tokens, not cookies.
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT_LANGUAGE,
            // A solved proof-of-work challenge, for a call past a target's limit.
            HeaderName::from_static("x-challenge-solution"),
            // A device token from `signIn`, counted instead of the member's limits.
            HeaderName::from_static("x-device-token"),
        ])
        .max_age(Duration::from_secs(600))
}
