//! Fixed-window counters shared by every instance: rate limits and sign-in throttles.
use std::time::Duration;

use async_trait::async_trait;

use crate::{domain::session::LimitDecision, recovery::ports::errors::StoreError};

/// One counter of a [`Limiter::hit_all`] call.
#[derive(Debug, Clone, Copy)]
pub struct CounterHit<'a> {
    pub key: &'a str,
    pub limit: u32,
    pub window: Duration,
}

/// Fixed-window counters shared by all instances: rate limits and sign-in throttles.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Counts one hit on `key` (the window starts with the first hit) and says whether it is
    /// within `limit`.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<LimitDecision, StoreError>;
    /// Counts one hit on each counter in order, at once — one round trip, one script on Redis — and
    /// says for each counted one whether it is within its limit. The first counter over its limit
    /// is counted and ends the call: the ones after it are neither counted nor answered (so a call
    /// the client's own budget refuses never spends its target's).
    /// The keys of one call start with the same `name:` segment (one operation's limits), which
    /// keeps them in one slot on Redis Cluster.
    async fn hit_all(&self, hits: &[CounterHit<'_>]) -> Result<Vec<LimitDecision>, StoreError>;
    /// [`Limiter::hit_all`] for several calls at once (the limits of concurrent requests): each
    /// call's answer, in order, as if it were made alone. A store that can counts them in fewer
    /// round trips; one call's failure is its own.
    async fn hit_calls(&self, calls: &[&[CounterHit<'_>]]) -> Vec<Result<Vec<LimitDecision>, StoreError>> {
        let mut answers = Vec::with_capacity(calls.len());
        for hits in calls {
            answers.push(self.hit_all(hits).await);
        }
        answers
    }
    /// Says whether one more hit would still be within `limit` (count < limit), without counting.
    async fn peek(&self, key: &str, limit: u32) -> Result<LimitDecision, StoreError>;
    async fn clear(&self, key: &str) -> Result<(), StoreError>;
}
