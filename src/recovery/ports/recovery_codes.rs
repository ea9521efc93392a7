//! Saved recovery codes, stored only as keyed hashes, replaced and spent in one transaction each.
use async_trait::async_trait;

use crate::{
    domain::{
        audit::AuditEvent, keyring::KeyId, member::MemberId, recovery_code::RecoveryCodeHash, site::SiteId,
    },
    recovery::ports::{
        errors::StoreError,
        mail::{MailMeta, OutgoingMail},
        passwords::NewChangeReport,
    },
};

/// A new set of recovery codes for a member: only their keyed hashes, with the notice and the audit
/// event written in the same transaction.
#[derive(Debug, Clone)]
pub struct NewRecoveryCodeSet {
    pub site: SiteId,
    pub member: MemberId,
    pub codes: Vec<RecoveryCodeHash>,
    /// The ring key the hashes were made under (stored beside each).
    pub key: KeyId,
    pub notice: (MailMeta, OutgoingMail),
    /// The token of the notice's "that wasn't me" link, stored with the set.
    pub report: NewChangeReport,
    pub audit: AuditEvent,
}

/// An unspent recovery code as the store finds it by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecoveryCode {
    pub site: SiteId,
    pub member: MemberId,
    /// The stored hash that matched (the code's hash under the key it was saved with).
    pub code: RecoveryCodeHash,
}

/// A recovery code being spent, with the notice and the audit event of its use.
#[derive(Debug, Clone)]
pub struct RecoveryCodeUse {
    pub code: RecoveryCodeHash,
    pub notice: (MailMeta, OutgoingMail),
    pub audit: AuditEvent,
}

/// Saved recovery codes, stored only as keyed hashes (the database).
#[async_trait]
pub trait RecoveryCodeStore: Send + Sync {
    /// Replaces the member's whole set (spent codes included) with the new one, queues the notice
    /// and writes the audit event — one transaction: no moment has both sets, or neither.
    async fn replace_set(&self, set: NewRecoveryCodeSet) -> Result<(), StoreError>;
    /// The owner of an unspent code with one of these hashes (the code's hash under each key of the
    /// ring): one lookup on the hash's unique index, the same work whether or not the code or its
    /// login ID exists. Spends nothing.
    async fn find_unspent(
        &self,
        codes: &[RecoveryCodeHash],
    ) -> Result<Option<StoredRecoveryCode>, StoreError>;
    /// Spends the code if it is still unspent — true for exactly one caller, however many try at
    /// once — and with it queues the notice and writes the audit event, in one transaction.
    async fn spend(&self, used: RecoveryCodeUse) -> Result<bool, StoreError>;
    /// How many unspent codes the member has.
    async fn codes_left(&self, member: &MemberId) -> Result<u32, StoreError>;
}
