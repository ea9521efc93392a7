//! The use cases of account recovery, the modules they share and the ports they need; `Recovery`
//! wires them to their adapters once at start.
pub mod audit_retention;
pub mod challenges;
pub mod change_notice;
pub mod context;
pub mod delivery;
pub mod errors;
pub mod find_id;
pub mod identity_keys;
pub mod identity_proof;
pub mod mail_delivery;
pub mod mail_templates;
pub mod member_drafts;
pub mod member_import;
pub mod members;
pub mod new_login_id;
pub mod new_password;
pub mod password_change;
pub mod password_check;
pub mod password_reset;
pub mod ports;
pub mod provisioning;
pub mod rate_limits;
pub mod recovery_activity;
pub mod recovery_code_notice;
pub mod recovery_codes;
pub mod sessions;
pub mod signed_in;
pub mod site_policy;
pub mod webhook_delivery;
pub mod webhook_endpoints;

use std::sync::Arc;

use tokio::sync::Notify;

use self::{delivery::DeliveryWake, webhook_endpoints::WebhookAdmin};

use crate::{
    domain::{keyring::Keyring, password_policy::PasswordPolicy, site::SiteId},
    recovery::{
        change_notice::ChangeNotices,
        find_id::FindId,
        identity_proof::{IdentityProofs, IdentityTrust},
        members::MemberAdmin,
        new_password::NewPasswords,
        password_change::PasswordChanges,
        password_check::PasswordChecks,
        password_reset::{PasswordReset, ResetSettings},
        ports::{
            AuditLog, ChangeReports, HealthCheck, IdentityLookup, Limiter, MailOutbox, MemberAdminStore,
            MemberBatchLookup, MemberById, MemberLookup, PasswordHasher, PasswordStore, ProvisioningStore,
            RecoveryCodeStore, ResetQueue, SessionStore, SiteDirectory, TokenStore, WebhookEndpoints,
            webhooks::EventQueue,
        },
        provisioning::Provisioning,
        rate_limits::{RateLimitTable, RateLimits},
        recovery_activity::RecoveryActivity,
        recovery_codes::RecoveryCodes,
        sessions::{SessionSettings, Sessions},
        signed_in::SignedIn,
        site_policy::SitePolicies,
    },
};

/// The adapters the use cases run on, one per capability.
#[derive(Clone)]
pub struct Ports {
    /// Members by login ID or e-mail, on the hot path of the use cases.
    pub members: Arc<dyn MemberLookup>,
    /// The same lookups for the light queries (`checkLoginId`, `findId`), which may be gathered
    /// into batches under load.
    pub lookups: Arc<dyn MemberLookup>,
    /// Members by many e-mails or login IDs in one query (the reset resolver).
    pub member_batches: Arc<dyn MemberBatchLookup>,
    /// Members by a just-passed identity check (`findId`).
    pub identities: Arc<dyn IdentityLookup>,
    /// Members by the id a session, grant or recovery code names.
    pub members_by_id: Arc<dyn MemberById>,
    /// Sites and their password policies.
    pub sites: Arc<dyn SiteDirectory>,
    /// Password history, changes and hash upgrades.
    pub passwords: Arc<dyn PasswordStore>,
    /// "That wasn't me" reports of a password change.
    pub change_reports: Arc<dyn ChangeReports>,
    /// Whether the database answers (the health endpoint).
    pub database: Arc<dyn HealthCheck>,
    /// Bulk and listing work of the CLI, imports and demo data.
    pub member_admin: Arc<dyn MemberAdminStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub limiter: Arc<dyn Limiter>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub outbox: Arc<dyn MailOutbox>,
    pub audit: Arc<dyn AuditLog>,
    /// The hand-off of e-mail reset requests to the resolvers.
    pub reset_queue: Arc<dyn ResetQueue>,
    /// Saved recovery codes (keyed hashes).
    pub recovery_codes: Arc<dyn RecoveryCodeStore>,
    /// Members as SCIM provisioning reads and writes them.
    pub provisioning: Arc<dyn ProvisioningStore>,
    /// The host's webhook endpoints.
    pub webhooks: Arc<dyn WebhookEndpoints>,
    /// The webhook channel of the delivery queue.
    pub events: Arc<dyn EventQueue>,
}

/// Every use case, wired to its ports once at start; cheap to clone into each request.
#[derive(Clone)]
pub struct Recovery {
    pub find_id: FindId,
    pub policies: SitePolicies,
    pub members: MemberAdmin,
    pub password_reset: PasswordReset,
    pub sessions: Sessions,
    pub password_changes: PasswordChanges,
    pub activity: RecoveryActivity,
    pub recovery_codes: RecoveryCodes,
    pub provisioning: Provisioning,
    pub webhooks: WebhookAdmin,
    pub rate_limits: RateLimits,
    pub ports: Ports,
    /// Woken when mail is queued, so the delivery worker sends at once.
    pub mail_wake: Arc<DeliveryWake>,
}

