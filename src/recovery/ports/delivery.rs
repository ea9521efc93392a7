//! The delivery queue: what the service sends (mail, webhook events) is written with the state
//! change it tells of, then claimed under a lease, sent, retried and pruned by one implementation
//! whatever the channel. Each channel is a `DeliveryQueue` of its own message type.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{domain::audit::AuditEvent, recovery::ports::errors::StoreError};

/// One claim of a queued message: the row and its attempt count as the claim left it. Settling or
/// releasing applies only while the row is still in that claim, so a claimer whose lease ran out
/// can never overwrite what a later claimer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueClaim {
    pub id: i64,
    pub attempts: u32,
}

/// A claimed message of some channel.
pub trait Queued: Send + Sync + 'static {
    fn claim(&self) -> QueueClaim;
}

/// What became of a claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Accepted by the receiver (mail server, webhook endpoint): the body is erased.
    Sent,
    /// Obsolete (a mail's grants were spent, an event's endpoint is gone): the body is erased,
    /// nothing sent.
    Dropped,
    /// Not delivered; due again after the delay.
    Retry { error: String, after: Duration },
    /// Given up: the body is erased, the row kept for operators.
    Failed { error: String },
}

/// A claimed message with what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub claim: QueueClaim,
    pub outcome: DeliveryOutcome,
}

/// One channel of the delivery queue.
///
/// Claims must stay cheap whatever the table holds (they read an index of the channel's due rows,
/// never the finished ones) and must never hand one row to two claimers at once, on any backend.
#[async_trait]
pub trait DeliveryQueue<M: Queued>: Send + Sync {
    /// Claims up to `limit` due messages for `lease`, oldest due first (other instances skip them
    /// meanwhile; once the lease has passed they are due again). With `lapsed`, messages whose
    /// claimer's lease ran out are taken first; without, only pending ones (one statement less).
    async fn claim_due(&self, limit: u64, lease: Duration, lapsed: bool) -> Result<Vec<M>, StoreError>;
    /// Records what became of claimed messages, with their audit events, in one transaction.
    async fn settle(&self, settled: &[Settled], events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Hands claimed, unstarted messages back: due at once, the claim not counted as an attempt.
    async fn release(&self, claims: &[QueueClaim]) -> Result<(), StoreError>;
    /// Deletes up to `limit` delivered and dropped messages finished before `sent_before` and
    /// given-up ones finished before `failed_before`; returns how many went.
    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError>;
}
