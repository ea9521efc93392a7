//! Checking a member's current password, throttled per login ID and per client: shared by
//! signing in, re-authenticating and changing the password with the current one.
use std::{sync::Arc, time::Duration};

use crate::{
    domain::{
        audit::{AuditKind, AuditOutcome},
        device::DeviceInfo,
        login_id::LoginId,
        member::Member,
        password::Password,
        site::SiteId,
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        ports::{AuditLog, Limiter, PasswordHasher, PasswordStore},
    },
};

/// Longest password worth verifying; anything longer is wrong without hashing it.
const MAX_PASSWORD_BYTES: usize = 1024;

/// How many failed password checks a login ID, and a client, may have within a window.
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    pub member_failures: u32,
    pub client_failures: u32,
    pub failure_window: Duration,
}

/// The throttle key of a login ID on a site: the same for accounts that exist and that do not.
pub fn signin_throttle_key(site: &SiteId, login_id: &LoginId) -> String {
    format!("signin:id:{site}:{}", login_id.normalized())
}

/// The throttle key of a member's device (`X-Device-Token`): its wrong passwords count there.
pub fn device_throttle_key(device: &DeviceInfo) -> String {
    format!("signin:{}", device.limit_subject())
}

/// The throttle key of a member's own login ID.
pub fn member_throttle_key(member: &Member) -> String {
    signin_throttle_key(&member.site_id, &member.login_id)
}

/// The outcome of checking a signed-in member's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Right,
    Wrong,
    Throttled { retry_after: Duration },
}

#[derive(Clone)]
pub struct PasswordChecks {
    pub(crate) passwords: Arc<dyn PasswordStore>,
    pub(crate) limiter: Arc<dyn Limiter>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) audit: Arc<dyn AuditLog>,
    pub(crate) settings: ThrottleSettings,
}

impl PasswordChecks {
    fn client_key(ctx: &RequestContext) -> Option<String> {
        // IPv6 clients count per /64, like the rate limits.
        ctx.client_subject()
            .map(|subject| format!("signin:client:{subject}"))
    }

    /// Refuses the attempt while the client has too many recent failures — without counting it
    /// against the login ID, so a client past its own limit spends nothing of the owner's — and
    /// otherwise counts it against the login ID *before* any verification (so a burst of
    /// parallel guesses cannot all pass a check made before the first failure is counted),
    /// refusing it while the login ID has too many.
    pub async fn take_attempt(
        &self,
        ctx: &RequestContext,
        id_key: &str,
    ) -> Result<Option<Duration>, RecoveryError> {
        if let Some(retry_after) = self.client_throttled(ctx).await? {
            return Ok(Some(retry_after));
        }
        self.count_attempt(id_key).await
    }

    /// How long the client must wait, while it has too many recent failures; counts nothing.
    pub async fn client_throttled(&self, ctx: &RequestContext) -> Result<Option<Duration>, RecoveryError> {
        let Some(key) = Self::client_key(ctx) else {
            return Ok(None);
        };
        let by_client = self.limiter.peek(&key, self.settings.client_failures).await?;
        Ok((!by_client.allowed).then_some(by_client.retry_after))
    }

    /// Counts an attempt against the login ID; how long to wait when it has too many failures.
    pub async fn count_attempt(&self, id_key: &str) -> Result<Option<Duration>, RecoveryError> {
        let window = self.settings.failure_window;
        let by_id = self
            .limiter
            .hit(id_key, self.settings.member_failures, window)
            .await?;
        if !by_id.allowed {
            return Ok(Some(by_id.retry_after));
        }
        Ok(None)
    }

    /// A failed attempt also counts against the client address.
    pub async fn count_client_failure(&self, ctx: &RequestContext) -> Result<(), RecoveryError> {
        if let Some(key) = Self::client_key(ctx) {
            self.limiter
                .hit(&key, self.settings.client_failures, self.settings.failure_window)
                .await?;
        }
        Ok(())
    }

    /// Forgets the failures counted against a login ID (after a success or a reset).
    pub async fn clear(&self, id_key: &str) -> Result<(), RecoveryError> {
        Ok(self.limiter.clear(id_key).await?)
    }

    /// Verifies `password` against the member's hash (or a dummy one), upgrading a weak or
    /// legacy hash on success.
    pub async fn verify(&self, member: Option<&Member>, password: &Password) -> Result<bool, RecoveryError> {
        let hash = member.and_then(|m| m.password_hash.as_ref());
        let (Some(member), Some(hash), true) = (member, hash, password.len() <= MAX_PASSWORD_BYTES) else {
            // Unknown account, social account or absurd input: spend the same time anyway.
            self.hasher.verify_dummy(password).await;
            return Ok(false);
        };
        let normalised = password.normalized();
        let verdict = match self.hasher.verify(&normalised, hash).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(member = %member.id.0, error = %e, "stored hash not verifiable");
                return Ok(false);
            }
        };
        if verdict.matches && verdict.needs_rehash {
            match self.hasher.hash(&normalised).await {
                Ok(stronger) => self.passwords.upgrade_hash(&member.id, hash, &stronger).await?,
                Err(e) => tracing::warn!(error = %e, "hash upgrade skipped"),
            }
        }
        Ok(verdict.matches)
    }

    /// Checks the signed-in member's password, throttled and counted like a sign-in.
    pub async fn check_password(
        &self,
        ctx: &RequestContext,
        member: &Member,
        password: &Password,
    ) -> Result<PasswordCheck, RecoveryError> {
        let id_key = member_throttle_key(member);
        if let Some(retry_after) = self.take_attempt(ctx, &id_key).await? {
            return Ok(PasswordCheck::Throttled { retry_after });
        }
        if self.verify(Some(member), password).await? {
            self.clear(&id_key).await?;
            Ok(PasswordCheck::Right)
        } else {
            self.count_client_failure(ctx).await?;
            self.audit
                .note(
                    ctx,
                    Some(member),
                    AuditKind::FailedAttempt,
                    AuditOutcome::WrongPassword,
                )
                .await;
            Ok(PasswordCheck::Wrong)
        }
    }
}
