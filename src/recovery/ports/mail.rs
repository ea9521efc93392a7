//! Mail: the outbox written with each state change and drained by the delivery worker, and the
//! mailer that sends one message.
use async_trait::async_trait;

use crate::{
    domain::{audit::AuditEvent, grant::GrantOwner, mail_kind::MailKind, member::MemberId, site::SiteId},
    recovery::ports::{
        delivery::{DeliveryQueue, QueueClaim, Queued},
        errors::StoreError,
    },
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
    /// Counting this claim; with `id`, names this claim (see [`QueueClaim`]).
    pub attempts: u32,
    pub meta: MailMeta,
    pub mail: OutgoingMail,
}

impl Queued for ClaimedMail {
    fn claim(&self) -> QueueClaim {
        QueueClaim {
            id: self.id,
            attempts: self.attempts,
        }
    }
}

/// The mail outbox: written with the state change, drained by the mail's delivery worker; one
/// channel of the delivery queue.
#[async_trait]
pub trait MailOutbox: DeliveryQueue<ClaimedMail> {
    async fn enqueue(&self, meta: &MailMeta, mail: &OutgoingMail) -> Result<(), StoreError>;
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
