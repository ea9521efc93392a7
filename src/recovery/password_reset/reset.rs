//! Resetting the password with a credential: judged by the site's policy, the grant spent once,
//! sessions revoked, and the hash, history, notice and audit written in one transaction.

use super::{
    Credential, CredentialError, PasswordReset, Refusal,
    credential::{OnRightCode, Proof, Resolved},
    owner_of, refusal_for,
};
use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, AuditOutcome},
        member::Member,
        password::Password,
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        new_password::{Judgement, PasswordProblem},
        password_check::member_throttle_key,
        ports::PasswordChange,
    },
};

#[derive(Debug)]
pub enum ResetOutcome {
    /// The member after the reset, with their (remaining) number of sessions.
    Done(Box<Member>, u32),
    Credential(CredentialError),
    Refused(Refusal),
    /// The new password is refused; the grant stays usable.
    Rejected(Vec<PasswordProblem>),
}

impl PasswordReset {
    /// Sets a new password with a token or a code. A refused password leaves the grant usable;
    /// on success the grant is spent (once, even under concurrent use), and the hash, history,
    /// notice mail and audit event are written in one transaction.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "reset_password"))]
    pub async fn reset(
        &self,
        ctx: &RequestContext,
        credential: Credential,
        new_password: &Password,
        confirmation: Option<&Password>,
    ) -> Result<ResetOutcome, RecoveryError> {
        // Presenting a credential here is a guess like verifying one: same budget.
        self.admit_guess(ctx, &credential).await?;
        let (member, proof) = match self.resolve(ctx, &credential, OnRightCode::Check).await? {
            Resolved::Found { member, proof, .. } => (*member, proof),
            Resolved::Invalid(e) => return Ok(ResetOutcome::Credential(e)),
        };
        if let Some(refusal) = refusal_for(&member) {
            return Ok(ResetOutcome::Refused(refusal));
        }
        let (accepted, policy) = match self
            .new_passwords
            .judge(&member, new_password, confirmation)
            .await?
        {
            Judgement::Accepted(accepted, policy) => (accepted, policy),
            Judgement::Rejected(problems) => return Ok(ResetOutcome::Rejected(problems)),
        };
        let owner = owner_of(&member);
        let (spent, by_recovery_code) = match proof {
            Proof::Grant(proof) => (self.tokens.spend_grant(&owner, &proof).await?, false),
            Proof::RecoveryCode(code) => (
                self.spend_recovery_code(ctx, &member, code, AuditOutcome::Ok)
                    .await?,
                true,
            ),
        };
        if !spent {
            // Someone else used it first.
            return Ok(ResetOutcome::Credential(match credential {
                Credential::Token(_) => CredentialError::InvalidToken,
                Credential::Code { .. } | Credential::RecoveryCode { .. } => CredentialError::InvalidCode,
            }));
        }
        if by_recovery_code {
            // A mailed link still out there is no longer needed, and must not outlive the reset.
            self.tokens.revoke_grants(&owner).await?;
        }
        // Hashed only by the one caller that spent the grant: a token replayed forty times in
        // parallel costs one hash, not forty.
        let new_hash = self.hasher.hash(accepted.password()).await?;
        // Sessions die before the new password exists: whatever fails later, no session opened
        // with the old password outlives the reset.
        self.sessions.revoke_sessions(&owner, None).await?;
        let now = ctx.now;
        let (notice, report) = self.notices.notice(ctx, &member, now);
        let updated = self
            .passwords
            .apply_password_change(PasswordChange {
                member: member.id.clone(),
                new_hash: Some(new_hash),
                // A reset wins: it writes whatever the hash is now (a change in flight that
                // verified the old one then finds it gone).
                expected_hash: None,
                changed_at: now,
                history_size: policy.history_size,
                notice: Some(notice),
                report: Some(report),
                audit: AuditEvent {
                    site: ctx.site.clone(),
                    member: Some(member.id.clone()),
                    kind: AuditKind::PasswordReset,
                    outcome: AuditOutcome::Ok,
                    client: ctx.client_text(),
                    identifier: None,
                },
            })
            .await?
            .ok_or_else(|| RecoveryError::Internal("an unconditional reset write matched nothing".into()))?;
        // The password is changed: what follows is tidying up and must not turn the answer into
        // an error. Failures are logged.
        // (The grant itself died when it was spent: one grant per member.)
        let after = [
            // The first sign-in after a reset may change the password without the current one.
            (
                "mark the reset",
                self.sessions
                    .mark_reset(&owner, self.settings.reset_elevation_window)
                    .await,
            ),
            // A throttled sign-in must never keep the owner out after recovering.
            (
                "clear the sign-in throttle",
                self.limiter.clear(&member_throttle_key(&member)).await,
            ),
        ];
        for (step, result) in after {
            if let Err(e) = result {
                tracing::warn!(member = %member.id.0, error = %e, "after a reset, could not {step}");
            }
        }
        self.mail_wake.notify_one();
        let active_sessions = self.sessions.count_sessions(&owner).await.unwrap_or(0);
        Ok(ResetOutcome::Done(Box::new(updated), active_sessions))
    }
}
