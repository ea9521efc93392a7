//! The mail channel of the delivery queue: sealed messages written with the state change (or by
//! the reset resolver, keyed so a batch resolved twice mails once), opened when claimed.

use async_trait::async_trait;
use chrono::{NaiveDateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};

use super::{Channel, ChannelRows, PENDING, Queue};
use crate::{
    domain::{audit::AuditEvent, grant::GrantOwner, mail_kind::MailKind, member::MemberId, site::SiteId},
    infra::{
        db::{audit::insert_audit_many, entities::outbox, map_db_err, shapes, time::to_naive},
        sealer::Sealer,
    },
    recovery::ports::{
        ClaimedMail, DeliveryOutcome, KeyedMail, MailMeta, MailOutbox, OutgoingMail, Settled, StoreError,
    },
};

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

/// A due mail row under its unique `key`, which its sealed body is bound to.
fn mail_row(
    sealer: &Sealer,
    meta: &MailMeta,
    mail: &OutgoingMail,
    key: String,
    now: NaiveDateTime,
) -> outbox::ActiveModel {
    let sealed = sealer.seal(mail, &key);
    outbox::ActiveModel {
        site_id: Set(meta.site.as_str().to_owned()),
        member_id: Set(meta.member.as_ref().map(|m| m.0.clone())),
        kind: Set(meta.kind.code().to_owned()),
        recipient: Set(mail.to.clone()),
        channel: Set(Channel::Mail.code().to_owned()),
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
    }
}

/// Inserts a sealed message on any connection (a transaction included).
pub(crate) async fn insert_outbox<C: ConnectionTrait>(
    conn: &C,
    sealer: &Sealer,
    meta: &MailMeta,
    mail: &OutgoingMail,
) -> Result<(), StoreError> {
    // A random key: nothing else names this row.
    let key = uuid::Uuid::new_v4().simple().to_string();
    let row = mail_row(sealer, meta, mail, key, to_naive(Utc::now()));
    outbox::Entity::insert(row).exec(conn).await.map_err(map_db_err)?;
    metrics::counter!("mail_queued_total", "kind" => meta.kind.code()).increment(1);
    Ok(())
}

#[derive(Clone)]
pub struct SeaOutbox {
    db: DatabaseConnection,
    queue: Queue,
    sealer: Sealer,
}

impl SeaOutbox {
    pub fn new(db: DatabaseConnection, sealer: Sealer) -> Self {
        SeaOutbox {
            queue: Queue::new(db.clone(), Channel::Mail),
            db,
            sealer,
        }
    }

    /// Opens a claimed row; a body that cannot be opened is given up at once.
    async fn open_row(&self, row: outbox::Model) -> Result<Option<ClaimedMail>, StoreError> {
        let claim = Queue::claim_of(&row);
        let opened = row.sealed.as_deref().and_then(|s| {
            self.sealer
                .open(s, row.seal_key_id.as_deref(), row.dedup_key.as_deref())
                .ok()
        });
        let Some(mail) = opened else {
            tracing::error!(outbox_id = row.id, "queued mail cannot be opened; giving it up");
            let failed = Settled {
                claim,
                outcome: DeliveryOutcome::Failed {
                    error: "sealed body cannot be opened".into(),
                },
            };
            self.queue.settle(&[failed], &[]).await?;
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

#[async_trait]
impl ChannelRows for SeaOutbox {
    type Message = ClaimedMail;

    fn queue(&self) -> &Queue {
        &self.queue
    }

    async fn open(&self, rows: Vec<outbox::Model>) -> Result<Vec<ClaimedMail>, StoreError> {
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(mail) = self.open_row(row).await? {
                claimed.push(mail);
            }
        }
        Ok(claimed)
    }
}

#[async_trait]
impl MailOutbox for SeaOutbox {
    async fn enqueue(&self, meta: &MailMeta, mail: &OutgoingMail) -> Result<(), StoreError> {
        insert_outbox(&self.db, &self.sealer, meta, mail).await
    }

    async fn enqueue_resolved(&self, mails: &[KeyedMail], events: &[AuditEvent]) -> Result<(), StoreError> {
        let now = to_naive(Utc::now());
        let txn = self.db.begin().await.map_err(map_db_err)?;
        if !mails.is_empty() {
            let rows = mails
                .iter()
                .map(|keyed| mail_row(&self.sealer, &keyed.meta, &keyed.mail, keyed.key.clone(), now));
            // A key already queued (the batch was resolved before) adds nothing.
            // Rows carry sealed mail (a few KiB each): at most 64 per statement keeps a
            // connection's write buffer small.
            for rows in shapes::chunks(rows, 64) {
                outbox::Entity::insert_many(rows)
                    .on_conflict_do_nothing_on([outbox::Column::DedupKey])
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
