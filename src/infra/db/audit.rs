//! `AuditLog` on SeaORM: one row per recovery event, never a secret.
use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};

use super::{entities::audit_event, map_db_err, time::to_naive};
use crate::recovery::ports::{AuditEvent, AuditLog, StoreError};

pub(crate) async fn insert_audit<C: ConnectionTrait>(conn: &C, event: &AuditEvent) -> Result<(), StoreError> {
    let row = audit_event::ActiveModel {
        site_id: Set(event.site.as_str().to_owned()),
        member_id: Set(event.member.as_ref().map(|m| m.0.clone())),
        kind: Set(event.kind.code().to_owned()),
        outcome: Set(event.outcome.code().to_owned()),
        client_addr: Set(event.client.clone()),
        occurred_at: Set(to_naive(Utc::now())),
        ..Default::default()
    };
    audit_event::Entity::insert(row)
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    Ok(())
}

/// Inserts many events in one statement (a resolved batch).
pub(crate) async fn insert_audit_many<C: ConnectionTrait>(
    conn: &C,
    events: &[AuditEvent],
) -> Result<(), StoreError> {
    let now = to_naive(Utc::now());
    let rows = events.iter().map(|event| audit_event::ActiveModel {
        site_id: Set(event.site.as_str().to_owned()),
        member_id: Set(event.member.as_ref().map(|m| m.0.clone())),
        kind: Set(event.kind.code().to_owned()),
        outcome: Set(event.outcome.code().to_owned()),
        client_addr: Set(event.client.clone()),
        occurred_at: Set(now),
        ..Default::default()
    });
    audit_event::Entity::insert_many(rows)
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    Ok(())
}

#[derive(Clone)]
pub struct SeaAuditLog {
    db: DatabaseConnection,
}

impl SeaAuditLog {
    pub fn new(db: DatabaseConnection) -> Self {
        SeaAuditLog { db }
    }
}

#[async_trait]
impl AuditLog for SeaAuditLog {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        insert_audit(&self.db, &event).await
    }
}
