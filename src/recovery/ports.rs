//! The traits the use cases need (member directory and admin store, hashing, grants, sessions,
//! limits, mail, audit); `infra/` implements them.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        email::Email,
        grant::{
            AttemptLimits, CodeAttempt, CodeHash, CodeLookup, GrantInfo, GrantOwner, GrantProof,
            IdentifierKey, IssueOutcome, NewGrant, TokenHash,
        },
        keyed_hash::CiHash,
        lang::Lang,
        login_id::LoginId,
        member::{JoinType, Member, MemberId, MemberStatus, MemberType, StoredHash},
        password::Password,
        password_policy::PasswordPolicy,
        recovery_code::RecoveryCodeHash,
        reset_nonce::ResetNonce,
        session::{LimitDecision, NewSession, SessionInfo},
        site::SiteId,
    },
    recovery::context::RequestContext,
};

#[derive(Debug, Clone, thiserror::Error)]
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

/// The members the use cases look up and update on every request (deadline-bound in production).
#[async_trait]
pub trait MemberDirectory: Send + Sync {
    async fn find_site(&self, site: &SiteId) -> Result<Option<Site>, StoreError>;
    async fn find_by_login_id(&self, site: &SiteId, login_id: &LoginId)
    -> Result<Option<Member>, StoreError>;
    /// Every member of the site with that e-mail, oldest first.
    async fn find_by_email(&self, site: &SiteId, email: &Email) -> Result<Vec<Member>, StoreError>;
    /// Every member of the site with one of these e-mails, oldest first: one query for a batch.
    async fn find_by_emails(&self, site: &SiteId, emails: &[Email]) -> Result<Vec<Member>, StoreError>;
    /// The members of the site with one of these login IDs: one query for a batch.
    async fn find_by_login_ids(
        &self,
        site: &SiteId,
        login_ids: &[LoginId],
    ) -> Result<Vec<Member>, StoreError>;
    /// Every member of the site with that identity and join type, oldest first.
    async fn find_by_identity(
        &self,
        site: &SiteId,
        ci: &CiHash,
        join_type: JoinType,
    ) -> Result<Vec<Member>, StoreError>;
    async fn find_by_id(&self, id: &MemberId) -> Result<Option<Member>, StoreError>;
    /// Earlier password hashes of the member, newest first.
    async fn password_history(&self, id: &MemberId) -> Result<Vec<StoredHash>, StoreError>;
    /// Sets the new hash, moves the old one into the history (trimmed to `history_size`), queues
    /// the notice and writes the audit event — all in one transaction. With `expected_hash`, only
    /// if the member's hash is still that one (one conditional UPDATE, not read-then-write):
    /// `None` when it is not, and nothing is written.
    async fn apply_password_change(&self, change: PasswordChange) -> Result<Option<Member>, StoreError>;
    /// "That wasn't me": spends the report token (once, if live at `now`) and locks the member's
    /// password sign-in, in one transaction. The member, or `None` for an unknown, used or
    /// expired token.
    async fn report_change(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Member>, StoreError>;
    /// Replaces the hash of the same password with a stronger one (argon2 parameters raised, or a
    /// legacy bcrypt hash), if it is still `old`. History and `passwordChangedAt` stay.
    async fn upgrade_hash(&self, id: &MemberId, old: &StoredHash, new: &StoredHash)
    -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
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
    /// Inserts all members in one transaction: all or nothing. Sites must exist.
    async fn insert_members(&self, members: &[NewMember]) -> Result<Vec<MemberId>, StoreError>;
    async fn list_members(&self, site: Option<&SiteId>) -> Result<Vec<Member>, StoreError>;
    async fn count_members(&self) -> Result<u64, StoreError>;
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
    async fn hash(&self, password: &Password) -> Result<StoredHash, HashError>;
    async fn verify(&self, password: &Password, stored: &StoredHash) -> Result<Verification, HashError>;
    /// Spends the same time as a real verification, for unknown accounts.
    async fn verify_dummy(&self, password: &Password);
    /// Whether a string is a stored hash this service can verify (argon2 PHC or bcrypt).
    fn is_supported_hash(&self, stored: &str) -> bool;
}

/// Grants, code attempts and cooldowns (Redis, or in-process without it). Every method that
/// decides something is one atomic operation in the store.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores `grant` as the owner's only grant (older ones die) and its code index entries, unless
    /// `cooldown` is given and a grant was issued within it, in which case nothing changes.
    async fn issue_grant(
        &self,
        owner: &GrantOwner,
        grant: &NewGrant,
        cooldown: Option<Duration>,
    ) -> Result<IssueOutcome, StoreError>;
    /// Whose grant a token belongs to (a routing entry; the grant itself decides validity).
    async fn owner_of_token(&self, token: &TokenHash) -> Result<Option<GrantOwner>, StoreError>;
    /// The owner's live grant when `token` is its token. Spends nothing.
    async fn check_token(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
    ) -> Result<Option<GrantInfo>, StoreError>;
    /// Looks a code up as typed, in the identifier's own slot, in one atomic step: at the limit of
    /// failures, `TooMany` without looking at the code; else a code of a grant mailed for the
    /// identifier is `Found` (nothing counted), and any other counts one failure (the limit-th
    /// answers `TooMany`). The same work whether or not the identifier names anyone.
    async fn judge_code(
        &self,
        identifier: &IdentifierKey,
        code: &CodeHash,
        limits: &AttemptLimits,
    ) -> Result<CodeLookup, StoreError>;
    /// Counts one attempt at a code that is checked elsewhere (a recovery code) against the same
    /// per-identifier budget as `judge_code`, in one atomic step and before the code is looked at:
    /// at the limit `TooMany` without counting, else one failure counted (`last` when it reached
    /// the limit). Counting first bounds concurrent guesses by the limit; a right code gives its
    /// count back with `release_code_attempt`. The same work whoever the identifier names.
    async fn reserve_code_attempt(
        &self,
        identifier: &IdentifierKey,
        limits: &AttemptLimits,
    ) -> Result<CodeAttempt, StoreError>;
    /// Gives back one failure counted by `reserve_code_attempt` (the code was right).
    async fn release_code_attempt(&self, identifier: &IdentifierKey) -> Result<(), StoreError>;
    /// The owner's live grant when it is `grant_id` and `code` is its code. Counts and spends nothing
    /// (the caller has found the code with `judge_code`).
    async fn check_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
    ) -> Result<Option<GrantInfo>, StoreError>;
    /// Like `check_code`, but replaces the grant with `replacement` in the same step.
    async fn exchange_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        grant_id: &str,
        replacement: &NewGrant,
    ) -> Result<Option<GrantInfo>, StoreError>;
    /// Deletes the owner's grant if `proof` matches it; true for exactly one caller.
    async fn spend_grant(&self, owner: &GrantOwner, proof: &GrantProof) -> Result<bool, StoreError>;
    /// Whether the owner's current grant is `grant_id` (the mail worker drops mail of dead grants).
    async fn grant_is_live(&self, owner: &GrantOwner, grant_id: &str) -> Result<bool, StoreError>;
    /// Deletes every grant of the owner, whatever proof.
    async fn revoke_grants(&self, owner: &GrantOwner) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Signed-in sessions (Redis, or in-process without it), indexed per member so that revoking all
