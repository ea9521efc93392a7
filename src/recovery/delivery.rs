//! What every channel of the delivery queue does the same way: a courier claims, delivers one
//! message at a time within its deadline, and settles, releases and prunes through its queue; the
//! delivery worker (`runners/delivery_worker.rs`) runs any courier.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::audit::AuditEvent,
    recovery::ports::{DeliveryQueue, QueueClaim, Queued, Settled, StoreError},
};

/// What became of one message, with its audit events, waiting to be settled.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub settled: Settled,
    pub events: Vec<AuditEvent>,
}

/// How long finished messages of a channel are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Delivered and dropped messages are deleted this long after they finished.
    pub sent: Duration,
    /// Given-up messages are kept this long for operators, then deleted.
    pub failed: Duration,
}

/// One channel's delivery: its queue, how long one attempt may take, and the attempt itself.
#[async_trait]
pub trait Courier: Send + Sync + 'static {
    type Message: Queued;

    /// The channel's name in logs ("mail", "webhook").
    fn channel(&self) -> &'static str;
    fn queue(&self) -> &dyn DeliveryQueue<Self::Message>;
    fn retention(&self) -> Retention;
    /// The longest one attempt takes (its checks and its send), whatever the receiver does.
    fn attempt_deadline(&self) -> Duration;
    /// One attempt at one message within its deadlines; never fails, the outcome says it all.
    async fn deliver(&self, message: Self::Message) -> Delivered;

    /// Claims up to `limit` due messages for `lease` (with `lapsed`, those whose lease ran out too).
    async fn claim(
        &self,
        limit: u64,
        lease: Duration,
        lapsed: bool,
    ) -> Result<Vec<Self::Message>, StoreError> {
        self.queue().claim_due(limit, lease, lapsed).await
    }

    /// Hands claimed messages that were not started back: due at once, no attempt counted.
    async fn release(&self, claims: &[QueueClaim]) -> Result<(), StoreError> {
        self.queue().release(claims).await
    }

    /// Writes what became of finished messages, with their audit events, in one transaction.
    async fn settle(&self, done: &[Delivered]) -> Result<(), StoreError> {
        let settled: Vec<Settled> = done.iter().map(|d| d.settled.clone()).collect();
        let events: Vec<AuditEvent> = done.iter().flat_map(|d| d.events.iter().cloned()).collect();
        self.queue().settle(&settled, &events).await
    }

    /// Deletes up to `limit` finished messages past their retention at `now`; returns how many.
    async fn prune(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let retention = self.retention();
        self.queue()
            .prune(now - retention.sent, now - retention.failed, limit)
            .await
    }
}

/// Wakes the delivery workers when a change queued something (a notice, an event), so they
/// deliver at once instead of at their next poll.
#[derive(Debug, Default)]
pub struct DeliveryWake {
    pub mail: std::sync::Arc<tokio::sync::Notify>,
    pub events: std::sync::Arc<tokio::sync::Notify>,
}

impl DeliveryWake {
    pub fn notify_one(&self) {
        self.mail.notify_one();
        self.events.notify_one();
    }
}
