//! `MailOutbox` on SeaORM: sealed messages claimed in batches with a lease so several instances
//! can share the table (`FOR UPDATE SKIP LOCKED` on PostgreSQL and MariaDB), retried with
//! backoff, erased once sent or dropped, and pruned after a retention.
use std::{collections::BTreeMap, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, TransactionTrait, UpdateMany,
    sea_query::{Expr, ExprTrait},
};

use super::{audit::insert_audit_many, claims, entities::mail_outbox, map_db_err, shapes, time::to_naive};
use crate::{
    domain::{audit::AuditEvent, grant::GrantOwner, mail_kind::MailKind, member::MemberId, site::SiteId},
    infra::sealer::Sealer,
    recovery::ports::{
        ClaimedMail, KeyedMail, MailClaim, MailMeta, MailOutbox, MailOutcome, OutgoingMail, SettledMail,
        StoreError,
    },
};

const PENDING: &str = "PENDING";
const SENDING: &str = "SENDING";
const SENT: &str = "SENT";
const FAILED: &str = "FAILED";
const DROPPED: &str = "DROPPED";

fn grant_ref(meta: &MailMeta) -> Option<String> {
    (!meta.grants.is_empty()).then(|| {
        meta.grants
            .iter()
            .map(|(owner, id)| format!("{}/{id}", owner.tag()))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn parse_grant_ref(raw: Option<&str>) -> Vec<(GrantOwner, String)> {
    raw.unwrap_or_default()
        .split_whitespace()
        .filter_map(|item| {
            let (tag, id) = item.rsplit_once('/')?;
            Some((GrantOwner::parse_tag(tag)?, id.to_owned()))
        })
        .collect()
}

/// Inserts a sealed message on any connection (a transaction included).
pub(crate) async fn insert_outbox<C: ConnectionTrait>(
    conn: &C,
    sealer: &Sealer,
    meta: &MailMeta,
    mail: &OutgoingMail,
) -> Result<(), StoreError> {
    let now = to_naive(Utc::now());
    // Every row has a unique key, which its sealed body is bound to: a random one here.
    let key = uuid::Uuid::new_v4().simple().to_string();
    let sealed = sealer.seal(mail, &key);
    let row = mail_outbox::ActiveModel {
        site_id: Set(meta.site.as_str().to_owned()),
        member_id: Set(meta.member.as_ref().map(|m| m.0.clone())),
        kind: Set(meta.kind.code().to_owned()),
        recipient: Set(mail.to.clone()),
        sealed: Set(Some(sealed.body)),
        seal_key_id: Set(Some(sealed.key.as_str().to_owned())),
        grant_ref: Set(grant_ref(meta)),
        status: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        dedup_key: Set(Some(key)),
        ..Default::default()
    };
    mail_outbox::Entity::insert(row)
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    metrics::counter!("mail_queued_total", "kind" => meta.kind.code()).increment(1);
    Ok(())
}

#[derive(Clone)]
pub struct SeaOutbox {
    db: DatabaseConnection,
    sealer: Sealer,
}

/// The rows the delivery worker claims: due mail of one status, oldest due first. Written as one
/// range of `ix_mail_outbox_due` (status, next_attempt_at) per status, so a claim reads the due
/// rows only, never the sent and dropped ones that share the table until they are pruned.
fn due(status: &'static str, now: NaiveDateTime) -> Select<mail_outbox::Entity> {
    mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Status.eq(status))
        .filter(mail_outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(mail_outbox::Column::NextAttemptAt)
}

/// What a claim writes: in flight until `until`, one more attempt.
fn claim_update(until: NaiveDateTime) -> UpdateMany<mail_outbox::Entity> {
    mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::Status, Expr::value(SENDING))
        .col_expr(
            mail_outbox::Column::Attempts,
            Expr::col(mail_outbox::Column::Attempts).add(1),
        )
        .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(until))
}

/// Rows still in the claim `attempts` left them in (a claimer whose lease ran out matches none).
fn in_claim(ids: Vec<i64>, attempts: u32) -> Condition {
    Condition::all()
        .add(mail_outbox::Column::Id.is_in(shapes::padded(ids)))
        .add(mail_outbox::Column::Attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX)))
        .add(mail_outbox::Column::Status.eq(SENDING))
}

