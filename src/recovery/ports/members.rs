//! Finding members: by what a visitor types, by many keys in one query, by identity, by id.
use async_trait::async_trait;

use crate::{
    domain::{
        email::Email,
        keyed_hash::{CiHash, StoredCiHash},
        login_id::LoginId,
        member::{JoinType, Member, MemberId},
        site::SiteId,
    },
    recovery::ports::errors::StoreError,
};

/// Members by what a visitor types: a login ID or an e-mail, one at a time.
#[async_trait]
pub trait MemberLookup: Send + Sync {
    async fn find_by_login_id(&self, site: &SiteId, login_id: &LoginId)
    -> Result<Option<Member>, StoreError>;
    /// Every member of the site with that e-mail, oldest first.
    async fn find_by_email(&self, site: &SiteId, email: &Email) -> Result<Vec<Member>, StoreError>;
}

/// Members by many login IDs or e-mails: one query for a batch.
#[async_trait]
pub trait MemberBatchLookup: Send + Sync {
    /// Every member of the site with one of these e-mails, oldest first.
    async fn find_by_emails(&self, site: &SiteId, emails: &[Email]) -> Result<Vec<Member>, StoreError>;
    /// The members of the site with one of these login IDs.
    async fn find_by_login_ids(
        &self,
        site: &SiteId,
        login_ids: &[LoginId],
    ) -> Result<Vec<Member>, StoreError>;
    /// Nothing more is waiting to be asked: whatever the lookups keep between batches (a
    /// connection) can go back.
    async fn idle(&self) {}
}

/// Members by a just-passed identity check.
#[async_trait]
pub trait IdentityLookup: Send + Sync {
    /// Every member of the site with one of these identity hashes (the identity under each key of
    /// the ring) and that join type, oldest first.
    async fn find_by_identity(
        &self,
        site: &SiteId,
        cis: &[CiHash],
        join_type: JoinType,
    ) -> Result<Vec<Member>, StoreError>;
    /// Replaces the member's identity hash `from` with `to` (the same identity under the current
    /// key), only while the row still holds `from`: false when it changed meanwhile.
    async fn move_identity(
        &self,
        member: &MemberId,
        from: &StoredCiHash,
        to: &StoredCiHash,
    ) -> Result<bool, StoreError>;
}

/// A member by the id a session, grant or recovery code names.
#[async_trait]
pub trait MemberById: Send + Sync {
    async fn find_by_id(&self, id: &MemberId) -> Result<Option<Member>, StoreError>;
}
