//! The durable hand-off of e-mail reset requests from the request path to the resolvers.
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    domain::{
        device::Admission, email::Email, lang::Lang, login_id::LoginId, reset_nonce::ResetNonce, site::SiteId,
    },
    recovery::ports::errors::StoreError,
};

/// What a reset request on an e-mail path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTarget {
    /// Every password account of this address.
    Email(Email),
    /// This account, if the address is its own.
    Account { login_id: LoginId, email: Email },
}

impl ResetTarget {
    /// The address the mail would go to (the one the caller typed).
    pub fn email(&self) -> &Email {
        match self {
            ResetTarget::Email(email) | ResetTarget::Account { email, .. } => email,
        }
    }
}

/// A reset request handed off by the request path, resolved later by any instance's resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOffReset {
    pub site: SiteId,
    pub lang: Lang,
    /// The client address as the audit stores it.
    pub client: Option<String>,
    pub target: ResetTarget,
    pub nonce: ResetNonce,
    /// How the request got past the limits: a proven one (a solved challenge, the member's
    /// device) may take the last mail of the member's hour and skips the cooldown.
    pub admission: Admission,
}

/// A handed-off request claimed by a resolver.
#[derive(Debug, Clone)]
pub struct ClaimedReset {
    /// The queue's id, for `acknowledge`.
    pub id: String,
    /// Claimed before by a resolver that never acknowledged it (it may have done part of the work).
    pub redelivered: bool,
    pub request: HandedOffReset,
}

/// The durable hand-off between the request path and the resolvers (a Redis stream with a consumer
/// group, or a table). Each request is claimed by one resolver at a time; one that is not
/// acknowledged within its lease is claimed again, so a resolver that dies loses nothing.
#[async_trait]
pub trait ResetQueue: Send + Sync {
    /// One durable write, the same for every address.
    async fn hand_off(&self, request: &HandedOffReset) -> Result<(), StoreError>;
    /// Up to `limit` requests: ones claimed more than `lease` ago and never acknowledged first,
    /// then new ones. An entry that cannot be read is logged and removed.
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<ClaimedReset>, StoreError>;
    /// Resolved: these requests are done.
    async fn acknowledge(&self, ids: &[String]) -> Result<(), StoreError>;
    /// Removes requests that cannot be read back (never resolvable), with one log line.
    async fn drop_unreadable(&self, ids: &[String]) -> Result<(), StoreError> {
        if !ids.is_empty() {
            tracing::error!(count = ids.len(), "unreadable reset requests removed");
            self.acknowledge(ids).await?;
        }
        Ok(())
    }
    /// Requests handed off and not yet acknowledged.
    async fn backlog(&self) -> Result<u64, StoreError>;
}
