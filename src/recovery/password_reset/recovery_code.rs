//! A saved recovery code as a reset credential: found by its keyed hash (bound to the login ID as
//! typed), counted against that login ID's wrong-code budget, spent by exactly one caller. Verifying
//! spends it for a reset-only token; resetting with it spends it when the password is set.

use super::{
    CredentialError, PasswordReset,
    credential::{OnRightCode, Proof, Resolved},
    owner_of,
};
use crate::{
    domain::{
        audit::{AuditEvent, AuditIdentifier, AuditKind, AuditOutcome},
        grant::{CodeAttempt, GrantProof, IdentifierKey},
        login_id::LoginId,
        member::Member,
        recovery_code::{RecoveryCode, RecoveryCodeHash},
    },
    recovery::{
        context::RequestContext, errors::RecoveryError, mail_templates::RecoveryCodeEvent,
        ports::RecoveryCodeUse, recovery_code_notice::recovery_code_notice,
    },
};

impl PasswordReset {
    /// The member behind a recovery code typed with `login_id`: the attempt is counted in the login
    /// ID's slot first, then one indexed read by the code's hash, the same work whoever the ID names;
    /// only a right code gives its count back and reaches the member.
    pub(super) async fn resolve_recovery_code(
        &self,
        ctx: &RequestContext,
        login_id: &LoginId,
        code: &RecoveryCode,
        on_right_code: OnRightCode<'_>,
    ) -> Result<Resolved, RecoveryError> {
        let identifier = IdentifierKey::login(&ctx.site, login_id);
        // Codes saved before a key rotation are hashed under their key: look under every key.
        let hashes: Vec<RecoveryCodeHash> = self
            .keys
            .candidates()
            .map(|keys| code.hash(keys, &identifier))
            .collect();
        let last = match self
            .tokens
            .reserve_code_attempt(&identifier, &self.settings.limits)
            .await?
        {
            CodeAttempt::TooMany => {
                self.note_wrong_code(ctx, &identifier).await;
                return Ok(Resolved::Invalid(CredentialError::TooManyAttempts));
            }
            CodeAttempt::Counted { last } => last,
        };
        let stored = self.recovery_codes.find_unspent(&hashes).await?;
        let found = match stored.filter(|s| s.site == ctx.site) {
            Some(stored) => self
                .members_by_id
                .find_by_id(&stored.member)
                .await?
                .map(|member| (member, stored.code)),
            None => None,
        };
        let Some((member, hash)) = found else {
            self.note_wrong_code(ctx, &identifier).await;
            return Ok(Resolved::Invalid(if last {
                CredentialError::TooManyAttempts
            } else {
                CredentialError::InvalidCode
            }));
        };
        // A right code is no failure, whatever follows.
        if let Err(e) = self.tokens.release_code_attempt(&identifier).await {
            tracing::warn!(error = %e, "could not give back a right recovery code's attempt");
        }
        if member.site_id != ctx.site || !member.can_reset_password() {
            return Ok(Resolved::Invalid(CredentialError::InvalidCode));
        }
        match on_right_code {
            OnRightCode::Check => Ok(Resolved::Found {
                expires_at: ctx.now,
                member: Box::new(member),
                proof: Proof::RecoveryCode(hash),
            }),
            OnRightCode::Exchange(replacement) => {
                if !self
                    .spend_recovery_code(ctx, &member, hash, AuditOutcome::Token)
                    .await?
                {
                    // Someone else used it first.
                    return Ok(Resolved::Invalid(CredentialError::InvalidCode));
                }
                self.tokens
                    .issue_grant(&owner_of(&member), replacement, None)
                    .await?;
                Ok(Resolved::Found {
                    expires_at: ctx.now + replacement.ttl,
                    member: Box::new(member),
                    proof: Proof::Grant(GrantProof::Token(replacement.token.clone())),
                })
            }
        }
    }

    /// Spends the member's recovery code — true for exactly one caller — and, in the same
    /// transaction, queues the "a recovery code was used" notice and writes RECOVERY_CODE_USED.
    /// `how` says what the code was exchanged for (a reset-only token, or the new password).
    pub(super) async fn spend_recovery_code(
        &self,
        ctx: &RequestContext,
        member: &Member,
        code: RecoveryCodeHash,
        how: AuditOutcome,
    ) -> Result<bool, RecoveryError> {
        // The count for the notice: this code is among those left until it is spent.
        let left = self
            .recovery_codes
            .codes_left(&member.id)
            .await?
            .saturating_sub(1);
        let spent = self
            .recovery_codes
            .spend(RecoveryCodeUse {
                code,
                notice: recovery_code_notice(ctx, member, RecoveryCodeEvent::Used { left }, ctx.now, None),
                audit: AuditEvent {
                    site: member.site_id.clone(),
                    member: Some(member.id.clone()),
                    kind: AuditKind::RecoveryCodeUsed,
                    outcome: how,
                    client: ctx.client_text(),
                    identifier: None,
                },
            })
            .await?;
        if spent {
            self.mail_wake.notify_one();
        }
        Ok(spent)
    }

    /// A wrong code (mailed or saved), recorded under the identifier's keyed hash so the owner
    /// sees it in their activity, whoever the identifier names.
    pub(super) async fn note_wrong_code(&self, ctx: &RequestContext, identifier: &IdentifierKey) {
        self.audit
            .note_attempt(
                ctx,
                AuditIdentifier {
                    hash: identifier.audit_key(self.keys.current()),
                    key: self.keys.current_id().clone(),
                },
                AuditKind::FailedAttempt,
                AuditOutcome::WrongCode,
            )
            .await;
    }
}
