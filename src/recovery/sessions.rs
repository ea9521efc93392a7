//! Signing in and out, re-authenticating, and the signed-in member's profile. Failed password
//! checks are throttled per login ID and per client; the throttle never touches recovery.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        login_id::LoginId,
        member::{Member, MemberStatus},
        password_policy::{PasswordPolicy, nfkc},
        session::{AccessToken, NewSession, SessionInfo},
    },
    recovery::{
        errors::RecoveryError,
        password_reset::RequestContext,
        ports::{AuditKind, AuditLog, Limiter, MemberStore, PasswordHasher, SessionStore},
        site_policy::SitePolicies,
    },
};

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub ttl: Duration,
    /// How long `reauthenticate` (or the first sign-in after a reset) elevates a session.
    pub elevation: Duration,
    /// Failed password checks per login ID, and per client address, within `failure_window`.
    pub member_failures: u32,
    pub client_failures: u32,
    pub failure_window: Duration,
}

/// Longest password worth verifying; anything longer is wrong without hashing it.
const MAX_PASSWORD_BYTES: usize = 1024;

/// The throttle key of a login ID: the same for accounts that exist and that do not.
pub fn signin_throttle_key(member: &Member) -> String {
    let normalised = LoginId::parse(&member.login_id)
        .map(|id| id.normalized())
        .unwrap_or_else(|_| member.login_id.to_lowercase());
    throttle_key_for(member.site_id.as_str(), &normalised)
}

fn throttle_key_for(site: &str, normalised_login_id: &str) -> String {
    format!("signin:id:{site}:{normalised_login_id}")
}

#[derive(Debug)]
pub enum SignInResult {
    SignedIn {
        token: AccessToken,
        session: SessionInfo,
        password_expired: bool,
        member: Box<Member>,
        active_sessions: u32,
    },
    InvalidCredentials,
    Throttled {
        retry_after: Duration,
    },
}

/// The outcome of checking a signed-in member's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Right,
    Wrong,
    Throttled { retry_after: Duration },
}

#[derive(Debug)]
pub enum ReauthResult {
    Elevated(DateTime<Utc>),
    InvalidCredentials,
    Throttled { retry_after: Duration },
}

#[derive(Clone)]
pub struct Sessions {
    pub(crate) members: Arc<dyn MemberStore>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) limiter: Arc<dyn Limiter>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) audit: Arc<dyn AuditLog>,
    pub(crate) policies: SitePolicies,
    pub(crate) settings: SessionSettings,
}

/// When the member's password stops being valid under `policy`.
pub fn password_expires_at(member: &Member, policy: &PasswordPolicy) -> DateTime<Utc> {
    member.password_changed_at.unwrap_or(member.joined_at)
        + chrono::Duration::days(i64::from(policy.expires_after_days))
}

impl Sessions {
    fn client_key(ctx: &RequestContext) -> Option<String> {
        ctx.client.as_ref().map(|c| {
            // IPv6 clients count per /64, like the rate limits.
            let subject = c
                .parse()
                .map(crate::http::client_addr::limit_subject)
                .unwrap_or_else(|_| c.clone());
            format!("signin:client:{subject}")
        })
    }

    /// Counts this password attempt against the login ID *before* any verification (so a burst
    /// of parallel guesses cannot all pass a check made before the first failure is counted), and
    /// refuses it while the login ID or the client has too many recent failures.
    async fn take_attempt(
        &self,
        ctx: &RequestContext,
        id_key: &str,
    ) -> Result<Option<Duration>, RecoveryError> {
        let window = self.settings.failure_window;
        let by_id = self
            .limiter
            .hit(id_key, self.settings.member_failures, window)
            .await?;
        if !by_id.allowed {
            return Ok(Some(by_id.retry_after));
        }
        if let Some(key) = Self::client_key(ctx) {
            let by_client = self.limiter.peek(&key, self.settings.client_failures).await?;
            if !by_client.allowed {
                return Ok(Some(by_client.retry_after));
            }
        }
        Ok(None)
    }

    /// A failed attempt also counts against the client address.
    async fn count_client_failure(&self, ctx: &RequestContext) -> Result<(), RecoveryError> {
        if let Some(key) = Self::client_key(ctx) {
            self.limiter
                .hit(&key, self.settings.client_failures, self.settings.failure_window)
                .await?;
        }
        Ok(())
    }