/// and counting are single operations.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, owner: &GrantOwner, session: &NewSession) -> Result<(), StoreError>;
    /// The live session of a token; `None` when unknown, expired or revoked.
    async fn find_session(&self, token: &TokenHash) -> Result<Option<SessionInfo>, StoreError>;
    /// Marks a live session elevated until `until`; false when the session is gone.
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
}

/// One counter of a [`Limiter::hit_all`] call.
#[derive(Debug, Clone, Copy)]
pub struct CounterHit<'a> {
    pub key: &'a str,
    pub limit: u32,
    pub window: Duration,
}

/// Fixed-window counters shared by all instances: rate limits and sign-in throttles.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Counts one hit on `key` (the window starts with the first hit) and says whether it is
    /// within `limit`.
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<LimitDecision, StoreError>;
    /// Counts one hit on each counter at once — one round trip, one script on Redis — and says for
    /// each (in order) whether it is within its limit. Every counter is counted, refused or not.
    /// The keys of one call start with the same `name:` segment (one operation's limits), which
    /// keeps them in one slot on Redis Cluster.
    async fn hit_all(&self, hits: &[CounterHit<'_>]) -> Result<Vec<LimitDecision>, StoreError>;
    /// Says whether one more hit would still be within `limit` (count < limit), without counting.
    async fn peek(&self, key: &str, limit: u32) -> Result<LimitDecision, StoreError>;
    async fn clear(&self, key: &str) -> Result<(), StoreError>;
}

/// A message ready to send, rendered in the member's language.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies hold live links and codes.
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a mail is queued, and what makes it obsolete.
#[derive(Debug, Clone)]
pub struct MailMeta {
    pub site: SiteId,
    pub member: Option<MemberId>,
    pub kind: MailKind,
    /// The grants the mail carries: when none of them is live any more, the mail is dropped.
    pub grants: Vec<(GrantOwner, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    ResetRequested,
    PasswordChanged,
    /// A notice that recovery codes were generated or one was used.
    RecoveryCodes,
}

impl MailKind {
    pub const ALL: [MailKind; 3] = [
        MailKind::ResetRequested,
        MailKind::PasswordChanged,
        MailKind::RecoveryCodes,
    ];

    pub fn code(self) -> &'static str {
        match self {
            MailKind::ResetRequested => "RESET_REQUESTED",
            MailKind::PasswordChanged => "PASSWORD_CHANGED",
            MailKind::RecoveryCodes => "RECOVERY_CODES",
        }
    }

    /// The kind of a stored code; `None` for a code this build does not know.
    pub fn from_code(code: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// A queued mail claimed by the delivery worker.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub id: i64,
    /// Counting this claim; with `id`, names this claim (see [`MailClaim`]).
    pub attempts: u32,
    pub meta: MailMeta,
    pub mail: OutgoingMail,
}

impl ClaimedMail {
    pub fn claim(&self) -> MailClaim {
        MailClaim {
            id: self.id,
            attempts: self.attempts,
        }
    }
}

/// One claim of a queued message: the row and its attempt count as the claim left it. Settling or
/// releasing applies only while the row is still in that claim, so a claimer whose lease ran out
/// can never overwrite what a later claimer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailClaim {
    pub id: i64,
    pub attempts: u32,
}

/// What became of a claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// Accepted by the mail server: the body is erased.
    Sent,
    /// Obsolete (its grants were spent, replaced or expired): the body is erased, nothing sent.
    Dropped,
    /// Not sent; due again after the delay.
    Retry { error: String, after: Duration },
    /// Given up: the body is erased, the row kept for operators.
    Failed { error: String },
}

