//! Finding what a credential proves (the member and grant behind a token or a code) once, for
//! verifying and resetting. Wrong codes, mailed or recovery, count per identifier as typed, account
//! or not, never per member, so no count tells an account apart; they never burn a link.
use chrono::{DateTime, Utc};

use super::{CodeIdentifier, Credential, CredentialError, PasswordReset};
use crate::{
    domain::{
        audit::{AuditKind, AuditOutcome},
        grant::{
            CodeHash, CodeLookup, GrantInfo, GrantProof, GrantPurpose, IdentifierKey, NewGrant, ResetToken,
        },
        keyed_hash::KeyedHasher,
        masking::mask_login_id,
        member::Member,
        recovery_code::RecoveryCodeHash,
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
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
        proof: Proof,
        expires_at: DateTime<Utc>,
    },
    Invalid(CredentialError),
}

/// What a reset spends: the member's grant, or one of their saved recovery codes.
pub(super) enum Proof {
    Grant(GrantProof),
    RecoveryCode(RecoveryCodeHash),
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
            }
            | Credential::RecoveryCode { login_id: id, .. } => Some(target::login(&ctx.site, id)),
        };
        self.rate_limits
            .admit(Operation::VerifyResetToken, ctx, about)
            .await?;
        Ok(())
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
        let member = self.members_by_id.find_by_id(&owner.member).await?;
        Ok(member.filter(|m| m.site_id == ctx.site).map(|m| (m, info)))
    }

    /// The member and proof behind a credential. A code is judged first in the identifier's slot
    /// (`TokenStore::judge_code`): a wrong one costs one failure there and nothing else, whoever the
    /// identifier names; only a found code reaches the owner, to be handled as `on_right_code` says.
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
                        proof: Proof::Grant(GrantProof::Token(token.hash())),
                        expires_at: info.expires_at,
                    },
                    None => Resolved::Invalid(CredentialError::InvalidToken),
                });
            }
            Credential::Code { by, code } => (by, code),
            Credential::RecoveryCode { login_id, code } => {
                return self
                    .resolve_recovery_code(ctx, login_id, code, on_right_code)
                    .await;
            }
        };
        let identifier = match by {
            CodeIdentifier::Email(email) => IdentifierKey::email(&ctx.site, email),
            CodeIdentifier::LoginId(id) => IdentifierKey::login(&ctx.site, id),
        };
        // A code mailed before a key rotation is indexed under its key: look under every key.
        let candidates: Vec<&KeyedHasher> = self.keys.candidates().collect();
        let index: Vec<CodeHash> = candidates
            .iter()
            .map(|keys| code.index_hash(keys, &identifier))
            .collect();
        let lookup = self
            .tokens
            .judge_code(&identifier, &index, &self.settings.limits)
            .await?;
        let (owner, grant_id, keys) = match lookup {
            CodeLookup::Found {
                owner,
                grant_id,
                matched,
            } => (owner, grant_id, candidates[matched.min(candidates.len() - 1)]),
            refused => {
                self.note_wrong_code(ctx, &identifier).await;
                return Ok(Resolved::Invalid(if refused == CodeLookup::TooMany {
                    CredentialError::TooManyAttempts
                } else {
                    CredentialError::InvalidCode
                }));
            }
        };
        // The code was mailed for this identifier; its grant may since have been replaced or
        // spent (a stale entry), or its account closed: then it is simply no longer valid.
        let member = self
            .members_by_id
            .find_by_id(&owner.member)
            .await?
            .filter(|m| owner.site == ctx.site && m.site_id == ctx.site && m.can_reset_password());
        let Some(member) = member else {
            return Ok(Resolved::Invalid(CredentialError::InvalidCode));
        };
        // The grant's code was hashed under the key its index entry was found under.
        let hash = code.hash(keys, &owner);
        let live = match on_right_code {
            OnRightCode::Check => self.tokens.check_code(&owner, &hash, &grant_id).await?,
            OnRightCode::Exchange(replacement) => {
                self.tokens
                    .exchange_code(&owner, &hash, &grant_id, replacement)
                    .await?
            }
        };
        Ok(match live {
            Some(info) => Resolved::Found {
                member: Box::new(member),
                proof: Proof::Grant(GrantProof::Code(hash)),
                expires_at: info.expires_at,
            },
            None => Resolved::Invalid(CredentialError::InvalidCode),
        })
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
        let by_recovery_code = matches!(credential, Credential::RecoveryCode { .. });
        match resolved {
            Resolved::Found {
                member, expires_at, ..
            } => {
                let how = if by_token {
                    AuditOutcome::Token
                } else if by_recovery_code {
                    AuditOutcome::RecoveryCode
                } else {
                    AuditOutcome::Code
                };
                self.audit
                    .note(ctx, Some(&member), AuditKind::ResetVerified, how)
                    .await;
                Ok(VerifyResult::Valid {
                    token: match credential {
                        Credential::Token(token) => token,
                        Credential::Code { .. } | Credential::RecoveryCode { .. } => exchanged,
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
