//! SCIM errors as RFC 7644 §3.12 bodies: the status, a `scimType` where the RFC names one, and a
//! detail that says what was wrong without echoing a value (a password could be one). Internal
//! failures are logged here, once, and answered generically.
use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::recovery::{errors::RecoveryError, provisioning::ProvisioningError};

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    pub retry_after: Option<Duration>,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found() -> Self {
        ScimError::new(StatusCode::NOT_FOUND, None, "no such resource")
    }
}

impl From<ProvisioningError> for ScimError {
    fn from(e: ProvisioningError) -> Self {
        match e {
            ProvisioningError::Invalid(problem) => {
                let attribute = super::urns::attribute_of(problem.field);
                // The draft's own field name gives way to the SCIM attribute's.
                let own = format!("{}: ", problem.field);
                let message = problem.message.strip_prefix(&own).unwrap_or(&problem.message);
                ScimError::bad("invalidValue", format!("{attribute}: {message}"))
            }
            ProvisioningError::Taken => ScimError::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                "userName: already taken on this site",
            ),
            ProvisioningError::NotFound => ScimError::not_found(),
            ProvisioningError::VersionMismatch => ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "the resource changed since that version (If-Match)",
            ),
            ProvisioningError::Recovery(e) => e.into(),
        }
    }
}

impl From<RecoveryError> for ScimError {
    fn from(e: RecoveryError) -> Self {
        match e {
            RecoveryError::RateLimited { retry_after, .. } => ScimError {
                retry_after: Some(retry_after),
                ..ScimError::new(StatusCode::TOO_MANY_REQUESTS, None, "too many requests")
            },
            RecoveryError::Unavailable(why) => {
                tracing::warn!(error = %why, "SCIM request: a backend is unavailable");
                ScimError::new(StatusCode::SERVICE_UNAVAILABLE, None, "service unavailable")
            }
            RecoveryError::Internal(why) => {
                tracing::error!(error = %why, "SCIM request failed");
                ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error")
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = (self.status, scim_json(&body)).into_response();
        if let Some(after) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A JSON body served as `application/scim+json`.
pub fn scim_json(body: &serde_json::Value) -> impl IntoResponse + use<> {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))],
        body.to_string(),
    )
}