/// Claims grouped by attempt count, so each group is one statement.
fn by_attempts(claims: impl IntoIterator<Item = MailClaim>) -> BTreeMap<u32, Vec<i64>> {
    let mut groups: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for claim in claims {
        groups.entry(claim.attempts).or_default().push(claim.id);
    }
    groups
}

impl SeaOutbox {
    pub fn new(db: DatabaseConnection, sealer: Sealer) -> Self {
        SeaOutbox { db, sealer }
    }

    /// Claims up to `limit` due rows of one status.
    async fn claim_rows(
        &self,
        status: &'static str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: u64,
    ) -> Result<Vec<mail_outbox::Model>, StoreError> {
        let claimed = claims::claim(
            &self.db,
            due(status, now),
            mail_outbox::Column::Id,
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

    /// Opens a claimed row; a body that cannot be opened is given up at once.
    async fn open(&self, row: mail_outbox::Model) -> Result<Option<ClaimedMail>, StoreError> {
        let claim = MailClaim {
            id: row.id,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
        };
        let opened = row.sealed.as_deref().and_then(|s| {
            self.sealer
                .open(s, row.seal_key_id.as_deref(), row.dedup_key.as_deref())
                .ok()
        });
        let Some(mail) = opened else {
            tracing::error!(outbox_id = row.id, "queued mail cannot be opened; giving it up");
            let failed = SettledMail {
                claim,
                outcome: MailOutcome::Failed {
                    error: "sealed body cannot be opened".into(),
                },
            };
            self.settle(&[failed], &[]).await?;
            return Ok(None);
        };
        let kind = MailKind::from_code(&row.kind).unwrap_or(MailKind::ResetRequested);
        Ok(Some(ClaimedMail {
            id: claim.id,
            attempts: claim.attempts,
            meta: MailMeta {
                site: SiteId::parse(&row.site_id)
                    .map_err(|_| StoreError::Internal(format!("outbox row {} has a bad site", row.id)))?,
                member: row.member_id.map(MemberId),
                kind,
                grants: parse_grant_ref(row.grant_ref.as_deref()),
            },
            mail,
        }))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(480).collect()
}

/// Rows of a finished status older than a cutoff, a bounded number at a time.
const PRUNE_STEP: u64 = 1000;

#[async_trait]
impl MailOutbox for SeaOutbox {
    async fn enqueue(&self, meta: &MailMeta, mail: &OutgoingMail) -> Result<(), StoreError> {
        insert_outbox(&self.db, &self.sealer, meta, mail).await
    }

    async fn claim_due(
        &self,
        limit: u64,
        lease: Duration,
        lapsed: bool,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        let now = Utc::now();
        let until = to_naive(now + lease);
        let mut rows = Vec::new();
        // Mail whose claimer's lease ran out first (rarely any), then pending mail.
        let statuses: &[&'static str] = if lapsed { &[SENDING, PENDING] } else { &[PENDING] };
        for &status in statuses {
            let want = limit.saturating_sub(rows.len() as u64);
            if want == 0 {
                break;
            }
            rows.extend(self.claim_rows(status, to_naive(now), until, want).await?);
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(mail) = self.open(row).await? {
                claimed.push(mail);
            }
        }
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    async fn settle(&self, settled: &[SettledMail], events: &[AuditEvent]) -> Result<(), StoreError> {
        if settled.is_empty() && events.is_empty() {
            return Ok(());
        }
        let now = to_naive(Utc::now());
        // A finished row keeps its finishing time in next_attempt_at: pruning reads that range.
        let finished = |status: &'static str| {
            mail_outbox::Entity::update_many()
                .col_expr(mail_outbox::Column::Status, Expr::value(status))
                .col_expr(mail_outbox::Column::Sealed, Expr::value(Option::<String>::None))
                .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(now))
        };
        let mut sent = Vec::new();
        let mut dropped = Vec::new();
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let mut applied = 0;
        for item in settled {
            match &item.outcome {
                MailOutcome::Sent => sent.push(item.claim),
                MailOutcome::Dropped => dropped.push(item.claim),
                MailOutcome::Retry { error, after } => {
                    applied += mail_outbox::Entity::update_many()
                        .col_expr(mail_outbox::Column::Status, Expr::value(PENDING))
                        .col_expr(mail_outbox::Column::LastError, Expr::value(truncate(error)))
                        .col_expr(
                            mail_outbox::Column::NextAttemptAt,
                            Expr::value(to_naive(Utc::now() + *after)),
                        )
                        .filter(in_claim(vec![item.claim.id], item.claim.attempts))
                        .exec(&txn)
                        .await
                        .map_err(map_db_err)?
                        .rows_affected;
                }
                MailOutcome::Failed { error } => {
                    applied += finished(FAILED)
                        .col_expr(mail_outbox::Column::LastError, Expr::value(truncate(error)))
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
                    .col_expr(
                        mail_outbox::Column::LastError,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(
                        mail_outbox::Column::SentAt,
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
                stale = settled.len() as u64 - applied,
                "outbox rows were no longer in the claim that settled them"
            );
        }
        Ok(())
    }

    async fn release(&self, claims: &[MailClaim]) -> Result<(), StoreError> {
        let now = to_naive(Utc::now());
        for (attempts, ids) in by_attempts(claims.iter().copied()) {
            mail_outbox::Entity::update_many()
                .col_expr(mail_outbox::Column::Status, Expr::value(PENDING))
                .col_expr(
                    mail_outbox::Column::Attempts,
                    Expr::col(mail_outbox::Column::Attempts).sub(1),
                )
                .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(now))
                .filter(in_claim(ids, attempts))
                .exec(&self.db)
                .await
                .map_err(map_db_err)?;
        }
        Ok(())
    }

    async fn prune(
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
                let ids: Vec<i64> = mail_outbox::Entity::find()
                    .select_only()
                    .column(mail_outbox::Column::Id)
                    .filter(mail_outbox::Column::Status.eq(status))
                    .filter(mail_outbox::Column::NextAttemptAt.lt(to_naive(before)))
                    .limit(step)
                    .into_tuple()
                    .all(&self.db)
                    .await
                    .map_err(map_db_err)?;
                if ids.is_empty() {
                    break;
                }
                let found = ids.len() as u64;
                deleted += mail_outbox::Entity::delete_many()
                    .filter(mail_outbox::Column::Id.is_in(ids))
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

    async fn enqueue_resolved(&self, mails: &[KeyedMail], events: &[AuditEvent]) -> Result<(), StoreError> {
        let now = to_naive(Utc::now());
        let txn = self.db.begin().await.map_err(map_db_err)?;
        if !mails.is_empty() {
            let rows = mails.iter().map(|keyed| {
                let sealed = self.sealer.seal(&keyed.mail, &keyed.key);
                mail_outbox::ActiveModel {
                    site_id: Set(keyed.meta.site.as_str().to_owned()),
                    member_id: Set(keyed.meta.member.as_ref().map(|m| m.0.clone())),
                    kind: Set(keyed.meta.kind.code().to_owned()),
                    recipient: Set(keyed.mail.to.clone()),
                    sealed: Set(Some(sealed.body)),
                    seal_key_id: Set(Some(sealed.key.as_str().to_owned())),
                    grant_ref: Set(grant_ref(&keyed.meta)),
                    status: Set(PENDING.to_owned()),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    last_error: Set(None),
                    created_at: Set(now),
                    sent_at: Set(None),
                    dedup_key: Set(Some(keyed.key.clone())),
                    ..Default::default()
                }
            });
            // A key already queued (the batch was resolved before) adds nothing.
            // Rows carry sealed mail (a few KiB each): at most 64 per statement keeps a
            // connection's write buffer small.
            for rows in shapes::chunks(rows, 64) {
                mail_outbox::Entity::insert_many(rows)
                    .on_conflict_do_nothing_on([mail_outbox::Column::DedupKey])
                    .exec(&txn)
                    .await
                    .map_err(map_db_err)?;
            }
        }
        if !events.is_empty() {
            insert_audit_many(&txn, events).await?;
        }
        txn.commit().await.map_err(map_db_err)?;
        for keyed in mails {
            metrics::counter!("mail_queued_total", "kind" => keyed.meta.kind.code()).increment(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_refs_round_trip() {
        let owner = GrantOwner::parse_tag("main:5b0c7e0e-1111-4444-8888-123456789abc").unwrap();
        let meta = MailMeta {
            site: owner.site.clone(),
            member: None,
            kind: MailKind::ResetRequested,
            grants: vec![(owner.clone(), "g1".into()), (owner.clone(), "g2".into())],
        };
        assert_eq!(parse_grant_ref(grant_ref(&meta).as_deref()), meta.grants);
        assert!(parse_grant_ref(None).is_empty());
    }
}
