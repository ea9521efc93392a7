//! Signing in and out, re-authenticating, and the signed-in member's profile (password checks
//! are throttled in password_check.rs; the throttle never touches recovery).
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    domain::{
        audit::{AuditKind, AuditOutcome},
        device::{DeviceInfo, DeviceToken, NewDevice},
        grant::GrantOwner,
        login_id::LoginId,
        member::{Member, MemberStatus},
        password::Password,
        session::{AccessToken, NewSession, SessionInfo},
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        password_check::{
            PasswordCheck, PasswordChecks, ThrottleSettings, device_throttle_key, signin_throttle_key,
        },
        ports::{AuditLog, MemberLookup, SessionStore},
        rate_limits::{Operation, RateLimits, target},
        signed_in::SignedIn,
        site_policy::SitePolicies,
    },
};

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub ttl: Duration,
    /// How long `reauthenticate` (or the first sign-in after a reset) elevates a session.
    pub elevation: Duration,
    /// How long a device token from `signIn` counts its calls on its own budget.
    pub device_ttl: Duration,
    /// Failed password checks per login ID, and per client address.
    pub throttle: ThrottleSettings,
}

#[derive(Debug)]
pub enum SignInResult {
    SignedIn {
        token: AccessToken,
        /// The device's token: the one it sent, renewed, or a new one.
        device: DeviceToken,
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

#[derive(Debug)]
pub enum ReauthResult {
    Elevated(DateTime<Utc>),
    InvalidCredentials,
    Throttled { retry_after: Duration },
}

#[derive(Clone)]
pub struct Sessions {
    pub(crate) members: Arc<dyn MemberLookup>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) audit: Arc<dyn AuditLog>,
    pub(crate) policies: SitePolicies,
    pub(crate) passwords: PasswordChecks,
    pub(crate) signed_in: SignedIn,
    pub(crate) rate_limits: RateLimits,
    pub(crate) settings: SessionSettings,
}

impl Sessions {
    /// Signs in with a login ID and password: refused while the client has too many failures,
    /// then counted by the sign-in rate limits (the client's first), then throttled per login ID —
    /// or, from a device of the member's (`X-Device-Token`), per device, so strangers' failures
    /// never slow the owner's own devices. A client its own budgets refuse spends nothing of the
    /// login ID's.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "sign_in"))]
    pub async fn sign_in(
        &self,
        ctx: &RequestContext,
        login_id: &LoginId,
        password: &Password,
    ) -> Result<SignInResult, RecoveryError> {
        if let Some(retry_after) = self.passwords.client_throttled(ctx).await? {
            return Ok(self.throttled(ctx, retry_after).await);
        }
        let target = target::login(&ctx.site, login_id);
        let device = self.rate_limits.device_for(ctx, &target).await?;
        self.rate_limits
            .admit_from(Operation::SignIn, ctx, Some(target.clone()), device.clone())
            .await?;
        let id_key = signin_throttle_key(&ctx.site, login_id);
        let failures_key = device
            .as_ref()
            .map_or_else(|| id_key.clone(), device_throttle_key);
        if let Some(retry_after) = self.passwords.count_attempt(&failures_key).await? {
            // Past the login ID's (or the device's) failures: not a lock, a challenge per attempt.
            let purpose = format!("signInFailures:{target}");
            if let Err(refused) = self
                .rate_limits
                .past_target_limit(ctx, &purpose, retry_after)
                .await
            {
                self.throttled(ctx, retry_after).await;
                return Err(refused);
            }
        }
        let member = self
            .members
            .find_by_login_id(&ctx.site, login_id)
            .await?
            .filter(|m| m.status != MemberStatus::Withdrawn);
        let right = self.passwords.verify(member.as_ref(), password).await?;
        let member = match member {
            // A member who reported a change they did not make signs in again only after a reset;
            // until then the right password answers like a wrong one.
            Some(m) if right && m.status == MemberStatus::Active && !m.sign_in_locked => m,
            other => {
                self.passwords.count_client_failure(ctx).await?;
                self.audit
                    .note(
                        ctx,
                        other.as_ref(),
                        AuditKind::SignedIn,
                        AuditOutcome::InvalidCredentials,
                    )
                    .await;
                return Ok(SignInResult::InvalidCredentials);
            }
        };
        self.passwords.clear(&id_key).await?;
        if failures_key != id_key {
            self.passwords.clear(&failures_key).await?;
        }
        let owner = GrantOwner {
            site: member.site_id.clone(),
            member: member.id.clone(),
        };
        let device = self.remember_device(ctx, &owner, &member, device).await?;
        let now = ctx.now;
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
            .note(ctx, Some(&member), AuditKind::SignedIn, AuditOutcome::Ok)
            .await;
        Ok(SignInResult::SignedIn {
            session: SessionInfo {
                owner,
                token: token.hash(),
                expires_at: now + self.settings.ttl,
                elevated_until,
                reauthenticated: false,
            },
            token,
            device,
            password_expired: member.password_expires_at(&policy) <= now,
            member: Box::new(member),
            active_sessions,
        })
    }

