//! The member store of SCIM provisioning: members as the host sees them (with its own id and a
//! revision), searched by filter, and written only while unchanged since the host read them.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::AuditEvent,
        email::Email,
        keyed_hash::StoredCiHash,
        login_id::LoginId,
        member::{JoinType, Member, MemberId, MemberStatus, MemberType, StoredHash},
        member_filter::MemberFilter,
        site::SiteId,
    },
    recovery::ports::{admin::NewMember, errors::StoreError},
};

/// A member with what provisioning adds: the host's id, when the row was made and last changed,
/// and the revision every provisioning write bumps.
#[derive(Debug, Clone)]
pub struct ProvisionedMember {
    pub member: Member,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision: i64,
}

/// Everything a replacement may set; `None` fields keep their value.
#[derive(Debug, Clone)]
pub struct MemberUpdate {
    pub login_id: LoginId,
    pub email: Email,
    pub name: String,
    pub external_id: Option<String>,
    pub member_type: MemberType,
    pub join_type: JoinType,
    pub status: MemberStatus,
    pub ci_hash: Option<StoredCiHash>,
    /// A new password hash: the old one moves into the history (trimmed to `history_size`).
    pub password_hash: Option<StoredHash>,
    pub history_size: usize,
    pub now: DateTime<Utc>,
}

/// One page of a search, and how many members match in all.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub total: u64,
    pub members: Vec<ProvisionedMember>,
}

#[async_trait]
pub trait ProvisioningStore: Send + Sync {
    /// The member of the site with that id, withdrawn or not.
    async fn find_provisioned(
        &self,
        site: &SiteId,
        id: &MemberId,
    ) -> Result<Option<ProvisionedMember>, StoreError>;
    /// The site's members that are not withdrawn and match `filter`, by creation time then id, skipping
    /// `offset` and returning at most `limit` (0: only the total).
    async fn search(
        &self,
        site: &SiteId,
        filter: Option<&MemberFilter>,
        offset: u64,
        limit: u64,
    ) -> Result<MemberPage, StoreError>;
    /// Inserts the member with the host's id and writes `audit` (its member filled in) in one
    /// transaction. A login ID the site already has is `StoreError::Conflict`.
    async fn create(
        &self,
        member: &NewMember,
        external_id: Option<&str>,
        audit: AuditEvent,
    ) -> Result<ProvisionedMember, StoreError>;
    /// Applies the update and writes `audit` in one transaction, only while the member's revision
    /// is still `revision` (one conditional UPDATE): `None` when it moved on, and nothing is written.
    async fn update(
        &self,
        id: &MemberId,
        revision: i64,
        update: &MemberUpdate,
        audit: AuditEvent,
    ) -> Result<Option<ProvisionedMember>, StoreError>;
    /// Marks the member WITHDRAWN, deletes their recovery codes and writes `audit` in one
    /// transaction, only while the revision is still `revision`; `None` when it moved on.
    async fn withdraw(
        &self,
        id: &MemberId,
        revision: i64,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<Option<ProvisionedMember>, StoreError>;
}
