//! SCIM 2.0 provisioning at `/scim/v2` (RFC 7643, RFC 7644), present only with `SCIM_TOKENS`:
//! each request names its site by its bearer token, is parsed here, makes one `Provisioning` call
//! and is answered as `application/scim+json`.
pub mod auth;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod patch;
pub mod representation;
pub mod urns;
pub mod users;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::map_response,
    routing::get,
};

use self::{auth::ScimAuth, error::ScimError};
use crate::{
    domain::{client::ClientAddress, lang::Lang},
    http::client_addr::client_addr,
    recovery::{Recovery, context::RequestContext},
};

/// Where the routes live.
pub const SCIM_PREFIX: &str = "/scim/v2";

#[derive(Clone)]
pub struct ScimState {
    pub recovery: Arc<Recovery>,
    pub auth: Arc<ScimAuth>,
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// `https` behind TLS (PUBLIC_RESET_URL is https), else `http`: the scheme of `meta.location`.
    pub scheme: &'static str,
}

/// The routes under [`SCIM_PREFIX`]; every other method on them is 405, every other path 404.
pub fn routes(state: ScimState) -> Router {
    Router::new()
        .route("/ServiceProviderConfig", get(users::service_provider_config))
        .route("/ResourceTypes", get(users::resource_types))
        .route("/ResourceTypes/{id}", get(users::resource_type))
        .route("/Schemas", get(users::schemas))
        .route("/Schemas/{id}", get(users::schema))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", axum::routing::post(users::search))
        .route(
            "/Users/{id}",
            get(users::read)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::withdraw),
        )
        // Searching every resource type at once is not offered (RFC 7644 §3.4.3 allows that).
        .route("/.search", axum::routing::post(users::search_everything))
        .fallback(async || ScimError::not_found())
        .with_state(state)
        // Members' data: no cache keeps it; no browser reads it as anything else.
        .layer(map_response(async |mut response: axum::response::Response| {
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }))
}

/// An authenticated SCIM request: the context of its site (its token's) and the base URL of the
/// resources it is answered with.
pub struct ScimCaller {
    pub ctx: RequestContext,
    pub base: String,
}

impl FromRequestParts<ScimState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &ScimState) -> Result<Self, Self::Rejection> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(site) = state.auth.site_for(authorization) else {
            // A bad token is an error, never an anonymous call.
            return Err(ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "a valid bearer token is required",
            ));
        };
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| client_addr(*peer, &parts.headers, &state.trusted_proxies));
        // The caller's own Host: the location goes back to the caller only, never into a mail.
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        Ok(ScimCaller {
            ctx: RequestContext {
                site,
                lang: Lang::default(),
                client: client.map(|c| ClientAddress(c.0)),
                now: chrono::Utc::now(),
                solution: None,
                device: None,
            },
            base: format!("{}://{host}{SCIM_PREFIX}", state.scheme),
        })
    }
}
