//! The members' passwords: their history, a change applied in one transaction, a stronger hash of
//! the same password, and the "that wasn't me" report that locks password sign-in.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::AuditEvent,
        member::{Member, MemberId, StoredHash},
        opaque_token::TokenHash,
    },
    recovery::ports::{
        errors::StoreError,
        mail::{MailMeta, OutgoingMail},
    },
};

/// A new password for a member, applied in one database transaction together with its
/// history, the notice mail and the audit event.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub member: MemberId,
    /// `None` keeps the current hash and only restarts the expiry clock (EXTEND).
    pub new_hash: Option<StoredHash>,
    /// The hash the change was judged against (a signed-in change): written only while it is still
    /// the member's, so a reset that lands meanwhile wins. `None` (a reset) writes regardless.
    pub expected_hash: Option<StoredHash>,
    pub changed_at: DateTime<Utc>,
    /// Earlier hashes to keep (the replaced current one included); older ones are deleted.
    pub history_size: usize,
    pub notice: Option<(MailMeta, OutgoingMail)>,
    /// The "that wasn't me" token the notice carries, stored with it.
    pub report: Option<NewChangeReport>,
    pub audit: AuditEvent,
}

/// A "that wasn't me" token to store (its hash) with the notice that carries it.
#[derive(Debug, Clone)]
pub struct NewChangeReport {
    pub token: TokenHash,
    pub expires_at: DateTime<Utc>,
}

/// The members' password hashes (deadline-bound in production).
#[async_trait]
pub trait PasswordStore: Send + Sync {
    /// Earlier password hashes of the member, newest first.
    async fn password_history(&self, id: &MemberId) -> Result<Vec<StoredHash>, StoreError>;
    /// Sets the new hash, moves the old one into the history (trimmed to `history_size`), queues
    /// the notice and writes the audit event — all in one transaction. With `expected_hash`, only
    /// if the member's hash is still that one (one conditional UPDATE, not read-then-write):
    /// `None` when it is not, and nothing is written.
    async fn apply_password_change(&self, change: PasswordChange) -> Result<Option<Member>, StoreError>;
    /// Replaces the hash of the same password with a stronger one (argon2 parameters raised, or a
    /// legacy bcrypt hash), if it is still `old`. History and `passwordChangedAt` stay.
    async fn upgrade_hash(&self, id: &MemberId, old: &StoredHash, new: &StoredHash)
    -> Result<(), StoreError>;
}

/// "That wasn't me" reports of a password change.
#[async_trait]
pub trait ChangeReports: Send + Sync {
    /// Spends the report token (once, if live at `now`), locks the member's password sign-in and
    /// revokes every recovery code of the member, in one transaction with the event that tells the
    /// host (`client` made the report). The member, or `None` for an unknown, used or expired token.
    async fn report_change(
        &self,
        token: &TokenHash,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Member>, StoreError>;
}
