//! Webhooks on SeaORM: the host's endpoints (signing secrets sealed), the events a change queues in
//! its own transaction, and the webhook channel of the delivery queue (`outbox`, channel WEBHOOK).
use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::OnConflict,
};

use super::{
    entities::{member, outbox, webhook_endpoint},
    map_db_err,
    outbox::{Channel, ChannelRows, PENDING, Queue},
    time::{to_naive, to_utc},
};
use crate::{
    domain::{
        audit::AuditEvent,
        member::MemberId,
        site::SiteId,
        webhook::{Event, EventType, WebhookSecret},
    },
    infra::sealer::Sealer,
    recovery::ports::{
        CONFIGURED_ENDPOINT, ClaimedEvent, DeliveryOutcome, NewEndpoint, Settled, StoreError,
        WebhookEndpoint, WebhookEndpoints,
    },
};

const ACTIVE: &str = "ACTIVE";
const DISABLED: &str = "DISABLED";

/// Queues the event an audited change is (if any) for every active endpoint that wants it, on
/// the change's own connection: its transaction, so the event exists exactly when the change does.
/// Without endpoints this is one read of a tiny table.
pub(crate) async fn queue_for_audit<C: ConnectionTrait>(
    conn: &C,
    audit: &AuditEvent,
) -> Result<(), StoreError> {
    match (EventType::for_audit(audit.kind, audit.outcome), &audit.member) {
        (Some(kind), Some(member)) => {
            queue_event(conn, kind, &audit.site, member, audit.client.as_deref()).await
        }
        _ => Ok(()),
    }
}

/// Queues one event about `member` for every active endpoint subscribed to `kind`.
pub(crate) async fn queue_event<C: ConnectionTrait>(
    conn: &C,
    kind: EventType,
    site: &SiteId,
    member: &MemberId,
    client: Option<&str>,
) -> Result<(), StoreError> {
    let endpoints: Vec<(String, Option<String>)> = webhook_endpoint::Entity::find()
        .select_only()
        .column(webhook_endpoint::Column::Id)
        .column(webhook_endpoint::Column::Events)
        .filter(webhook_endpoint::Column::Status.eq(ACTIVE))
        .into_tuple()
        .all(conn)
        .await
        .map_err(map_db_err)?;
    let wanted: Vec<String> = endpoints
        .into_iter()
        .filter(|(_, events)| wants(events.as_deref(), kind))
        .map(|(id, _)| id)
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let login_id: Option<String> = member::Entity::find_by_id(member.0.as_str())
        .select_only()
        .column(member::Column::LoginId)
        .into_tuple()
        .one(conn)
        .await
        .map_err(map_db_err)?;
    let now = Utc::now();
    let body = Event {
        kind,
        member_id: member.0.clone(),
        site_id: site.as_str().to_owned(),
        login_id: login_id.unwrap_or_default(),
        at: now,
        client_address: client.map(str::to_owned),
    }
    .body();
    let rows = wanted.into_iter().map(|endpoint| outbox::ActiveModel {
        channel: Set(Channel::Webhook.code().to_owned()),
        site_id: Set(site.as_str().to_owned()),
        member_id: Set(Some(member.0.clone())),
        kind: Set(kind.name().to_owned()),
        recipient: Set(endpoint),
        payload: Set(Some(body.clone())),
        status: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(to_naive(now)),
        created_at: Set(to_naive(now)),
        // `webhook-id`: one per delivery target, the same on every attempt.
        dedup_key: Set(Some(format!("msg_{}", uuid::Uuid::new_v4().simple()))),
        ..Default::default()
    });
    outbox::Entity::insert_many(rows)
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    metrics::counter!("webhook_queued_total").increment(1);
    Ok(())
}

/// Whether an endpoint's stored event list (`None`: all) takes `kind`.
fn wants(events: Option<&str>, kind: EventType) -> bool {
    events.is_none_or(|names| names.split_whitespace().any(|name| name == kind.name()))
}

