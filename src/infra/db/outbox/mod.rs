//! The delivery queue on SeaORM: one table, `outbox`, whose rows are mail or webhook events
//! (`channel`). One implementation claims a channel's due rows in batches under a lease, so several
//! instances share the table (`FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB), settles them
//! (retried with backoff, erased once sent, dropped or given up) and prunes them after a retention;
//! each channel only writes its rows and opens what it claimed.
pub mod mail;

use std::{collections::BTreeMap, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    TransactionTrait, UpdateMany,
    sea_query::{Expr, ExprTrait},
};

pub use self::mail::SeaOutbox;
use super::{audit::insert_audit_many, claims, entities::outbox, map_db_err, shapes, time::to_naive};
use crate::{
    domain::audit::AuditEvent,
    recovery::ports::{DeliveryOutcome, DeliveryQueue, QueueClaim, Queued, Settled, StoreError},
};

pub(crate) const PENDING: &str = "PENDING";
const SENDING: &str = "SENDING";
const SENT: &str = "SENT";
const FAILED: &str = "FAILED";
const DROPPED: &str = "DROPPED";

/// Which kind of message a row is; the claim index leads with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Mail,
    Webhook,
}

impl Channel {
    pub fn code(self) -> &'static str {
        match self {
            Channel::Mail => "MAIL",
            Channel::Webhook => "WEBHOOK",
        }
    }
}

/// One channel of the queue.
#[derive(Clone)]
pub struct Queue {
    db: DatabaseConnection,
    channel: Channel,
}

/// A channel's side of the queue: the rows it claimed opened into the messages its courier
/// delivers. Everything else a channel of the queue does is the queue's, once, below.
#[async_trait]
pub trait ChannelRows: Send + Sync {
    type Message: Queued;
    fn queue(&self) -> &Queue;
    /// Opens claimed rows, oldest first; a row that cannot be opened is given up here.
    async fn open(&self, rows: Vec<outbox::Model>) -> Result<Vec<Self::Message>, StoreError>;
}

#[async_trait]
impl<C: ChannelRows> DeliveryQueue<C::Message> for C {
    async fn claim_due(
        &self,
        limit: u64,
        lease: Duration,
        lapsed: bool,
    ) -> Result<Vec<C::Message>, StoreError> {
        let rows = self.queue().claim_due(limit, lease, lapsed).await?;
        self.open(rows).await
    }

    async fn settle(&self, settled: &[Settled], events: &[AuditEvent]) -> Result<(), StoreError> {
        self.queue().settle(settled, events).await
    }

    async fn release(&self, claims: &[QueueClaim]) -> Result<(), StoreError> {
        self.queue().release(claims).await
    }

    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        self.queue().prune(sent_before, failed_before, limit).await
    }
}

/// The rows a delivery worker claims: due rows of one channel and status, oldest due first.
/// Written as one range of `ix_outbox_due` (channel, status, next_attempt_at), so a claim reads the
/// due rows only, never the finished ones that share the table until they are pruned.
fn due(channel: Channel, status: &'static str, now: NaiveDateTime) -> Select<outbox::Entity> {
    outbox::Entity::find()
        .filter(outbox::Column::Channel.eq(channel.code()))
        .filter(outbox::Column::Status.eq(status))
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(outbox::Column::NextAttemptAt)
}

/// What a claim writes: in flight until `until`, one more attempt.
fn claim_update(until: NaiveDateTime) -> UpdateMany<outbox::Entity> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(SENDING))
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(until))
}

/// Rows still in the claim `attempts` left them in (a claimer whose lease ran out matches none).
fn in_claim(ids: Vec<i64>, attempts: u32) -> Condition {
    Condition::all()
        .add(outbox::Column::Id.is_in(shapes::padded(ids)))
        .add(outbox::Column::Attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)))
        .add(outbox::Column::Status.eq(SENDING))
}