    /// The device token to hand back: the member's own one the request carried (its life and
    /// targets renewed), else a new one. Its targets are the member's login ID, address and id as
    /// they are now.
    async fn remember_device(
        &self,
        ctx: &RequestContext,
        owner: &GrantOwner,
        member: &Member,
        known: Option<DeviceInfo>,
    ) -> Result<DeviceToken, RecoveryError> {
        let token = match (known, &ctx.device) {
            (Some(d), Some(token)) if d.owner == *owner => token.clone(),
            _ => DeviceToken::generate(),
        };
        let device = NewDevice {
            token: token.hash(),
            targets: vec![
                target::login(&member.site_id, &member.login_id),
                target::email(&member.site_id, &member.email),
                target::member(&member.site_id, &member.id),
            ],
            ttl: self.settings.device_ttl,
        };
        self.sessions.create_device(owner, &device).await?;
        Ok(token)
    }

    /// The live session of a bearer token.
    #[tracing::instrument(skip_all, fields(op = "authenticate"))]
    pub async fn authenticate(&self, token: &AccessToken) -> Result<Option<SessionInfo>, RecoveryError> {
        Ok(self.sessions.find_session(&token.hash()).await?)
    }

    /// The signed-in member (active) with their number of sessions.
    #[tracing::instrument(skip_all, fields(site = %session.owner.site, op = "me"))]
    pub async fn member(&self, session: &SessionInfo) -> Result<Option<(Member, u32)>, RecoveryError> {
        self.signed_in.member(session).await
    }

    /// Audits a sign-in its throttle refused; the refusal to answer.
    async fn throttled(&self, ctx: &RequestContext, retry_after: std::time::Duration) -> SignInResult {
        self.audit
            .note(ctx, None, AuditKind::SignedIn, AuditOutcome::Throttled)
            .await;
        SignInResult::Throttled { retry_after }
    }

    /// The right password elevates the session for a while.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "reauthenticate"))]
    pub async fn reauthenticate(
        &self,
        ctx: &RequestContext,
        session: &SessionInfo,
        password: &Password,
    ) -> Result<ReauthResult, RecoveryError> {
        let Some((member, _)) = self.member(session).await? else {
            return Ok(ReauthResult::InvalidCredentials);
        };
        self.rate_limits.admit_signed_in(ctx, session).await?;
        match self.passwords.check_password(ctx, &member, password).await? {
            PasswordCheck::Right => {
                let until = ctx.now + self.settings.elevation;
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

    #[tracing::instrument(skip_all, fields(site = %session.owner.site, op = "sign_out"))]
    pub async fn sign_out(&self, session: &SessionInfo) -> Result<(), RecoveryError> {
        Ok(self
            .sessions
            .revoke_session(&session.owner, &session.token)
            .await?)
    }
}