impl Recovery {
    // One argument per settings group; a struct of them would only rename the list.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ports: Ports,
        keys: Keyring,
        default_site: SiteId,
        default_policy: PasswordPolicy,
        reset: ResetSettings,
        rate_limits: RateLimitTable,
        session_settings: SessionSettings,
        identity: IdentityTrust,
    ) -> Self {
        let proofs = IdentityProofs::new(identity, ports.tokens.clone(), ports.audit.clone());
        let rate_limits = RateLimits::new(ports.limiter.clone(), rate_limits)
            .with_challenges(keys.current().clone(), ports.tokens.clone())
            .with_devices(ports.sessions.clone());
        let policies = SitePolicies::new(ports.sites.clone(), default_site.clone(), default_policy.clone());
        let mail_wake = Arc::new(DeliveryWake::default());
        let notices = ChangeNotices {
            public_reset_url: reset.public_reset_url.clone(),
            report_ttl: reset.report_ttl,
        };
        let new_passwords = NewPasswords {
            passwords: ports.passwords.clone(),
            hasher: ports.hasher.clone(),
            policies: policies.clone(),
        };
        let passwords = PasswordChecks {
            passwords: ports.passwords.clone(),
            limiter: ports.limiter.clone(),
            hasher: ports.hasher.clone(),
            audit: ports.audit.clone(),
            settings: session_settings.throttle.clone(),
        };
        let signed_in = SignedIn {
            members: ports.members_by_id.clone(),
            sessions: ports.sessions.clone(),
        };
        let sessions = Sessions {
            members: ports.members.clone(),
            sessions: ports.sessions.clone(),
            audit: ports.audit.clone(),
            policies: policies.clone(),
            passwords: passwords.clone(),
            signed_in: signed_in.clone(),
            rate_limits: rate_limits.clone(),
            settings: session_settings,
        };
        let members = MemberAdmin::new(
            ports.member_admin.clone(),
            ports.hasher.clone(),
            keys.clone(),
            default_site,
            default_policy,
        );
        Recovery {
            provisioning: Provisioning {
                store: ports.provisioning.clone(),
                members: members.clone(),
                policies: policies.clone(),
                sessions: ports.sessions.clone(),
                tokens: ports.tokens.clone(),
                rate_limits: rate_limits.clone(),
                delivery_wake: mail_wake.clone(),
            },
            members,
            find_id: FindId::new(
                ports.lookups.clone(),
                ports.identities.clone(),
                keys.clone(),
                rate_limits.clone(),
                proofs.clone(),
            ),
            recovery_codes: RecoveryCodes {
                signed_in: signed_in.clone(),
                codes: ports.recovery_codes.clone(),
                keys: keys.clone(),
                mail_wake: mail_wake.clone(),
                rate_limits: rate_limits.clone(),
                notices: notices.clone(),
            },
            activity: RecoveryActivity {
                audit: ports.audit.clone(),
                keys: keys.clone(),
            },
            password_changes: PasswordChanges {
                password_store: ports.passwords.clone(),
                sessions: ports.sessions.clone(),
                tokens: ports.tokens.clone(),
                hasher: ports.hasher.clone(),
                signed_in,
                passwords,
                new_passwords: new_passwords.clone(),
                notices: notices.clone(),
                rate_limits: rate_limits.clone(),
                mail_wake: mail_wake.clone(),
            },
            password_reset: PasswordReset {
                members: ports.members.clone(),
                members_by_id: ports.members_by_id.clone(),
                identities: ports.identities.clone(),
                member_batches: ports.member_batches.clone(),
                passwords: ports.passwords.clone(),
                change_reports: ports.change_reports.clone(),
                tokens: ports.tokens.clone(),
                sessions: ports.sessions.clone(),
                limiter: ports.limiter.clone(),
                hasher: ports.hasher.clone(),
                outbox: ports.outbox.clone(),
                audit: ports.audit.clone(),
                recovery_codes: ports.recovery_codes.clone(),
                keys,
                new_passwords,
                rate_limits: rate_limits.clone(),
                settings: reset,
                notices,
                mail_wake: mail_wake.clone(),
                queue: ports.reset_queue.clone(),
                resolve_wake: Arc::new(Notify::new()),
                cooldowns: Arc::default(),
                proofs,
            },
            sessions,
            rate_limits,
            policies,
            webhooks: WebhookAdmin {
                endpoints: ports.webhooks.clone(),
            },
            ports,
            mail_wake,
        }
    }
}
