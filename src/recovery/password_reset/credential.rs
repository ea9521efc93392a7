//! Finding what a credential proves — the member and the grant behind a token or a code — once,
//! for both verifying and resetting; and verifying, which exchanges a right code for a token.
use chrono::{DateTime, Utc};

use super::{CodeIdentifier, Credential, CredentialError, PasswordReset, owner_of};
use crate::{
    domain::{
        grant::{CodeCheck, GrantInfo, GrantProof, GrantPurpose, NewGrant, ResetCode, ResetToken},
        masking::mask_login_id,
        member::Member,
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        ports::{AuditKind, AuditOutcome},
        rate_limits::{Operation, target},
    },
};

#[derive(Debug)]
pub enum VerifyResult {
    Valid {
        /// The token that resets the password: the one presented, or a reset-only one given for a code.
        token: ResetToken,
        expires_at: DateTime<Utc>,
        masked_login_id: String,
    },
    Invalid(CredentialError),
}

/// What a credential leads to, nothing spent (but a right code may have been exchanged).
pub(super) enum Resolved {
    Found {
        member: Box<Member>,
        proof: GrantProof,
        expires_at: DateTime<Utc>,
    },
    Invalid(CredentialError),
}

/// What to do with a right code: only check it (reset), or exchange it for `replacement` in the
/// same atomic step (verify).
#[derive(Clone, Copy)]
pub(super) enum OnRightCode<'a> {
    Check,
    Exchange(&'a NewGrant),
}

impl PasswordReset {
    /// Counts a guess at a credential: verifying and resetting spend the same budget, per client
    /// and per address or login ID (a token stands for itself: per client only).
    pub(super) async fn admit_guess(
        &self,
        ctx: &RequestContext,
        credential: &Credential,
    ) -> Result<(), RecoveryError> {
        let about = match credential {
            Credential::Token(_) => None,
            Credential::Code {
                by: CodeIdentifier::Email(email),
                ..
            } => Some(target::email(&ctx.site, email)),
            Credential::Code {
                by: CodeIdentifier::LoginId(id),
                ..
            } => Some(target::login(&ctx.site, id)),
        };
        self.rate_limits
            .admit(Operation::VerifyResetToken, ctx, about)
            .await
    }

    /// The member and live grant a token belongs to, on this site.
    async fn by_token(
        &self,
        ctx: &RequestContext,
        token: &ResetToken,
    ) -> Result<Option<(Member, GrantInfo)>, RecoveryError> {
        let hash = token.hash();
        let Some(owner) = self.tokens.owner_of_token(&hash).await? else {
            return Ok(None);
        };
        if owner.site != ctx.site {
            return Ok(None);
        }
        let Some(info) = self.tokens.check_token(&owner, &hash).await? else {
            return Ok(None);
        };
        let member = self.members.find_by_id(&owner.member).await?;
        Ok(member.filter(|m| m.site_id == ctx.site).map(|m| (m, info)))
    }

    /// The accounts a code is judged against: when one address owns several, the one whose grant
    /// the code matches (so a right code for B is not a wrong one for A); when none matches,
    /// all of them, and each counts the miss.
    async fn code_candidates(
        &self,
        ctx: &RequestContext,
        by: &CodeIdentifier,
        code: &ResetCode,
    ) -> Result<Vec<Member>, RecoveryError> {
        let members = match by {
            CodeIdentifier::Email(email) => self.members.find_by_email(&ctx.site, email).await?,
            CodeIdentifier::LoginId(id) => self
                .members
                .find_by_login_id(&ctx.site, id)
                .await?
                .into_iter()
                .collect(),
        };
        let candidates: Vec<Member> = members.into_iter().filter(Member::can_reset_password).collect();
        if candidates.len() > 1 {
            for member in &candidates {
                let owner = owner_of(member);
                if self
                    .tokens
                    .code_matches(&owner, &code.hash(&self.keys, &owner))
                    .await?
                {
                    return Ok(vec![member.clone()]);
                }
            }
        }
        Ok(candidates)
    }

    /// The member and proof behind a credential. A wrong code counts against every candidate
    /// account (and is audited); a right one is checked or exchanged as `on_right_code` says.
    pub(super) async fn resolve(
        &self,
        ctx: &RequestContext,
        credential: &Credential,
        on_right_code: OnRightCode<'_>,
    ) -> Result<Resolved, RecoveryError> {
        let (by, code) = match credential {
            Credential::Token(token) => {
                return Ok(match self.by_token(ctx, token).await? {
                    Some((member, info)) => Resolved::Found {
                        member: Box::new(member),
                        proof: GrantProof::Token(token.hash()),
                        expires_at: info.expires_at,
                    },
                    None => Resolved::Invalid(CredentialError::InvalidToken),
                });
            }
            Credential::Code { by, code } => (by, code),
        };
        let mut too_many = false;
        for member in self.code_candidates(ctx, by, code).await? {
            let owner = owner_of(&member);
            let hash = code.hash(&self.keys, &owner);
            let limits = &self.settings.limits;
            let check = match on_right_code {
                OnRightCode::Check => self.tokens.check_code(&owner, &hash, limits).await?,
                OnRightCode::Exchange(replacement) => {
                    self.tokens
                        .exchange_code(&owner, &hash, replacement, limits)
                        .await?
                }
            };
            match check {
                CodeCheck::Valid(info) => {
                    return Ok(Resolved::Found {
                        member: Box::new(member),
                        proof: GrantProof::Code(hash),
                        expires_at: info.expires_at,
                    });
                }
                CodeCheck::Wrong => {}
                CodeCheck::TooMany => too_many = true,
            }
            self.audit
                .note(
                    ctx,
                    Some(&member),
                    AuditKind::FailedAttempt,
                    AuditOutcome::WrongCode,
                )
                .await;
        }
        Ok(Resolved::Invalid(if too_many {
            CredentialError::TooManyAttempts
        } else {
            CredentialError::InvalidCode
        }))
    }

    /// Checks a credential without spending it. A right code is exchanged for a reset-only token.
    #[tracing::instrument(skip_all, fields(site = %ctx.site, op = "verify_reset"))]
    pub async fn verify(
        &self,
        ctx: &RequestContext,
        credential: Credential,
    ) -> Result<VerifyResult, RecoveryError> {
        self.admit_guess(ctx, &credential).await?;
        let exchanged = ResetToken::generate();
        let replacement = NewGrant::new(
            GrantPurpose::Exchanged,
            exchanged.hash(),
            None,
            self.settings.email_ttl,
        );
        let resolved = self
            .resolve(ctx, &credential, OnRightCode::Exchange(&replacement))
            .await?;
        let by_token = matches!(credential, Credential::Token(_));
        match resolved {
            Resolved::Found {
                member, expires_at, ..
            } => {
                let how = if by_token {
                    AuditOutcome::Token
                } else {
                    AuditOutcome::Code
                };
                self.audit
                    .note(ctx, Some(&member), AuditKind::ResetVerified, how)
                    .await;
                Ok(VerifyResult::Valid {
                    token: match credential {
                        Credential::Token(token) => token,
                        Credential::Code { .. } => exchanged,
                    },
                    expires_at,
                    masked_login_id: mask_login_id(member.login_id.as_str()),
                })
            }
            Resolved::Invalid(e) => {
                if by_token {
                    self.audit
                        .note(ctx, None, AuditKind::FailedAttempt, AuditOutcome::InvalidToken)
                        .await;
                }
                Ok(VerifyResult::Invalid(e))
            }
        }
    }
}
