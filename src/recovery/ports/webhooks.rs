//! Webhooks: the host's endpoints, the events queued for them (the webhook channel of the delivery
//! queue) and the HTTP call that delivers one.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::webhook::{EventType, WebhookSecret},
    recovery::ports::{
        delivery::{DeliveryQueue, QueueClaim, Queued},
        errors::StoreError,
    },
};

/// An endpoint to write or replace.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: url::Url,
    /// Every one signs each event (rotation: old and new side by side).
    pub secrets: Vec<WebhookSecret>,
    /// `None`: every event.
    pub events: Option<Vec<EventType>>,
}

/// A stored endpoint.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: url::Url,
    pub secrets: Vec<WebhookSecret>,
    pub events: Option<Vec<EventType>>,
    /// Set when the target answered 410 Gone: nothing more goes there.
    pub disabled: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The id of the endpoint that `WEBHOOK_URL` configures.
pub const CONFIGURED_ENDPOINT: &str = "configured";

#[async_trait]
pub trait WebhookEndpoints: Send + Sync {
    /// Writes an endpoint under `id`, active.
    async fn add_endpoint(
        &self,
        id: &str,
        endpoint: &NewEndpoint,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Makes the configured endpoint (`WEBHOOK_URL`) what the settings say at start: written, or
    /// removed when unset. A disabled one stays disabled unless its URL changed.
    async fn configure_endpoint(
        &self,
        endpoint: Option<&NewEndpoint>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Whether there was one to remove; its queued events are dropped when claimed.
    async fn remove_endpoint(&self, id: &str) -> Result<bool, StoreError>;
    /// Disables an endpoint (it answered 410 Gone).
    async fn disable_endpoint(&self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// A queued event claimed by the webhook delivery worker, with its endpoint as it is now.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub id: i64,
    pub attempts: u32,
    /// `webhook-id`: the same on every attempt, so receivers can drop a repeat.
    pub webhook_id: String,
    pub body: String,
    /// `None`: removed since the event was queued.
    pub endpoint: Option<WebhookEndpoint>,
}

impl Queued for ClaimedEvent {
    fn claim(&self) -> QueueClaim {
        QueueClaim {
            id: self.id,
            attempts: self.attempts,
        }
    }
}

/// The webhook channel of the delivery queue.
pub trait EventQueue: DeliveryQueue<ClaimedEvent> {}

impl<T: DeliveryQueue<ClaimedEvent>> EventQueue for T {}

/// The headers of one delivery (Standard Webhooks).
#[derive(Debug, Clone)]
pub struct SignedDelivery {
    pub webhook_id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
}

/// How a receiver answered (any status), or why there was no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAnswer {
    Status {
        code: u16,
        /// `Retry-After`, in seconds or as a date, from when it was read.
        retry_after: Option<Duration>,
    },
    /// No answer: refused connection, timeout, a target on a refused network, TLS.
    Unreachable(String),
}

#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// One POST of `delivery` to `url`, redirects not followed, within the sender's timeout.
    async fn post(&self, url: &url::Url, delivery: &SignedDelivery) -> WebhookAnswer;
}