/// Claims grouped by attempt count, so each group is one statement.
fn by_attempts(claims: impl IntoIterator<Item = QueueClaim>) -> BTreeMap<u32, Vec<i64>> {
    let mut groups: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for claim in claims {
        groups.entry(claim.attempts).or_default().push(claim.id);
    }
    groups
}

/// `at`, rounded up to a whole second: MariaDB keeps DATETIME in whole seconds (truncated), and a
/// retry must never come before the wait it was given (a receiver's `Retry-After` above all).
fn whole_second_after(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    match at.duration_trunc(TimeDelta::seconds(1)) {
        Ok(second) if second < at => second + TimeDelta::seconds(1),
        _ => at,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(480).collect()
}

/// Rows of a finished status older than a cutoff, a bounded number at a time.
const PRUNE_STEP: u64 = 1000;

impl Queue {
    pub(crate) fn new(db: DatabaseConnection, channel: Channel) -> Self {
        Queue { db, channel }
    }

    /// The claim a row is in.
    pub(crate) fn claim_of(row: &outbox::Model) -> QueueClaim {
        QueueClaim {
            id: row.id,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
        }
    }

    /// Claims up to `limit` due rows of one status.
    async fn claim_rows(
        &self,
        status: &'static str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: u64,
    ) -> Result<Vec<outbox::Model>, StoreError> {
        let claimed = claims::claim(
            &self.db,
            due(self.channel, status, now),
            outbox::Column::Id,
            |row| row.id,
            limit,
            claim_update(until),
        )
        .await?;
        let mut rows = claimed.rows;
        if !claimed.marked {
            for row in &mut rows {
                row.attempts += 1;
                row.status = SENDING.to_owned();
                row.next_attempt_at = until;
            }
        }
        Ok(rows)
    }

    /// Claims up to `limit` due rows for `lease`, oldest id first.
    pub(crate) async fn claim_due(
        &self,
        limit: u64,
        lease: Duration,
        lapsed: bool,
    ) -> Result<Vec<outbox::Model>, StoreError> {
        let now = Utc::now();
        let until = to_naive(now + lease);
        let mut rows = Vec::new();
        // Rows whose claimer's lease ran out first (rarely any), then pending ones.
        let statuses: &[&'static str] = if lapsed { &[SENDING, PENDING] } else { &[PENDING] };
        for &status in statuses {
            let want = limit.saturating_sub(rows.len() as u64);
            if want == 0 {
                break;
            }
            rows.extend(self.claim_rows(status, to_naive(now), until, want).await?);
        }
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    pub(crate) async fn settle(&self, settled: &[Settled], events: &[AuditEvent]) -> Result<(), StoreError> {
        if settled.is_empty() && events.is_empty() {
            return Ok(());
        }
        let now = to_naive(Utc::now());
        // A finished row keeps its finishing time in next_attempt_at: pruning reads that range. Its
        // body goes: sealed mail, an event's payload.
        let finished = |status: &'static str| {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::Status, Expr::value(status))
                .col_expr(outbox::Column::Sealed, Expr::value(Option::<String>::None))
                .col_expr(outbox::Column::Payload, Expr::value(Option::<String>::None))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        };
        let mut sent = Vec::new();
        let mut dropped = Vec::new();
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let mut applied = 0;
        for item in settled {
            match &item.outcome {
                DeliveryOutcome::Sent => sent.push(item.claim),
                DeliveryOutcome::Dropped => dropped.push(item.claim),
                DeliveryOutcome::Retry { error, after } => {
                    applied += outbox::Entity::update_many()
                        .col_expr(outbox::Column::Status, Expr::value(PENDING))
                        .col_expr(outbox::Column::LastError, Expr::value(truncate(error)))
                        .col_expr(
                            outbox::Column::NextAttemptAt,
                            Expr::value(to_naive(whole_second_after(Utc::now() + *after))),
                        )
                        .filter(in_claim(vec![item.claim.id], item.claim.attempts))
                        .exec(&txn)
                        .await
                        .map_err(map_db_err)?
                        .rows_affected;
                }
                DeliveryOutcome::Failed { error } => {
                    applied += finished(FAILED)
                        .col_expr(outbox::Column::LastError, Expr::value(truncate(error)))
                        .filter(in_claim(vec![item.claim.id], item.claim.attempts))
                        .exec(&txn)
                        .await
                        .map_err(map_db_err)?
                        .rows_affected;
                }
            }
        }
        for (status, claims) in [(SENT, sent), (DROPPED, dropped)] {
            for (attempts, ids) in by_attempts(claims) {
                applied += finished(status)
                    .col_expr(outbox::Column::LastError, Expr::value(Option::<String>::None))
                    .col_expr(
                        outbox::Column::SentAt,
                        Expr::value((status == SENT).then_some(now)),
                    )
                    .filter(in_claim(ids, attempts))
                    .exec(&txn)
                    .await
                    .map_err(map_db_err)?
                    .rows_affected;
            }
        }
        // Settling again what a timed-out call did commit changes no row: then the events are in too.
        let repeated = !settled.is_empty() && applied == 0;
        if !events.is_empty() && !repeated {
            insert_audit_many(&txn, events).await?;
        }
        txn.commit().await.map_err(map_db_err)?;
        if applied < settled.len() as u64 {
            // Only possible when a lease ran out before its message was settled.
            tracing::warn!(
                channel = self.channel.code(),
                stale = settled.len() as u64 - applied,
                "outbox rows were no longer in the claim that settled them"
            );
        }
        Ok(())
    }

    pub(crate) async fn release(&self, claims: &[QueueClaim]) -> Result<(), StoreError> {
        let now = to_naive(Utc::now());
        for (attempts, ids) in by_attempts(claims.iter().copied()) {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::Status, Expr::value(PENDING))
                .col_expr(
                    outbox::Column::Attempts,
                    Expr::col(outbox::Column::Attempts).sub(1),
                )
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
                .filter(in_claim(ids, attempts))
                .exec(&self.db)
                .await
                .map_err(map_db_err)?;
        }
        Ok(())
    }

    pub(crate) async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for (status, before) in [
            (SENT, sent_before),
            (DROPPED, sent_before),
            (FAILED, failed_before),
        ] {
            // Ids first, then a delete by id: MariaDB allows no LIMIT in an IN subquery.
            loop {
                let step = Ord::min(PRUNE_STEP, limit.saturating_sub(deleted));
                if step == 0 {
                    return Ok(deleted);
                }
                let ids: Vec<i64> = outbox::Entity::find()
                    .select_only()
                    .column(outbox::Column::Id)
                    .filter(outbox::Column::Channel.eq(self.channel.code()))
                    .filter(outbox::Column::Status.eq(status))
                    .filter(outbox::Column::NextAttemptAt.lt(to_naive(before)))
                    .limit(step)
                    .into_tuple()
                    .all(&self.db)
                    .await
                    .map_err(map_db_err)?;
                if ids.is_empty() {
                    break;
                }
                let found = ids.len() as u64;
                deleted += outbox::Entity::delete_many()
                    .filter(outbox::Column::Id.is_in(ids))
                    .exec(&self.db)
                    .await
                    .map_err(map_db_err)?
                    .rows_affected;
                if found < step {
                    break;
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn retries_are_due_on_a_whole_second_never_before_their_wait() {
        let exact = Utc.with_ymd_and_hms(2026, 12, 7, 5, 0, 3).unwrap();
        assert_eq!(whole_second_after(exact), exact);
        let within = exact + chrono::TimeDelta::milliseconds(1);
        assert_eq!(whole_second_after(within), exact + chrono::TimeDelta::seconds(1));
        let late = exact + chrono::TimeDelta::milliseconds(999);
        assert_eq!(whole_second_after(late), exact + chrono::TimeDelta::seconds(1));
    }
}
