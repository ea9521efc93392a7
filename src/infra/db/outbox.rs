//! `MailOutbox` on SeaORM: sealed messages claimed with a lease so several instances can share
//! the table, retried with backoff, erased once sent or dropped.
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::Expr,
};

use super::{audit::insert_audit_many, entities::mail_outbox, map_db_err, time::to_naive};
use crate::{
    domain::{grant::GrantOwner, member::MemberId, site::SiteId},
    infra::sealer::Sealer,
    recovery::ports::{
        AuditEvent, ClaimedMail, KeyedMail, MailKind, MailMeta, MailOutbox, OutgoingMail, StoreError,
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
    let row = mail_outbox::ActiveModel {
        site_id: Set(meta.site.as_str().to_owned()),
        member_id: Set(meta.member.as_ref().map(|m| m.0.clone())),
        kind: Set(meta.kind.code().to_owned()),
        recipient: Set(mail.to.clone()),
        sealed: Set(Some(sealer.seal(mail))),
        grant_ref: Set(grant_ref(meta)),
        status: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        dedup_key: Set(None),
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

impl SeaOutbox {
    pub fn new(db: DatabaseConnection, sealer: Sealer) -> Self {
        SeaOutbox { db, sealer }
    }

    async fn finish(&self, id: i64, status: &str, error: Option<&str>) -> Result<(), StoreError> {
        let now = to_naive(Utc::now());
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::Status, Expr::value(status))
            .col_expr(mail_outbox::Column::Sealed, Expr::value(Option::<String>::None))
            .col_expr(mail_outbox::Column::LastError, Expr::value(error.map(truncate)))
            .col_expr(
                mail_outbox::Column::SentAt,
                Expr::value((status == SENT).then_some(now)),
            )
            .filter(mail_outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(480).collect()
}

#[async_trait]
impl MailOutbox for SeaOutbox {
    async fn enqueue(&self, meta: &MailMeta, mail: &OutgoingMail) -> Result<(), StoreError> {
        insert_outbox(&self.db, &self.sealer, meta, mail).await
    }

    async fn claim_due(&self, limit: u64, lease: Duration) -> Result<Vec<ClaimedMail>, StoreError> {
        let now = Utc::now();
        let due = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Status.is_in([PENDING, SENDING]))
            .filter(mail_outbox::Column::NextAttemptAt.lte(to_naive(now)))
            .order_by_asc(mail_outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let mut claimed = Vec::new();
        for row in due {
            // Optimistic claim: whoever bumps `attempts` from the value read owns the message.
            let won = mail_outbox::Entity::update_many()
                .col_expr(mail_outbox::Column::Status, Expr::value(SENDING))
                .col_expr(mail_outbox::Column::Attempts, Expr::value(row.attempts + 1))
                .col_expr(
                    mail_outbox::Column::NextAttemptAt,
                    Expr::value(to_naive(now + lease)),
                )
                .filter(mail_outbox::Column::Id.eq(row.id))
                .filter(mail_outbox::Column::Attempts.eq(row.attempts))
                .filter(mail_outbox::Column::Status.eq(row.status.as_str()))
                .exec(&self.db)
                .await
                .map_err(map_db_err)?
                .rows_affected
                == 1;
            if !won {
                continue;
            }
            let Some(mail) = row.sealed.as_deref().and_then(|s| self.sealer.open(s).ok()) else {
                tracing::error!(outbox_id = row.id, "queued mail cannot be opened; dropping it");
                self.finish(row.id, FAILED, Some("sealed body cannot be opened"))
                    .await?;
                continue;
            };
            let kind = MailKind::from_code(&row.kind).unwrap_or(MailKind::ResetRequested);
            claimed.push(ClaimedMail {
                id: row.id,
                attempts: u32::try_from(row.attempts + 1).unwrap_or(u32::MAX),
                meta: MailMeta {
                    site: SiteId::parse(&row.site_id)
                        .map_err(|_| StoreError::Internal(format!("outbox row {} has a bad site", row.id)))?,
                    member: row.member_id.map(MemberId),
                    kind,
                    grants: parse_grant_ref(row.grant_ref.as_deref()),
                },
                mail,
            });
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, id: i64) -> Result<(), StoreError> {
        self.finish(id, SENT, None).await
    }

    async fn mark_failed(&self, id: i64, error: &str, retry_in: Option<Duration>) -> Result<(), StoreError> {
        match retry_in {
            None => self.finish(id, FAILED, Some(error)).await,
            Some(delay) => {
                mail_outbox::Entity::update_many()
                    .col_expr(mail_outbox::Column::Status, Expr::value(PENDING))
                    .col_expr(mail_outbox::Column::LastError, Expr::value(truncate(error)))
                    .col_expr(
                        mail_outbox::Column::NextAttemptAt,
                        Expr::value(to_naive(Utc::now() + delay)),
                    )
                    .filter(mail_outbox::Column::Id.eq(id))
                    .exec(&self.db)
                    .await
                    .map_err(map_db_err)?;
                Ok(())
            }
        }
    }

    async fn mark_dropped(&self, id: i64) -> Result<(), StoreError> {
        self.finish(id, DROPPED, None).await
    }

    async fn enqueue_resolved(&self, mails: &[KeyedMail], events: &[AuditEvent]) -> Result<(), StoreError> {
        let now = to_naive(Utc::now());
        let txn = self.db.begin().await.map_err(map_db_err)?;
        if !mails.is_empty() {
            let rows = mails.iter().map(|keyed| mail_outbox::ActiveModel {
                site_id: Set(keyed.meta.site.as_str().to_owned()),
                member_id: Set(keyed.meta.member.as_ref().map(|m| m.0.clone())),
                kind: Set(keyed.meta.kind.code().to_owned()),
                recipient: Set(keyed.mail.to.clone()),
                sealed: Set(Some(self.sealer.seal(&keyed.mail))),
                grant_ref: Set(grant_ref(&keyed.meta)),
                status: Set(PENDING.to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                last_error: Set(None),
                created_at: Set(now),
                sent_at: Set(None),
                dedup_key: Set(Some(keyed.key.clone())),
                ..Default::default()
            });
            // A key already queued (the batch was resolved before) adds nothing.
            mail_outbox::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([mail_outbox::Column::DedupKey])
                .exec(&txn)
                .await
                .map_err(map_db_err)?;
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
