//! The CLI's member store: create sites and members, check imports, list and count.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        confusables::LoginIdSkeleton,
        email::Email,
        keyed_hash::StoredCiHash,
        login_id::LoginId,
        member::{JoinType, Member, MemberId, MemberStatus, MemberType, StoredHash},
        site::SiteId,
    },
    recovery::ports::errors::StoreError,
};

/// A member to create (CLI `member add`, `member import`, demo data).
#[derive(Debug, Clone)]
pub struct NewMember {
    pub site_id: SiteId,
    pub login_id: LoginId,
    pub email: Email,
    pub name: String,
    pub member_type: MemberType,
    pub join_type: JoinType,
    pub ci_hash: Option<StoredCiHash>,
    pub password_hash: Option<StoredHash>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub joined_at: DateTime<Utc>,
    pub status: MemberStatus,
}

/// Bulk and listing work of the CLI, imports and demo data: no per-call deadline (an import checks
/// and writes many rows at once; the pool's own timeouts still apply).
#[async_trait]
pub trait MemberAdminStore: Send + Sync {
    /// Creates each site that does not exist yet (name = code), leaving existing ones alone.
    async fn ensure_sites(&self, sites: &[SiteId]) -> Result<(), StoreError>;
    /// Which of these login IDs already exist on their sites (for import pre-checks).
    async fn existing_login_ids(
        &self,
        ids: &[(SiteId, LoginId)],
    ) -> Result<Vec<(SiteId, LoginId)>, StoreError>;
    /// Which of these skeletons a member of that site already has (a look-alike login ID).
    async fn existing_skeletons(
        &self,
        skeletons: &[(SiteId, LoginIdSkeleton)],
    ) -> Result<Vec<(SiteId, LoginIdSkeleton)>, StoreError>;
    /// Inserts all members, and the sites they name that do not exist yet, in one transaction:
    /// all or nothing.
    async fn insert_members(&self, members: &[NewMember]) -> Result<Vec<MemberId>, StoreError>;
    /// Starts an import's writes, all in one transaction.
    async fn begin_import(&self) -> Result<Box<dyn ImportWriter>, StoreError>;
    async fn list_members(&self, site: Option<&SiteId>) -> Result<Vec<Member>, StoreError>;
    async fn count_members(&self) -> Result<u64, StoreError>;
}

/// The writes of one import, in one transaction: nobody sees a member until `commit`, and dropped
/// without it (an error, a crash) the transaction rolls back.
#[async_trait]
pub trait ImportWriter: Send {
    /// Inserts the next members, and the sites they name that do not exist yet, in the import's
    /// transaction (rolled back with it).
    async fn insert(&mut self, members: &[NewMember]) -> Result<(), StoreError>;
    /// Makes every member inserted visible at once.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