/// A claimed message with what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledMail {
    pub claim: MailClaim,
    pub outcome: MailOutcome,
}

/// The mail outbox: written with the state change, drained by the delivery worker.
///
/// Claims must stay cheap whatever the table holds (they read an index of due rows, never the
/// finished ones) and must never hand one row to two claimers at once, on any backend.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    async fn enqueue(&self, meta: &MailMeta, mail: &OutgoingMail) -> Result<(), StoreError>;
    /// Claims up to `limit` due messages for `lease`, oldest due first (other instances skip them
    /// meanwhile; once the lease has passed they are due again). With `lapsed`, messages whose
    /// claimer's lease ran out are taken first; without, only pending ones (one statement less).
    async fn claim_due(
        &self,
        limit: u64,
        lease: Duration,
        lapsed: bool,
    ) -> Result<Vec<ClaimedMail>, StoreError>;
    /// Records what became of claimed messages, with their audit events, in one transaction.
    async fn settle(&self, settled: &[SettledMail], events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Hands claimed, unstarted messages back: due at once, the claim not counted as an attempt.
    async fn release(&self, claims: &[MailClaim]) -> Result<(), StoreError>;
    /// Deletes up to `limit` sent and dropped messages finished before `sent_before` and given-up
    /// ones finished before `failed_before`; returns how many went.
    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError>;
    /// Queues the mails and writes the audit events of one resolved batch, all in one transaction.
    /// A mail whose key is already queued is not added again (a batch resolved twice mails once).
    async fn enqueue_resolved(&self, mails: &[KeyedMail], events: &[AuditEvent]) -> Result<(), StoreError>;
}

/// A mail with the key that makes queueing it idempotent.
#[derive(Debug, Clone)]
pub struct KeyedMail {
    pub key: String,
    pub meta: MailMeta,
    pub mail: OutgoingMail,
}

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
    /// Requests handed off and not yet acknowledged.
    async fn backlog(&self) -> Result<u64, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying (connection refused, timeout, 4xx).
    #[error("temporary mail failure: {0}")]
    Temporary(String),
    /// Will not succeed (5xx, bad address).
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Sends one message now (SMTP, or the development outbox folder).
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// One recovery event for the audit table. Never a password, token, code or `ci`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub site: SiteId,
    pub member: Option<MemberId>,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    pub client: Option<String>,
    /// For an attempt made with an identifier as typed (a wrong code), its keyed hash
    /// (`IdentifierKey::audit_key`, never the identifier in clear): the owners of that e-mail or
    /// login ID see the attempt in their activity, whether or not the caller's guess named them.
    pub identifier: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    ResetRequested,
    ResetMailed,
    ResetVerified,
    FailedAttempt,
    PasswordReset,
    PasswordChanged,
    SignedIn,
    /// The member said "that wasn't me" about a password change.
    ChangeReported,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
}

