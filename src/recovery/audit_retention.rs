//! Audit retention (`AUDIT_RETENTION_DAYS`): rows older than the retention are deleted in bounded
//! batches, by one instance per round, so the table stops growing with traffic while every read
//! of it stays index-bound and the request path keeps its latency.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    domain::grant::OnceKey,
    recovery::{
        errors::RecoveryError,
        ports::{AuditLog, TokenStore},
    },
};

/// How long audit rows are kept, and how the deleting is paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// `None`: kept forever (`AUDIT_RETENTION_DAYS=0`).
    pub keep: Option<Duration>,
    /// How often an instance offers to prune (`AUDIT_PRUNE_INTERVAL_SECS`); one instance a round.
    pub every: Duration,
    /// Rows per delete statement: small enough that one statement is a few milliseconds.
    pub batch: u64,
    /// The pause between two batches, which leaves the database to the request path.
    pub pause: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            keep: Some(Duration::from_secs(400 * 86_400)),
            every: Duration::from_secs(60),
            batch: 1000,
            pause: Duration::from_millis(20),
        }
    }
}

#[derive(Clone)]
pub struct AuditRetention {
    audit: Arc<dyn AuditLog>,
    /// Where the round's lease is taken (`spend_once`: Redis, or this process).
    tokens: Arc<dyn TokenStore>,
    settings: RetentionSettings,
}

impl AuditRetention {
    pub fn new(audit: Arc<dyn AuditLog>, tokens: Arc<dyn TokenStore>, settings: RetentionSettings) -> Self {
        AuditRetention {
            audit,
            tokens,
            settings,
        }
    }

    pub fn settings(&self) -> &RetentionSettings {
        &self.settings
    }

    /// One round at `now`: when retention is on and this instance is the first to take the
    /// round, deletes rows older than `now - keep`, batch after batch, until none is left or half
    /// the round has passed; how many went. `None`: another instance has the round, or
    /// retention is off.
    pub async fn prune_round(&self, now: DateTime<Utc>) -> Result<Option<u64>, RecoveryError> {
        let Some(keep) = self.settings.keep else {
            return Ok(None);
        };
        let every = self.settings.every.as_secs().max(1);
        let round = now
            .timestamp()
            .div_euclid(i64::try_from(every).unwrap_or(i64::MAX));
        let lease = OnceKey::of("audit-retention", &[&round.to_string()]);
        if !self.tokens.spend_once(&lease, self.settings.every).await? {
            return Ok(None);
        }
        let cutoff = now - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let started = tokio::time::Instant::now();
        let mut deleted = 0;
        loop {
            let went = self.audit.prune(cutoff, self.settings.batch).await?;
            deleted += went;
            if went < self.settings.batch || started.elapsed() > self.settings.every / 2 {
                return Ok(Some(deleted));
            }
            tokio::time::sleep(self.settings.pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::{
        domain::{
            audit::{AuditEvent, RecordedEvent},
            member::MemberId,
        },
        infra::memory::MemoryStore,
        recovery::ports::StoreError,
    };

    /// An audit log of `rows` timestamps, pruned oldest first.
    struct Rows(Mutex<Vec<DateTime<Utc>>>);

    #[async_trait]
    impl AuditLog for Rows {
        async fn record(&self, _: AuditEvent) -> Result<(), StoreError> {
            Ok(())
        }
        async fn member_events(
            &self,
            _: &MemberId,
            _: &[String],
            _: Option<i64>,
            _: u64,
        ) -> Result<Vec<RecordedEvent>, StoreError> {
            Ok(Vec::new())
        }
        async fn prune(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
            let mut rows = self.0.lock().unwrap();
            let old = rows.iter().filter(|at| **at < before).count().min(limit as usize);
            rows.sort();
            rows.drain(..old);
            Ok(old as u64)
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn rows_past_the_retention_go_in_batches_once_per_round() {
        let mut rows = vec![at("2025-01-01T00:00:00Z"); 25];
        rows.extend([at("2026-11-20T00:00:00Z"); 3]);
        let log = Arc::new(Rows(Mutex::new(rows)));
        let settings = RetentionSettings {
            keep: Some(Duration::from_secs(30 * 86_400)),
            every: Duration::from_secs(60),
            batch: 10,
            pause: Duration::ZERO,
        };
        let tokens = Arc::new(MemoryStore::new());
        let one = AuditRetention::new(log.clone(), tokens.clone(), settings.clone());
        let other = AuditRetention::new(log.clone(), tokens, settings.clone());
        let now = at("2026-12-07T10:00:05Z");
        assert_eq!(
            one.prune_round(now).await.unwrap(),
            Some(25),
            "in batches of 10, 10 and 5"
        );
        assert_eq!(log.0.lock().unwrap().len(), 3, "the recent rows stay");
        // The same round (10:00:00–10:00:59) belongs to the instance that took it.
        assert_eq!(other.prune_round(at("2026-12-07T10:00:40Z")).await.unwrap(), None);
        assert_eq!(
            other.prune_round(at("2026-12-07T10:01:00Z")).await.unwrap(),
            Some(0)
        );
        // Past the retention, by the clock passed in.
        assert_eq!(
            one.prune_round(at("2026-12-21T00:00:00Z")).await.unwrap(),
            Some(3)
        );

        let off = RetentionSettings {
            keep: None,
            ..settings
        };
        let kept = AuditRetention::new(log, Arc::new(MemoryStore::new()), off);
        assert_eq!(kept.prune_round(at("2030-01-01T00:00:00Z")).await.unwrap(), None);
    }
}
