//! `AuditLog` on SeaORM: one row per recovery event, never a secret.
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};

use super::{
    entities::audit_event,
    map_db_err, shapes,
    time::{to_naive, to_utc},
};
use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, RecordedEvent},
        member::MemberId,
    },
    recovery::ports::{AuditLog, StoreError},
};

pub(crate) async fn insert_audit<C: ConnectionTrait>(conn: &C, event: &AuditEvent) -> Result<(), StoreError> {
    let row = audit_event::ActiveModel {
        site_id: Set(event.site.as_str().to_owned()),
        member_id: Set(event.member.as_ref().map(|m| m.0.clone())),
        kind: Set(event.kind.code().to_owned()),
        outcome: Set(event.outcome.code().to_owned()),
        client_addr: Set(event.client.clone()),
        occurred_at: Set(to_naive(Utc::now())),
        identifier_key: Set(event.identifier.as_ref().map(|i| i.hash.clone())),
        identifier_key_id: Set(event.identifier.as_ref().map(|i| i.key.as_str().to_owned())),
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
        identifier_key: Set(event.identifier.as_ref().map(|i| i.hash.clone())),
        identifier_key_id: Set(event.identifier.as_ref().map(|i| i.key.as_str().to_owned())),
        ..Default::default()
    });
    // Small rows: a full resolver batch (256) is one statement.
    for rows in shapes::chunks(rows, 256) {
        audit_event::Entity::insert_many(rows)
            .exec(conn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}

/// Whose rows one statement of a `recoveryActivity` page reads.
#[derive(Debug, Clone, Copy)]
pub enum ActivitySource<'a> {
    /// The member's own rows, by member id.
    Member(&'a str),
    /// Strangers' attempts under one of the member's identifier keys.
    Identifier(&'a str),
}

/// The newest `limit` shown rows of `source` below id `before` (ids grow with time). The key is a
/// one-value range and the order (column, id), so only that index gives the order: with `=` the
/// planner may drop the column and walk the primary key back through every newer row, filtering.
fn activity_query(
    source: ActivitySource<'_>,
    before: Option<i64>,
    limit: u64,
) -> Select<audit_event::Entity> {
    let (column, key) = match source {
        ActivitySource::Member(id) => (audit_event::Column::MemberId, id),
        ActivitySource::Identifier(key) => (audit_event::Column::IdentifierKey, key),
    };
    // The host's provisioning rows are not the member's activity: left out by the query, so a
    // page is never short of events that follow it.
    let shown: Vec<&str> = AuditKind::ALL
        .into_iter()
        .filter(|k| k.shown_as().is_some())
        .map(AuditKind::code)
        .collect();
    let mut query = audit_event::Entity::find()
        .filter(column.gte(key))
        .filter(column.lte(key))
        .filter(audit_event::Column::Kind.is_in(shown));
    if let Some(before) = before {
        query = query.filter(audit_event::Column::Id.lt(before));
    }
    query
        .order_by_desc(column)
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
}

/// The statement `member_events` runs for `source`, as `backend` gets it: the plan tests and the
/// scale bench explain exactly this.
pub fn activity_statement(
    backend: DbBackend,
    source: ActivitySource<'_>,
    before: Option<i64>,
    limit: u64,
) -> Statement {
    activity_query(source, before, limit).build(backend)
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

    async fn member_events(
        &self,
        member: &MemberId,
        identifiers: &[String],
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // One query per source (the member's rows, then each identifier's), the newest `limit` of
        // their union being the page: an OR of them would make the planner walk the primary key.
        let sources = std::iter::once(ActivitySource::Member(member.0.as_str())).chain(
            identifiers
                .iter()
                .map(|key| ActivitySource::Identifier(key.as_str())),
        );
        let mut rows = Vec::new();
        for source in sources {
            let found = activity_query(source, before, limit)
                .all(&self.db)
                .await
                .map_err(map_db_err)?;
            rows.extend(found);
        }
        rows.sort_by_key(|row| std::cmp::Reverse(row.id));
        rows.dedup_by_key(|row| row.id);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(RecordedEvent {
                    id: row.id,
                    at: to_utc(row.occurred_at),
                    kind: AuditKind::from_code(&row.kind)?,
                    outcome: row.outcome,
                    client: row.client_addr,
                })
            })
            .collect())
    }

    async fn prune(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        // The `limit` oldest rows by id (ids grow with time): the start of the primary key, read
        // the same whatever the table holds. Of them, the run that occurred before the cutoff
        // goes, by an id range, so a table with nothing old to delete costs one short read.
        let cutoff = to_naive(before);
        let oldest: Vec<(i64, NaiveDateTime)> = audit_event::Entity::find()
            .select_only()
            .column(audit_event::Column::Id)
            .column(audit_event::Column::OccurredAt)
            .order_by_asc(audit_event::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let Some(last) = oldest
            .iter()
            .take_while(|(_, at)| *at < cutoff)
            .map(|(id, _)| *id)
            .last()
        else {
            return Ok(0);
        };
        let deleted = audit_event::Entity::delete_many()
            .filter(audit_event::Column::Id.lte(last))
            .filter(audit_event::Column::OccurredAt.lt(cutoff))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        metrics::counter!("audit_pruned_total").increment(deleted.rows_affected);
        Ok(deleted.rows_affected)
    }
}
