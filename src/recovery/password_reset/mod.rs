//! Password reset: issue a grant (mailed link + code, resolved behind a hand-off, or a direct token
//! after an identity check), verify it without spending, and reset the password with it — exactly
//! once. One file per step; this one holds the use case, its settings and what the steps share.
mod cooldowns;
mod credential;
mod issue;
mod recovery_code;
mod report;
mod reset;
mod resolve;

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::recovery::delivery::DeliveryWake;

pub use self::{
    credential::VerifyResult,
    issue::{IssueResult, ResetRequest},
    report::ReportOutcome,
    reset::ResetOutcome,
};
use crate::{
    domain::{
        email::Email,
        grant::{AttemptLimits, GrantOwner, IdentifierKey, IndexedCode, ResetCode, ResetToken},
        keyed_hash::KeyedHasher,
        keyring::Keyring,
        login_id::LoginId,
        member::{Member, MemberStatus, MemberType},
        recovery_code::RecoveryCode,
    },
    recovery::{
        change_notice::ChangeNotices,
        identity_proof::IdentityProofs,
        new_password::NewPasswords,
        ports::{
            AuditLog, ChangeReports, IdentityLookup, Limiter, MailOutbox, MemberBatchLookup, MemberById,
            MemberLookup, PasswordHasher, PasswordStore, RecoveryCodeStore, ResetQueue, SessionStore,
            TokenStore,
        },
        rate_limits::RateLimits,
    },
};

/// Lifetimes and limits of reset grants (from settings).
#[derive(Debug, Clone)]
pub struct ResetSettings {
    pub email_ttl: Duration,
    pub direct_ttl: Duration,
    pub cooldown: Duration,
    pub limits: AttemptLimits,
    /// The e-mail paths answer no sooner than this after the request began (0 by default: their
    /// work no longer depends on the address; kept for deployments that want a fixed pace).
    pub reply_floor: Duration,
    /// How long after a reset the first sign-in is elevated.
    pub reset_elevation_window: Duration,
    /// Base of the links in mails (`PUBLIC_RESET_URL`), never the request's Host.
    pub public_reset_url: url::Url,
    /// How long the "that wasn't me" token of a password-changed notice lives.
    pub report_ttl: Duration,
}

/// Why a request about a known account is refused (identity path only; the e-mail paths never say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The identity proof itself was refused (whatever the account).
    IdentityUnverified,
    IdentityMismatch,
    SocialAccount,
    AccountInactive,
}

/// What a mailed code is presented with.
pub enum CodeIdentifier {
    Email(Email),
    LoginId(LoginId),
}

/// What proves the right to reset: a token, a mailed code with its address or login ID, or a saved
/// recovery code with its login ID.
pub enum Credential {
    Token(ResetToken),
    Code { by: CodeIdentifier, code: ResetCode },
    RecoveryCode { login_id: LoginId, code: RecoveryCode },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    InvalidToken,
    InvalidCode,
    TooManyAttempts,
}

#[derive(Clone)]
pub struct PasswordReset {
    /// Members by the login ID a reset request names.
    pub(crate) members: Arc<dyn MemberLookup>,
    /// Members by the id a grant or recovery code names.
    pub(crate) members_by_id: Arc<dyn MemberById>,
    /// Where a verified identity's hash is moved to the current key.
    pub(crate) identities: Arc<dyn IdentityLookup>,
    /// The resolver's lookups: many e-mails or login IDs in one query.
    pub(crate) member_batches: Arc<dyn MemberBatchLookup>,
    pub(crate) passwords: Arc<dyn PasswordStore>,
    pub(crate) change_reports: Arc<dyn ChangeReports>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) limiter: Arc<dyn Limiter>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) outbox: Arc<dyn MailOutbox>,
    pub(crate) audit: Arc<dyn AuditLog>,
    /// Saved recovery codes: a third credential, spent on use.
    pub(crate) recovery_codes: Arc<dyn RecoveryCodeStore>,
    pub(crate) keys: Keyring,
    pub(crate) new_passwords: NewPasswords,
    pub(crate) rate_limits: RateLimits,
    pub(crate) settings: ResetSettings,
    pub(crate) notices: ChangeNotices,
    pub(crate) mail_wake: Arc<DeliveryWake>,
    /// Where the e-mail paths hand requests off to the resolvers.
    pub(crate) queue: Arc<dyn ResetQueue>,
    /// Woken when a request is handed off, so this instance's resolver starts at once.
    pub(crate) resolve_wake: Arc<Notify>,
    /// The cooldowns this instance's resolver started, known without asking the token store.
    pub(crate) cooldowns: Arc<cooldowns::KnownCooldowns>,
    /// Checks the identity path's proof (signed assertion, or raw ci in development).
    pub(crate) proofs: IdentityProofs,
}

/// Where a mailed code is found from what its owner may type — the e-mail or the login ID —
/// without knowing the owner (see credential.rs).
fn code_index(keys: &KeyedHasher, member: &Member, code: &ResetCode) -> Vec<IndexedCode> {
    [
        IdentifierKey::email(&member.site_id, &member.email),
        IdentifierKey::login(&member.site_id, &member.login_id),
    ]
    .map(|identifier| IndexedCode {
        code: code.index_hash(keys, &identifier),
        identifier,
    })
    .to_vec()
}

fn owner_of(member: &Member) -> GrantOwner {
    GrantOwner {
        site: member.site_id.clone(),
        member: member.id.clone(),
    }
}

/// Why a found account may not reset its password, if it may not.
fn refusal_for(member: &Member) -> Option<Refusal> {
    if member.member_type == MemberType::Social || member.password_hash.is_none() {
        Some(Refusal::SocialAccount)
    } else if member.status != MemberStatus::Active {
        Some(Refusal::AccountInactive)
    } else {
        None
    }
}
