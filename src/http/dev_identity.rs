//! `POST /dev/identity-assertion`, development only: signs an identity assertion with the
//! development key, as a host's back end does after its identity check, so that the SPA's demo
//! button works on a fresh clone. Routed only where the development key is trusted (never in
//! production, never beside IDENTITY_ASSERTION_JWKS), where raw `ci` values are accepted anyway.
use std::sync::Arc;

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::AppState;
use crate::infra::identity_assertions::{DevelopmentAssertion, DevelopmentKey};

/// Lifetime of a demo assertion: long enough to click through the screen that asked for it.
const DEMO_TTL_SECS: i64 = 300;

pub struct DevSigner {
    pub key: DevelopmentKey,
    pub audience: String,
}

pub async fn sign(
    State(state): State<AppState>,
    request: Result<Json<DevelopmentAssertion>, JsonRejection>,
) -> Response {
    let Some(signer) = state.dev_signer.as_ref().map(Arc::as_ref) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let refused =
        |message: String| (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response();
    let Json(request) = match request {
        Ok(request) => request,
        Err(e) => return refused(e.body_text()),
    };
    let now = chrono::Utc::now().timestamp();
    match signer
        .key
        .assertion(&signer.audience, &request, DEMO_TTL_SECS, now)
    {
        Ok(assertion) => Json(json!({"assertion": assertion})).into_response(),
        Err(e) => refused(e.to_string()),
    }
}
