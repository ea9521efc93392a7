//! The host's webhook endpoints as the operator manages them (`account-recovery webhook
//! add|list|remove`): a target is checked before it is stored, and a secret made for it unless one
//! is given.
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{
    domain::webhook::{EventType, TargetRefusal, WebhookSecret, check_target},
    recovery::ports::{NewEndpoint, StoreError, WebhookEndpoint, WebhookEndpoints},
};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{0}")]
    Target(#[from] TargetRefusal),
    #[error("no webhook endpoint {0}")]
    Unknown(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// An endpoint just added, with the secret it signs with (shown this once).
pub struct AddedEndpoint {
    pub id: String,
    pub secret: WebhookSecret,
}

#[derive(Clone)]
pub struct WebhookAdmin {
    pub(crate) endpoints: Arc<dyn WebhookEndpoints>,
}

impl WebhookAdmin {
    /// Adds an endpoint for `url` (every event unless `events` lists some), signing with `secret`
    /// or a new one. Refuses loopback, private and link-local targets unless `allow_private`.
    pub async fn add(
        &self,
        url: url::Url,
        events: Option<Vec<EventType>>,
        secret: Option<WebhookSecret>,
        allow_private: bool,
        now: DateTime<Utc>,
    ) -> Result<AddedEndpoint, EndpointError> {
        check_target(&url, allow_private)?;
        let secret = secret.unwrap_or_else(WebhookSecret::generate);
        let id = format!("ep_{}", uuid::Uuid::new_v4().simple());
        let endpoint = NewEndpoint {
            url,
            secrets: vec![secret.clone()],
            events,
        };
        self.endpoints.add_endpoint(&id, &endpoint, now).await?;
        Ok(AddedEndpoint { id, secret })
    }

    pub async fn list(&self) -> Result<Vec<WebhookEndpoint>, EndpointError> {
        Ok(self.endpoints.list_endpoints().await?)
    }

    /// Removes an endpoint; its queued events are dropped.
    pub async fn remove(&self, id: &str) -> Result<(), EndpointError> {
        if self.endpoints.remove_endpoint(id).await? {
            Ok(())
        } else {
            Err(EndpointError::Unknown(id.to_owned()))
        }
    }

    /// Makes the endpoint `WEBHOOK_URL` configures what the settings say (a serving instance, at start).
    pub async fn configure(
        &self,
        endpoint: Option<&NewEndpoint>,
        now: DateTime<Utc>,
    ) -> Result<(), EndpointError> {
        Ok(self.endpoints.configure_endpoint(endpoint, now).await?)
    }
}
