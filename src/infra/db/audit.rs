//! `AuditLog` on SeaORM: one row per recovery event, never a secret.
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Statement,
    sea_query::{Asterisk, Order, Query, SelectStatement, UnionType},
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
enum ActivitySource<'a> {
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

/// One `recoveryActivity` page in one statement: each source's newest `limit` rows (each read
/// from its own index by `activity_query`), then the newest `limit` of their union. One round trip
/// whatever the number of sources: the page's cost is the request, not the table. `UNION` (not
/// `ALL`) because a row can be both the member's and under one of their keys.
fn activity_page(member: &str, identifiers: &[&str], before: Option<i64>, limit: u64) -> SelectStatement {
    let sources = std::iter::once(ActivitySource::Member(member))
        .chain(identifiers.iter().map(|key| ActivitySource::Identifier(key)));
    let mut arms = sources.enumerate().map(|(i, source)| {
        Query::select()
            .column(Asterisk)
            .from_subquery(
                activity_query(source, before, limit).into_query(),
                format!("source{i}"),
            )
            .to_owned()
    });
    // The member's own rows are always a source, so there is a first arm.
    let mut page = arms.next().unwrap_or_else(Query::select);
    for arm in arms {
        page.union(UnionType::Distinct, arm);
    }
    page.order_by("id", Order::Desc).limit(limit).to_owned()
}

/// The statement `member_events` runs, as `backend` gets it: the plan tests and the scale bench
/// explain exactly this.
pub fn activity_statement(
    backend: DbBackend,
    member: &str,
    identifiers: &[&str],
    before: Option<i64>,
    limit: u64,
) -> Statement {
    backend.build(&activity_page(member, identifiers, before, limit))
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
        let identifiers: Vec<&str> = identifiers.iter().map(String::as_str).collect();
        let statement = activity_statement(
            self.db.get_database_backend(),
            &member.0,
            &identifiers,
            before,
            limit,
        );
        let rows = audit_event::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
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