fn events_text(events: &Option<Vec<EventType>>) -> Option<String> {
    events
        .as_ref()
        .map(|list| list.iter().map(|e| e.name()).collect::<Vec<_>>().join(" "))
}

#[derive(Clone)]
pub struct SeaWebhooks {
    db: DatabaseConnection,
    queue: Queue,
    sealer: Sealer,
}

impl SeaWebhooks {
    pub fn new(db: DatabaseConnection, sealer: Sealer) -> Self {
        SeaWebhooks {
            queue: Queue::new(db.clone(), Channel::Webhook),
            db,
            sealer,
        }
    }

    fn row(&self, id: &str, endpoint: &NewEndpoint, now: DateTime<Utc>) -> webhook_endpoint::ActiveModel {
        let secrets: Vec<String> = endpoint.secrets.iter().map(WebhookSecret::expose).collect();
        let sealed = self.sealer.seal_secrets(&secrets.join(" "), id);
        webhook_endpoint::ActiveModel {
            id: Set(id.to_owned()),
            url: Set(endpoint.url.to_string()),
            secrets: Set(sealed.body),
            seal_key_id: Set(sealed.key.as_str().to_owned()),
            events: Set(events_text(&endpoint.events)),
            status: Set(ACTIVE.to_owned()),
            disabled_reason: Set(None),
            created_at: Set(to_naive(now)),
            updated_at: Set(to_naive(now)),
        }
    }

    /// A stored endpoint; one whose secrets no longer open (their ring key left SECRET_KEYS) or
    /// whose URL no longer parses is returned disabled, saying why.
    fn endpoint(&self, row: webhook_endpoint::Model) -> WebhookEndpoint {
        let mut disabled = (row.status == DISABLED).then(|| row.disabled_reason.clone().unwrap_or_default());
        let secrets: Vec<WebhookSecret> =
            match self.sealer.open_secrets(&row.secrets, &row.seal_key_id, &row.id) {
                Ok(text) => text
                    .split_whitespace()
                    .filter_map(|s| WebhookSecret::parse(s).ok())
                    .collect(),
                Err(_) => Vec::new(),
            };
        if secrets.is_empty() {
            disabled.get_or_insert_with(|| "its signing secrets cannot be opened with SECRET_KEYS".into());
        }
        let url = url::Url::parse(&row.url).unwrap_or_else(|_| {
            disabled.get_or_insert_with(|| "its URL does not parse".into());
            url::Url::parse("http://invalid.invalid/").expect("a valid URL")
        });
        WebhookEndpoint {
            id: row.id,
            url,
            secrets,
            events: row
                .events
                .map(|names| EventType::parse_list(&names).unwrap_or_default()),
            disabled,
            created_at: to_utc(row.created_at),
        }
    }

    /// The endpoints with these ids, as they are now.
    async fn endpoints(&self, ids: Vec<String>) -> Result<HashMap<String, WebhookEndpoint>, StoreError> {
        let rows = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::Id.is_in(ids))
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(rows
            .into_iter()
            .map(|row| (row.id.clone(), self.endpoint(row)))
            .collect())
    }
}