impl AuditKind {
    pub const ALL: [AuditKind; 10] = [
        AuditKind::ResetRequested,
        AuditKind::ResetMailed,
        AuditKind::ResetVerified,
        AuditKind::FailedAttempt,
        AuditKind::PasswordReset,
        AuditKind::PasswordChanged,
        AuditKind::SignedIn,
        AuditKind::ChangeReported,
        AuditKind::RecoveryCodesGenerated,
        AuditKind::RecoveryCodeUsed,
    ];

    /// The kind of a stored code; `None` for a code this build does not know.
    pub fn from_code(code: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            AuditKind::ResetRequested => "RESET_REQUESTED",
            AuditKind::ResetMailed => "RESET_MAILED",
            AuditKind::ResetVerified => "RESET_VERIFIED",
            AuditKind::FailedAttempt => "FAILED_ATTEMPT",
            AuditKind::PasswordReset => "PASSWORD_RESET",
            AuditKind::PasswordChanged => "PASSWORD_CHANGED",
            AuditKind::SignedIn => "SIGNED_IN",
            AuditKind::ChangeReported => "CHANGE_REPORTED",
            AuditKind::RecoveryCodesGenerated => "RECOVERY_CODES_GENERATED",
            AuditKind::RecoveryCodeUsed => "RECOVERY_CODE_USED",
        }
    }
}

/// How a recorded event ended. The codes are what the audit table stores: stable, so old rows
/// keep their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    NoAccount,
    MemberLimited,
    Cooldown,
    MailQueued,
    IdentityMismatch,
    Refused,
    Direct,
    Token,
    Code,
    InvalidToken,
    WrongCode,
    Ok,
    Extended,
    Changed,
    Throttled,
    InvalidCredentials,
    WrongPassword,
    Sent,
    /// Verified or spent with a saved recovery code.
    RecoveryCode,
}

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 19] = [
        AuditOutcome::NoAccount,
        AuditOutcome::MemberLimited,
        AuditOutcome::Cooldown,
        AuditOutcome::MailQueued,
        AuditOutcome::IdentityMismatch,
        AuditOutcome::Refused,
        AuditOutcome::Direct,
        AuditOutcome::Token,
        AuditOutcome::Code,
        AuditOutcome::InvalidToken,
        AuditOutcome::WrongCode,
        AuditOutcome::Ok,
        AuditOutcome::Extended,
        AuditOutcome::Changed,
        AuditOutcome::Throttled,
        AuditOutcome::InvalidCredentials,
        AuditOutcome::WrongPassword,
        AuditOutcome::Sent,
        AuditOutcome::RecoveryCode,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AuditOutcome::NoAccount => "no_account",
            AuditOutcome::MemberLimited => "member_limited",
            AuditOutcome::Cooldown => "cooldown",
            AuditOutcome::MailQueued => "mail_queued",
            AuditOutcome::IdentityMismatch => "identity_mismatch",
            AuditOutcome::Refused => "refused",
            AuditOutcome::Direct => "direct",
            AuditOutcome::Token => "token",
            AuditOutcome::Code => "code",
            AuditOutcome::InvalidToken => "invalid_token",
            AuditOutcome::WrongCode => "wrong_code",
            AuditOutcome::Ok => "ok",
            AuditOutcome::Extended => "extended",
            AuditOutcome::Changed => "changed",
            AuditOutcome::Throttled => "throttled",
            AuditOutcome::InvalidCredentials => "invalid_credentials",
            AuditOutcome::WrongPassword => "wrong_password",
            AuditOutcome::Sent => "sent",
            AuditOutcome::RecoveryCode => "recovery_code",
        }
    }
}

/// One stored audit event of a member, as their recovery activity lists it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// Position in the log: later events have larger ids.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    /// The stored outcome code (`AuditOutcome::code`).
    pub outcome: String,
    /// The client address as stored (unmasked).
    pub client: Option<String>,
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError>;
    /// The member's events — rows of the member, and rows whose identifier key is one of
    /// `identifiers` (the member's own e-mail and login ID keys) — newest first, only those before
    /// `before` (an event id) when given, at most `limit`. Rows of kinds this build does not know
    /// are left out.
    async fn member_events(
        &self,
        member: &MemberId,
        identifiers: &[String],
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;
}

