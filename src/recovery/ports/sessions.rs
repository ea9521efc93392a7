//! Signed-in sessions, indexed per member, and the mark a reset leaves for the next sign-in.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        device::{DeviceInfo, NewDevice},
        grant::{GrantOwner, TokenHash},
        session::{NewSession, SessionInfo},
    },
    recovery::ports::errors::StoreError,
};

/// Signed-in sessions (Redis, or in-process without it), indexed per member so that revoking all
/// and counting are single operations.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, owner: &GrantOwner, session: &NewSession) -> Result<(), StoreError>;
    /// The live session of a token; `None` when unknown, expired or revoked.
    async fn find_session(&self, token: &TokenHash) -> Result<Option<SessionInfo>, StoreError>;
    /// Marks a live session elevated until `until` by its password typed again (`reauthenticated`
    /// when it is found); false when the session is gone.
    async fn elevate_session(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn revoke_session(&self, owner: &GrantOwner, token: &TokenHash) -> Result<(), StoreError>;
    /// Revokes every session of the owner but `keep`; returns how many were revoked.
    async fn revoke_sessions(&self, owner: &GrantOwner, keep: Option<&TokenHash>) -> Result<u32, StoreError>;
    async fn count_sessions(&self, owner: &GrantOwner) -> Result<u32, StoreError>;
    /// Remembers that the owner just reset their password: the next sign-in within `ttl` is elevated.
    async fn mark_reset(&self, owner: &GrantOwner, ttl: Duration) -> Result<(), StoreError>;
    /// Takes the reset mark (true at most once per mark).
    async fn take_reset_mark(&self, owner: &GrantOwner) -> Result<bool, StoreError>;
    /// Remembers a device the owner signed in from, until its ttl ends or it is revoked.
    async fn create_device(&self, owner: &GrantOwner, device: &NewDevice) -> Result<(), StoreError>;
    /// The live device of a token; `None` when unknown, expired or revoked.
    async fn find_device(&self, token: &TokenHash) -> Result<Option<DeviceInfo>, StoreError>;
    /// Forgets every device of the owner (a reported change); returns how many.
    async fn revoke_devices(&self, owner: &GrantOwner) -> Result<u32, StoreError>;
}
