//! Asking for a reset: the e-mail paths hand the request off (resolve.rs mails it), the identity
//! path returns a direct token for an account whose identity check just passed.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{PasswordReset, Refusal, owner_of, refusal_for};
use crate::{
    domain::{
        audit::{AuditKind, AuditOutcome},
        email::Email,
        grant::{GrantPurpose, NewGrant, ResetToken},
        identity_assertion::AssertionPurpose,
        identity_proof::IdentityProof,
        keyed_hash::Ci,
        login_id::LoginId,
        masking::mask_email,
        member::{Member, MemberStatus, MemberType},
        reset_nonce::ResetNonce,
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        identity_keys::move_to_current_key,
        ports::{HandedOffReset, ResetTarget},
        rate_limits::{Operation, target},
    },
};

pub enum ResetRequest {
    /// Mail every password account of this address.
    Email(Email),
    /// Mail this account if the address is its own.
    Account { login_id: LoginId, email: Email },
    /// A raw `ci` from the caller (development only: `IDENTITY_RAW_CI`).
    Identity { login_id: LoginId, ci: Ci },
    /// A proof of a just-passed identity check (signed assertion or PortOne id), for this login ID.
    VerifiedIdentity { login_id: LoginId, proof: IdentityProof },
}

#[derive(Debug)]
pub enum IssueResult {
    /// Always the same for the e-mail paths, whether or not anything was sent.
    Mailed {
        masked_destination: String,
        expires_in: Duration,
    },
    Direct {
        token: ResetToken,
        expires_at: DateTime<Utc>,
        member_type: MemberType,
    },
    Refused(Refusal),
}

impl PasswordReset {
    /// Starts a reset after the issue rate limits: on the e-mail paths one durable hand-off and the
    /// same answer whatever the address (a resolver mails later); on the identity path a direct
    /// token. Audit writes never fail a request: the event is logged instead.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "issue_reset"))]
    pub async fn issue(
        &self,
        ctx: &RequestContext,
        request: ResetRequest,
    ) -> Result<IssueResult, RecoveryError> {
        let about = match &request {
            ResetRequest::Email(email) => target::email(&ctx.site, email),
            ResetRequest::Account { login_id, .. }
            | ResetRequest::Identity { login_id, .. }
            | ResetRequest::VerifiedIdentity { login_id, .. } => target::login(&ctx.site, login_id),
        };
        let admission = self
            .rate_limits
            .admit(Operation::IssueResetToken, ctx, Some(about))
            .await?;
        let started = tokio::time::Instant::now();
        let target = match request {
            ResetRequest::Email(email) => ResetTarget::Email(email),
            ResetRequest::Account { login_id, email } => ResetTarget::Account { login_id, email },
            ResetRequest::Identity { login_id, ci } => {
                if self.proofs.allow_raw_ci(ctx).await.is_err() {
                    return Ok(IssueResult::Refused(Refusal::IdentityUnverified));
                }
                return self.issue_direct(ctx, &login_id, &ci).await;
            }
            ResetRequest::VerifiedIdentity { login_id, proof } => {
                let proof = self
                    .proofs
                    .verify(ctx, &proof, AssertionPurpose::ResetPassword)
                    .await?;
                return match proof {
                    // From here on the same path as a raw ci: no oracle between the two.
                    Ok(identity) => self.issue_direct(ctx, &login_id, &identity.ci).await,
                    Err(_) => Ok(IssueResult::Refused(Refusal::IdentityUnverified)),
                };
            }
        };
        let masked_destination = mask_email(target.email().as_str());
        let handed_off = HandedOffReset {
            site: ctx.site.clone(),
            lang: ctx.lang,
            client: ctx.client_text(),
            target,
            nonce: ResetNonce::generate(),
            admission,
        };
        // The same one write for every address: nothing here depends on whether it has accounts.
        self.queue.hand_off(&handed_off).await.map_err(|e| {
            tracing::error!(error = %e, "reset request not handed off");
            RecoveryError::Unavailable(e.to_string())
        })?;
        self.resolve_wake.notify_one();
        if !self.settings.reply_floor.is_zero() {
            tokio::time::sleep_until(started + self.settings.reply_floor).await;
        }
        Ok(IssueResult::Mailed {
            masked_destination,
            expires_in: self.settings.email_ttl,
        })
    }

    async fn issue_direct(
        &self,
        ctx: &RequestContext,
        login_id: &LoginId,
        ci: &Ci,
    ) -> Result<IssueResult, RecoveryError> {
        let member = self.members.find_by_login_id(&ctx.site, login_id).await?;
        let presented = self.keys.identity_hashes(ci);
        let matches = |m: &Member| m.ci_hash.as_ref().is_some_and(|own| presented.matches(own));
        let Some(member) = member.filter(|m| m.status != MemberStatus::Withdrawn && matches(m)) else {
            self.audit
                .note(
                    ctx,
                    None,
                    AuditKind::FailedAttempt,
                    AuditOutcome::IdentityMismatch,
                )
                .await;
            return Ok(IssueResult::Refused(Refusal::IdentityMismatch));
        };
        // The proof was accepted and names this member: their identity moves to the current key.
        move_to_current_key(self.identities.as_ref(), &member, &presented).await;
        if let Some(refusal) = refusal_for(&member) {
            self.audit
                .note(
                    ctx,
                    Some(&member),
                    AuditKind::ResetRequested,
                    AuditOutcome::Refused,
                )
                .await;
            return Ok(IssueResult::Refused(refusal));
        }
        let token = ResetToken::generate();
        let grant = NewGrant::new(GrantPurpose::Direct, token.hash(), None, self.settings.direct_ttl);
        self.tokens.issue_grant(&owner_of(&member), &grant, None).await?;
        self.audit
            .note(
                ctx,
                Some(&member),
                AuditKind::ResetRequested,
                AuditOutcome::Direct,
            )
            .await;
        Ok(IssueResult::Direct {
            token,
            expires_at: ctx.now + self.settings.direct_ttl,
            member_type: member.member_type,
        })
    }
}
