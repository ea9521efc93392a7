//! Mail: the outbox written with each state change and drained by the delivery worker, and the
//! mailer that sends one message.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{audit::AuditEvent, grant::GrantOwner, mail_kind::MailKind, member::MemberId, site::SiteId},
    recovery::ports::errors::StoreError,
};

/// A message ready to send, rendered in the member's language.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies hold live links and codes.
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a mail is queued, and what makes it obsolete.
#[derive(Debug, Clone)]
pub struct MailMeta {
    pub site: SiteId,
    pub member: Option<MemberId>,
    pub kind: MailKind,
    /// The grants the mail carries: when none of them is live any more, the mail is dropped.
    pub grants: Vec<(GrantOwner, String)>,
}

/// A queued mail claimed by the delivery worker.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub id: i64,
    /// Counting this claim; with `id`, names this claim (see [`MailClaim`]).
    pub attempts: u32,
    pub meta: MailMeta,
    pub mail: OutgoingMail,
}

impl ClaimedMail {
    pub fn claim(&self) -> MailClaim {
        MailClaim {
            id: self.id,
            attempts: self.attempts,
        }
    }
}

/// One claim of a queued message: the row and its attempt count as the claim left it. Settling or
/// releasing applies only while the row is still in that claim, so a claimer whose lease ran out
/// can never overwrite what a later claimer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailClaim {
    pub id: i64,
    pub attempts: u32,
}

/// What became of a claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// Accepted by the mail server: the body is erased.
    Sent,
    /// Obsolete (its grants were spent, replaced or expired): the body is erased, nothing sent.
    Dropped,
    /// Not sent; due again after the delay.
    Retry { error: String, after: Duration },
    /// Given up: the body is erased, the row kept for operators.
    Failed { error: String },
}

/// A claimed message with what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledMail {
    pub claim: MailClaim,
    pub outcome: MailOutcome,
}

/// The mail outbox: written with the state change, drained by the delivery worker.
///
/// Claims must stay cheap whatever the table holds (they read an index of due rows, never the
/// finished ones) and must never hand one row to two claimers at once, on any backend.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    async fn enqueue(&self, meta: &MailMeta, mail: &OutgoingMail) -> Result<(), StoreError>;
    /// Claims up to `limit` due messages for `lease`, oldest due first (other instances skip them
    /// meanwhile; once the lease has passed they are due again). With `lapsed`, messages whose
    /// claimer's lease ran out are taken first; without, only pending ones (one statement less).
    async fn claim_due(
        &self,
        limit: u64,
        lease: Duration,
        lapsed: bool,
    ) -> Result<Vec<ClaimedMail>, StoreError>;
    /// Records what became of claimed messages, with their audit events, in one transaction.
    async fn settle(&self, settled: &[SettledMail], events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Hands claimed, unstarted messages back: due at once, the claim not counted as an attempt.
    async fn release(&self, claims: &[MailClaim]) -> Result<(), StoreError>;
    /// Deletes up to `limit` sent and dropped messages finished before `sent_before` and given-up
    /// ones finished before `failed_before`; returns how many went.
    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError>;
    /// Queues the mails and writes the audit events of one resolved batch, all in one transaction.
    /// A mail whose key is already queued is not added again (a batch resolved twice mails once).
    async fn enqueue_resolved(&self, mails: &[KeyedMail], events: &[AuditEvent]) -> Result<(), StoreError>;
}

/// A mail with the key that makes queueing it idempotent.
#[derive(Debug, Clone)]
pub struct KeyedMail {
    pub key: String,
    pub meta: MailMeta,
    pub mail: OutgoingMail,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying (connection refused, timeout, 4xx).
    #[error("temporary mail failure: {0}")]
    Temporary(String),
    /// Will not succeed (5xx, bad address).
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Sends one message now (SMTP, or the development outbox folder).
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}