impl dyn AuditLog {
    /// Records an event about a request. The audit never fails a request: a write that fails is
    /// logged instead.
    pub async fn note(
        &self,
        ctx: &RequestContext,
        member: Option<&Member>,
        kind: AuditKind,
        outcome: AuditOutcome,
    ) {
        let event = AuditEvent {
            site: ctx.site.clone(),
            member: member.map(|m| m.id.clone()),
            kind,
            outcome,
            client: ctx.client_text(),
            identifier: None,
        };
        self.write(event).await;
    }

    /// Records an attempt made with an identifier as typed, under its keyed hash: the same write
    /// whether or not the identifier names anyone (no lookup), shown to whoever it names.
    pub async fn note_attempt(
        &self,
        ctx: &RequestContext,
        identifier_key: String,
        kind: AuditKind,
        outcome: AuditOutcome,
    ) {
        let event = AuditEvent {
            site: ctx.site.clone(),
            member: None,
            kind,
            outcome,
            client: ctx.client_text(),
            identifier: Some(identifier_key),
        };
        self.write(event).await;
    }

    async fn write(&self, event: AuditEvent) {
        let (kind, outcome) = (event.kind, event.outcome);
        if let Err(e) = self.record(event).await {
            tracing::error!(error = %e, kind = kind.code(), outcome = outcome.code(), "audit event not written");
        }
    }
}

/// A new set of recovery codes for a member: only their keyed hashes, with the notice and the audit
/// event written in the same transaction.
#[derive(Debug, Clone)]
pub struct NewRecoveryCodeSet {
    pub site: SiteId,
    pub member: MemberId,
    pub codes: Vec<RecoveryCodeHash>,
    pub notice: (MailMeta, OutgoingMail),
    pub audit: AuditEvent,
}

/// An unspent recovery code as the store finds it by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecoveryCode {
    pub site: SiteId,
    pub member: MemberId,
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
    /// The owner of an unspent code with this hash: one lookup on the hash's unique index, the
    /// same work whether or not the code or its login ID exists. Spends nothing.
    async fn find_unspent(&self, code: &RecoveryCodeHash) -> Result<Option<StoredRecoveryCode>, StoreError>;
    /// Spends the code if it is still unspent — true for exactly one caller, however many try at
    /// once — and with it queues the notice and writes the audit event, in one transaction.
    async fn spend(&self, used: RecoveryCodeUse) -> Result<bool, StoreError>;
    /// How many unspent codes the member has.
    async fn codes_left(&self, member: &MemberId) -> Result<u32, StoreError>;
}

/// A new password for a member, applied in one database transaction together with its
/// history, the notice mail and the audit event.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub member: MemberId,
    /// `None` keeps the current hash and only restarts the expiry clock (EXTEND).
    pub new_hash: Option<StoredHash>,
    /// The hash the change was judged against (a signed-in change): written only while it is still
    /// the member's, so a reset that lands meanwhile wins. `None` (a reset) writes regardless.
    pub expected_hash: Option<StoredHash>,
    pub changed_at: DateTime<Utc>,
    /// Earlier hashes to keep (the replaced current one included); older ones are deleted.
    pub history_size: usize,
    pub notice: Option<(MailMeta, OutgoingMail)>,
    /// The "that wasn't me" token the notice carries, stored with it.
    pub report: Option<NewChangeReport>,
    pub audit: AuditEvent,
}

/// A "that wasn't me" token to store (its hash) with the notice that carries it.
#[derive(Debug, Clone)]
pub struct NewChangeReport {
    pub token: TokenHash,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The audit table keeps these codes: changing one would change what stored rows mean.
    #[test]
    fn audit_outcome_codes_are_stable_and_distinct() {
        let codes: Vec<&str> = AuditOutcome::ALL.iter().map(|o| o.code()).collect();
        assert_eq!(
            codes,
            [
                "no_account",
                "member_limited",
                "cooldown",
                "mail_queued",
                "identity_mismatch",
                "refused",
                "direct",
                "token",
                "code",
                "invalid_token",
                "wrong_code",
                "ok",
                "extended",
                "changed",
                "throttled",
                "invalid_credentials",
                "wrong_password",
                "sent",
                "recovery_code",
            ]
        );
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), codes.len());
    }

    #[test]
    fn audit_kind_codes_round_trip() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(AuditKind::from_code("SOMETHING_ELSE"), None);
    }
}
