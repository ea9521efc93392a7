//! The audit log: recording recovery events (never failing a request) and listing a member's.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::{AuditEvent, AuditIdentifier, AuditKind, AuditOutcome, RecordedEvent},
        member::{Member, MemberId},
    },
    recovery::{context::RequestContext, ports::errors::StoreError},
};

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError>;
    /// The member's events — rows of the member, and rows whose identifier key is one of
    /// `identifiers` (the member's own e-mail and login ID keys) — newest first, only those before
    /// `before` (an event id) when given, at most `limit`. Rows of kinds this build does not know
    /// are left out.
    async fn member_events(
        &self,
        member: &MemberId,
        identifiers: &[String],
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;
    /// Deletes up to `limit` of the oldest rows that occurred before `before`; how many went.
    /// Reads only the start of the primary key, whatever the table holds.
    async fn prune(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError>;
}

impl dyn AuditLog {
    /// Records an event about a request. The audit never fails a request: a write that fails is
    /// logged instead.
    pub async fn note(
        &self,
        ctx: &RequestContext,
        member: Option<&Member>,
        kind: AuditKind,
        outcome: AuditOutcome,
    ) {
        let event = AuditEvent {
            site: ctx.site.clone(),
            member: member.map(|m| m.id.clone()),
            kind,
            outcome,
            client: ctx.client_text(),
            identifier: None,
        };
        self.write(event).await;
    }

    /// Records an attempt made with an identifier as typed, under its keyed hash: the same write
    /// whether or not the identifier names anyone (no lookup), shown to whoever it names.
    pub async fn note_attempt(
        &self,
        ctx: &RequestContext,
        identifier_key: AuditIdentifier,
        kind: AuditKind,
        outcome: AuditOutcome,
    ) {
        let event = AuditEvent {
            site: ctx.site.clone(),
            member: None,
            kind,
            outcome,
            client: ctx.client_text(),
            identifier: Some(identifier_key),
        };
        self.write(event).await;
    }

    async fn write(&self, event: AuditEvent) {
        let (kind, outcome) = (event.kind, event.outcome);
        if let Err(e) = self.record(event).await {
            tracing::error!(error = %e, kind = kind.code(), outcome = outcome.code(), "audit event not written");
        }
    }
}
