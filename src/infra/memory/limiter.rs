//! `Limiter` in process: fixed-window counters, each starting its window at its first hit.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{Expiring, MemoryStore};
use crate::{
    domain::session::LimitDecision,
    recovery::ports::{CounterHit, Limiter, StoreError},
};

/// Hits per key, and when the key's window ends.
#[derive(Default)]
pub(super) struct Counters(HashMap<String, (u32, Instant)>);

impl Expiring for Counters {
    fn sweep(&mut self, now: Instant) {
        self.0.retain(|_, (_, until)| *until > now);
    }
}

#[async_trait]
impl Limiter for MemoryStore {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<LimitDecision, StoreError> {
        self.counters.with(|counters, now| {
            let entry = counters.0.entry(key.to_owned()).or_insert((0, now + window));
            entry.0 = entry.0.saturating_add(1);
            LimitDecision {
                allowed: entry.0 <= limit,
                count: entry.0,
                retry_after: entry.1.saturating_duration_since(now),
            }
        })
    }

    async fn hit_all(&self, hits: &[CounterHit<'_>]) -> Result<Vec<LimitDecision>, StoreError> {
        // One lock for all of them, like the one script on Redis; counting stops after the first
        // counter over its limit.
        self.counters.with(|counters, now| {
            let mut decisions = Vec::with_capacity(hits.len());
            for hit in hits {
                let entry = counters
                    .0
                    .entry(hit.key.to_owned())
                    .or_insert((0, now + hit.window));
                entry.0 = entry.0.saturating_add(1);
                let allowed = entry.0 <= hit.limit;
                decisions.push(LimitDecision {
                    allowed,
                    count: entry.0,
                    retry_after: entry.1.saturating_duration_since(now),
                });
                if !allowed {
                    break;
                }
            }
            decisions
        })
    }

    async fn peek(&self, key: &str, limit: u32) -> Result<LimitDecision, StoreError> {
        self.counters.with(|counters, now| match counters.0.get(key) {
            Some((count, until)) => LimitDecision {
                allowed: *count < limit,
                count: *count,
                retry_after: until.saturating_duration_since(now),
            },
            None => LimitDecision {
                allowed: true,
                count: 0,
                retry_after: Duration::ZERO,
            },
        })
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.counters.with(|counters, _| {
            counters.0.remove(key);
        })
    }
}
