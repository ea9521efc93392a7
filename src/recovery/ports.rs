//! The traits the use cases need: member storage and password hashing. `infra/` implements them.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    email::Email,
    keyed_hash::CiHash,
    login_id::LoginId,
    member::{JoinType, Member, MemberId, MemberStatus, MemberType, StoredHash},
    password_policy::PasswordPolicy,
    site::SiteId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Connection refused, pool timeout, statement timeout: try again later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule refused the write (e.g. a login ID taken on the site).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("store error: {0}")]
    Internal(String),
}

/// A member to create (CLI `member add`, `member import`, demo data).
#[derive(Debug, Clone)]
pub struct NewMember {
    pub site_id: SiteId,
    pub login_id: LoginId,
    pub email: Email,
    pub name: String,
    pub member_type: MemberType,
    pub join_type: JoinType,
    pub ci_hash: Option<CiHash>,
    pub password_hash: Option<StoredHash>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub joined_at: DateTime<Utc>,
    pub status: MemberStatus,
}

#[derive(Debug, Clone)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    /// The site's own policy; `None` means the configured default.
    pub password_policy: Option<PasswordPolicy>,
}

#[async_trait]
pub trait MemberStore: Send + Sync {
    async fn find_site(&self, site: &SiteId) -> Result<Option<Site>, StoreError>;
    /// Creates each site that does not exist yet (name = code), leaving existing ones alone.
    async fn ensure_sites(&self, sites: &[SiteId]) -> Result<(), StoreError>;
    async fn find_by_login_id(&self, site: &SiteId, login_id: &LoginId)
    -> Result<Option<Member>, StoreError>;
    /// Every member of the site with that e-mail, oldest first.
    async fn find_by_email(&self, site: &SiteId, email: &Email) -> Result<Vec<Member>, StoreError>;
    /// Every member of the site with that identity and join type, oldest first.
    async fn find_by_identity(
        &self,
        site: &SiteId,
        ci: &CiHash,
        join_type: JoinType,
    ) -> Result<Vec<Member>, StoreError>;
    /// Which of these login IDs already exist on their sites (for import pre-checks).
    async fn existing_login_ids(
        &self,
        ids: &[(SiteId, LoginId)],
    ) -> Result<Vec<(SiteId, LoginId)>, StoreError>;
    /// Inserts all members in one transaction: all or nothing. Sites must exist.
    async fn insert_members(&self, members: &[NewMember]) -> Result<Vec<MemberId>, StoreError>;
    async fn list_members(&self, site: Option<&SiteId>) -> Result<Vec<Member>, StoreError>;
    async fn count_members(&self) -> Result<u64, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The hash is bcrypt or uses weaker argon2 parameters than configured.
    pub needs_rehash: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("stored hash is not a supported format")]
    UnsupportedHash,
    #[error("hashing failed: {0}")]
    Internal(String),
}

/// Password hashing off the async runtime, with bounded concurrency.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes an already normalised password with the configured argon2id parameters.
    async fn hash(&self, password: &str) -> Result<StoredHash, HashError>;
    async fn verify(&self, password: &str, stored: &StoredHash) -> Result<Verification, HashError>;
    /// Spends the same time as a real verification, for unknown accounts.
    async fn verify_dummy(&self, password: &str);
    /// Whether a string is a stored hash this service can verify (argon2 PHC or bcrypt).
    fn is_supported_hash(&self, stored: &str) -> bool;
}
