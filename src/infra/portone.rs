//! PortOne V2's API, read with the service's own secret: `GET {PORTONE_API_URL}/identity-
//! verifications/{id}?storeId=…` with `Authorization: PortOne {secret}`. PortOne's documented
//! answers: 200 with the verification; 400 `INVALID_REQUEST` and 404
//! `IDENTITY_VERIFICATION_NOT_FOUND` (the id is not a verification of this store: refused);
//! 401 `UNAUTHORIZED` and 403 `FORBIDDEN` (the secret or store is wrong: the service's fault, so
//! unavailable, logged as an error). Timeouts, 5xx and answers that are not the documented JSON are
//! unavailable too. No redirect is followed.
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{
    config::PortoneSettings,
    domain::portone_identity::PortoneVerificationId,
    recovery::ports::{PortoneAnswer, PortoneVerifications, StoreError},
};

/// The largest answer read: a verification with PortOne's raw provider response is a few KiB.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

pub struct PortoneClient {
    http: reqwest::Client,
    base: url::Url,
    secret: SecretString,
    store_id: String,
}

/// PortOne's error body: `{"type": "IDENTITY_VERIFICATION_NOT_FOUND", "message": "…"}`.
#[derive(Deserialize)]
struct PortoneError {
    #[serde(rename = "type")]
    kind: String,
}

impl PortoneClient {
    pub fn new(settings: &PortoneSettings) -> anyhow::Result<Self> {
        // reqwest is built without a crypto provider of its own: the process-wide one is ring,
        // as for every other TLS connection of the service (a second install is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("account-recovery/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut base = settings.api_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(PortoneClient {
            http,
            base,
            secret: settings.secret.clone(),
            store_id: settings.store_id.clone(),
        })
    }

    fn url_of(&self, id: &PortoneVerificationId) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .push("identity-verifications")
                .push(id.as_str());
        }
        url.query_pairs_mut().append_pair("storeId", &self.store_id);
        url
    }
}

fn unavailable(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("PortOne: {what}"))
}

#[async_trait::async_trait]
impl PortoneVerifications for PortoneClient {
    async fn read(&self, id: &PortoneVerificationId) -> Result<PortoneAnswer, StoreError> {
        let response = self
            .http
            .get(self.url_of(id))
            .header(
                "Authorization",
                format!("PortOne {}", self.secret.expose_secret()),
            )
            .send()
            .await
            // Without the URL: it names the verification id.
            .map_err(|e| unavailable(e.without_url()))?;
        let status = response.status();
        let body = read_bounded(response).await?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map(PortoneAnswer::Found)
                .map_err(|_| unavailable("the answer is not an identity verification"));
        }
        let kind = serde_json::from_slice::<PortoneError>(&body)
            .map(|e| e.kind)
            .unwrap_or_default();
        match (status.as_u16(), kind.as_str()) {
            (404, _) | (400, "INVALID_REQUEST") => Ok(PortoneAnswer::Unknown),
            (401 | 403, _) => {
                tracing::error!(%status, kind, "PortOne refused the service's secret or store: check PORTONE_API_SECRET and PORTONE_STORE_ID");
                Err(unavailable(format!("refused the service ({status})")))
            }
            _ => Err(unavailable(format!("answered {status} {kind}"))),
        }
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, StoreError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(e.without_url()))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(unavailable("the answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
