//! The use cases of account recovery and the ports (traits) they need from the outside world.
pub mod errors;
pub mod find_id;
pub mod mail_delivery;
pub mod mail_templates;
pub mod members;
pub mod password_reset;
pub mod ports;
pub mod site_policy;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::{
    domain::{keyed_hash::KeyedHasher, password_policy::PasswordPolicy, site::SiteId},
    recovery::{
        find_id::FindId,
        members::MemberAdmin,
        password_reset::{PasswordReset, ResetSettings},
        ports::{AuditLog, MailOutbox, MemberStore, PasswordHasher, TokenStore},
        site_policy::SitePolicies,
    },
};

/// The adapters the use cases run on.
#[derive(Clone)]
pub struct Ports {
    pub members: Arc<dyn MemberStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub outbox: Arc<dyn MailOutbox>,
    pub audit: Arc<dyn AuditLog>,
}

/// Every use case, wired to its ports once at start; cheap to clone into each request.
#[derive(Clone)]
pub struct Recovery {
    pub find_id: FindId,
    pub policies: SitePolicies,
    pub members: MemberAdmin,
    pub password_reset: PasswordReset,
    pub ports: Ports,
    /// Woken when mail is queued, so the delivery worker sends at once.
    pub mail_wake: Arc<Notify>,
}

impl Recovery {
    pub fn new(
        ports: Ports,
        keys: KeyedHasher,
        default_site: SiteId,
        default_policy: PasswordPolicy,
        reset: ResetSettings,
    ) -> Self {
        let policies = SitePolicies::new(
            ports.members.clone(),
            default_site.clone(),
            default_policy.clone(),
        );
        let mail_wake = Arc::new(Notify::new());
        Recovery {
            find_id: FindId::new(ports.members.clone(), keys.clone()),
            members: MemberAdmin::new(
                ports.members.clone(),
                ports.hasher.clone(),
                keys.clone(),
                default_site,
                default_policy,
            ),
            password_reset: PasswordReset {
                members: ports.members.clone(),
                tokens: ports.tokens.clone(),
                hasher: ports.hasher.clone(),
                outbox: ports.outbox.clone(),
                audit: ports.audit.clone(),
                keys,
                policies: policies.clone(),
                settings: reset,
                mail_wake: mail_wake.clone(),
            },
            policies,
            ports,
            mail_wake,
        }
    }
}