    /// Verifies `password` against the member's hash (or a dummy one), counting a failure, and
    /// upgrading a weak or legacy hash on success.
    async fn verify(&self, member: Option<&Member>, password: &str) -> Result<bool, RecoveryError> {
        let hash = member.and_then(|m| m.password_hash.as_ref());
        let (Some(member), Some(hash), true) = (member, hash, password.len() <= MAX_PASSWORD_BYTES) else {
            // Unknown account, social account or absurd input: spend the same time anyway.
            self.hasher.verify_dummy(password).await;
            return Ok(false);
        };
        let normalised = nfkc(password);
        let verdict = match self.hasher.verify(&normalised, hash).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(member = %member.id.0, error = %e, "stored hash not verifiable");
                return Ok(false);
            }
        };
        if verdict.matches && verdict.needs_rehash {
            match self.hasher.hash(&normalised).await {
                Ok(stronger) => self.members.upgrade_hash(&member.id, hash, &stronger).await?,
                Err(e) => tracing::warn!(error = %e, "hash upgrade skipped"),
            }
        }
        Ok(verdict.matches)
    }

    pub async fn sign_in(
        &self,
        ctx: &RequestContext,
        login_id: &LoginId,
        password: &str,
    ) -> Result<SignInResult, RecoveryError> {
        let id_key = throttle_key_for(ctx.site.as_str(), &login_id.normalized());
        if let Some(retry_after) = self.take_attempt(ctx, &id_key).await? {
            self.audit.note(ctx, None, AuditKind::SignedIn, "throttled").await;
            return Ok(SignInResult::Throttled { retry_after });
        }
        let member = self
            .members
            .find_by_login_id(&ctx.site, login_id)
            .await?
            .filter(|m| m.status != MemberStatus::Withdrawn);
        let right = self.verify(member.as_ref(), password).await?;
        let member = match member {
            Some(m) if right && m.status == MemberStatus::Active => m,
            other => {
                self.count_client_failure(ctx).await?;
                self.audit
                    .note(ctx, other.as_ref(), AuditKind::SignedIn, "invalid_credentials")
                    .await;
                return Ok(SignInResult::InvalidCredentials);
            }
        };
        self.limiter.clear(&id_key).await?;
        let owner = crate::domain::grant::GrantOwner {
            site: member.site_id.clone(),
            member: member.id.clone(),
        };
        let now = Utc::now();
        let elevated_until = if self.sessions.take_reset_mark(&owner).await? {
            Some(now + self.settings.elevation)
        } else {
            None
        };
        let token = AccessToken::generate();
        let session = NewSession {
            token: token.hash(),
            ttl: self.settings.ttl,
            elevated_until,
        };
        self.sessions.create_session(&owner, &session).await?;
        let policy = self.policies.policy_for(&member.site_id).await?;
        let active_sessions = self.sessions.count_sessions(&owner).await?;
        self.audit
            .note(ctx, Some(&member), AuditKind::SignedIn, "ok")
            .await;
        Ok(SignInResult::SignedIn {
            session: SessionInfo {
                owner,
                token: token.hash(),
                expires_at: now + self.settings.ttl,
                elevated_until,
            },
            token,
            password_expired: password_expires_at(&member, &policy) <= now,
            member: Box::new(member),
            active_sessions,
        })
    }

    /// The live session of a bearer token.
    pub async fn authenticate(&self, token: &AccessToken) -> Result<Option<SessionInfo>, RecoveryError> {
        Ok(self.sessions.find_session(&token.hash()).await?)
    }

    /// The signed-in member (active) with their number of sessions.
    pub async fn member(&self, session: &SessionInfo) -> Result<Option<(Member, u32)>, RecoveryError> {
        let member = self.members.find_by_id(&session.owner.member).await?;
        let Some(member) = member.filter(|m| m.status == MemberStatus::Active) else {
            return Ok(None);
        };
        let count = self.sessions.count_sessions(&session.owner).await?;
        Ok(Some((member, count)))
    }

    /// Checks the signed-in member's password, throttled and counted like a sign-in.
    pub async fn check_password(
        &self,
        ctx: &RequestContext,
        member: &Member,
        password: &str,
    ) -> Result<PasswordCheck, RecoveryError> {
        let id_key = signin_throttle_key(member);
        if let Some(retry_after) = self.take_attempt(ctx, &id_key).await? {
            return Ok(PasswordCheck::Throttled { retry_after });
        }
        if self.verify(Some(member), password).await? {
            self.limiter.clear(&id_key).await?;
            Ok(PasswordCheck::Right)
        } else {
            self.count_client_failure(ctx).await?;
            self.audit
                .note(ctx, Some(member), AuditKind::FailedAttempt, "wrong_password")
                .await;
            Ok(PasswordCheck::Wrong)
        }
    }

    /// The right password elevates the session for a while.
    pub async fn reauthenticate(
        &self,
        ctx: &RequestContext,
        session: &SessionInfo,
        password: &str,
    ) -> Result<ReauthResult, RecoveryError> {
        let Some((member, _)) = self.member(session).await? else {
            return Ok(ReauthResult::InvalidCredentials);
        };
        match self.check_password(ctx, &member, password).await? {
            PasswordCheck::Right => {
                let until = Utc::now() + self.settings.elevation;
                if !self
                    .sessions
                    .elevate_session(&session.owner, &session.token, until)
                    .await?
                {
                    return Ok(ReauthResult::InvalidCredentials);
                }
                Ok(ReauthResult::Elevated(until))
            }
            PasswordCheck::Wrong => Ok(ReauthResult::InvalidCredentials),
            PasswordCheck::Throttled { retry_after } => Ok(ReauthResult::Throttled { retry_after }),
        }
    }

    pub async fn sign_out(&self, session: &SessionInfo) -> Result<(), RecoveryError> {
        Ok(self
            .sessions
            .revoke_session(&session.owner, &session.token)
            .await?)
    }
}