#[async_trait]
impl WebhookEndpoints for SeaWebhooks {
    async fn add_endpoint(
        &self,
        id: &str,
        endpoint: &NewEndpoint,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        webhook_endpoint::Entity::insert(self.row(id, endpoint, now))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn configure_endpoint(
        &self,
        endpoint: Option<&NewEndpoint>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(endpoint) = endpoint else {
            webhook_endpoint::Entity::delete_by_id(CONFIGURED_ENDPOINT)
                .exec(&self.db)
                .await
                .map_err(map_db_err)?;
            return Ok(());
        };
        let current = webhook_endpoint::Entity::find_by_id(CONFIGURED_ENDPOINT)
            .one(&self.db)
            .await
            .map_err(map_db_err)?;
        let mut row = self.row(CONFIGURED_ENDPOINT, endpoint, now);
        let mut columns = vec![
            webhook_endpoint::Column::Url,
            webhook_endpoint::Column::Secrets,
            webhook_endpoint::Column::SealKeyId,
            webhook_endpoint::Column::Events,
            webhook_endpoint::Column::UpdatedAt,
        ];
        // Gone stays gone until the operator points it somewhere else.
        let moved = current.is_none_or(|c| c.url != endpoint.url.as_str());
        if moved {
            columns.extend([
                webhook_endpoint::Column::Status,
                webhook_endpoint::Column::DisabledReason,
            ]);
        } else {
            row.status = sea_orm::ActiveValue::NotSet;
            row.disabled_reason = sea_orm::ActiveValue::NotSet;
        }
        let mut insert = row.clone();
        insert.status = Set(ACTIVE.to_owned());
        insert.disabled_reason = Set(None);
        webhook_endpoint::Entity::insert(insert)
            .on_conflict(
                OnConflict::column(webhook_endpoint::Column::Id)
                    .update_columns(columns)
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows = webhook_endpoint::Entity::find()
            .order_by_asc(webhook_endpoint::Column::CreatedAt)
            .order_by_asc(webhook_endpoint::Column::Id)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(rows.into_iter().map(|row| self.endpoint(row)).collect())
    }

    async fn remove_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let gone = webhook_endpoint::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(gone.rows_affected > 0)
    }

    async fn disable_endpoint(&self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::Status, DISABLED.into())
            .col_expr(
                webhook_endpoint::Column::DisabledReason,
                Some(reason.chars().take(480).collect::<String>()).into(),
            )
            .col_expr(webhook_endpoint::Column::UpdatedAt, to_naive(now).into())
            .filter(webhook_endpoint::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }
}

#[async_trait]
impl ChannelRows for SeaWebhooks {
    type Message = ClaimedEvent;

    fn queue(&self) -> &Queue {
        &self.queue
    }

    async fn open(&self, rows: Vec<outbox::Model>) -> Result<Vec<ClaimedEvent>, StoreError> {
        let mut ids: Vec<String> = rows.iter().map(|row| row.recipient.clone()).collect();
        ids.sort();
        ids.dedup();
        let endpoints = if ids.is_empty() {
            HashMap::new()
        } else {
            self.endpoints(ids).await?
        };
        let mut claimed = Vec::with_capacity(rows.len());
        let mut broken = Vec::new();
        for row in rows {
            let claim = Queue::claim_of(&row);
            match (row.payload, row.dedup_key) {
                (Some(body), Some(webhook_id)) => claimed.push(ClaimedEvent {
                    id: claim.id,
                    attempts: claim.attempts,
                    webhook_id,
                    body,
                    endpoint: endpoints.get(&row.recipient).cloned(),
                }),
                _ => broken.push(Settled {
                    claim,
                    outcome: DeliveryOutcome::Failed {
                        error: "the queued event has no body or id".into(),
                    },
                }),
            }
        }
        if !broken.is_empty() {
            tracing::error!(count = broken.len(), "queued events without a body; given up");
            self.queue.settle(&broken, &[]).await?;
        }
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_take_the_events_they_list_or_all() {
        assert!(wants(None, EventType::Withdrawn));
        assert!(wants(
            Some("member.password.reset member.withdrawn"),
            EventType::Withdrawn
        ));
        assert!(!wants(Some("member.password.reset"), EventType::Withdrawn));
        assert!(!wants(Some(""), EventType::Withdrawn));
        let list = Some(vec![EventType::PasswordReset, EventType::Withdrawn]);
        assert_eq!(
            events_text(&list).as_deref(),
            Some("member.password.reset member.withdrawn")
        );
        assert_eq!(events_text(&None), None);
    }
}
