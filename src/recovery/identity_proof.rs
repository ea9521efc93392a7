//! The proof behind the identity paths: a signed assertion (signature through the verifier port,
//! claims by the domain rules at `ctx.now`) or a PortOne verification id (read from PortOne, its
//! rules at `ctx.now`), then spent once across instances; or, in development only, a raw `ci`. Every refusal is audited alike, without the assertion or the ci, and before
//! any account is looked at, so it says nothing about accounts.
use std::sync::Arc;

use crate::{
    domain::{
        audit::{AuditKind, AuditOutcome},
        identity_assertion::{AssertionPurpose, AssertionRefusal, AssertionRules, VerifiedIdentity},
        identity_proof::IdentityProof,
    },
    recovery::{
        context::RequestContext,
        errors::RecoveryError,
        ports::{AuditLog, IdentityVerifier, PortoneAnswer, PortoneVerifications, TokenStore},
    },
};

/// The proof was refused (`IDENTITY_UNVERIFIED`); why is logged, never answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unverified;

/// What the service trusts as proof, from settings: the assertion keys (none: every assertion is
/// refused), the claim rules, PortOne (none: every PortOne id is refused), and whether raw `ci`
/// values are allowed (development only).
#[derive(Clone)]
pub struct IdentityTrust {
    pub verifier: Option<Arc<dyn IdentityVerifier>>,
    pub portone: Option<Arc<dyn PortoneVerifications>>,
    pub rules: AssertionRules,
    pub raw_ci: bool,
}

#[derive(Clone)]
pub struct IdentityProofs {
    trust: IdentityTrust,
    tokens: Arc<dyn TokenStore>,
    audit: Arc<dyn AuditLog>,
}

impl IdentityProofs {
    pub fn new(trust: IdentityTrust, tokens: Arc<dyn TokenStore>, audit: Arc<dyn AuditLog>) -> Self {
        IdentityProofs { trust, tokens, audit }
    }

    /// The identity a proof shows for `purpose`, spending it; `Unverified` for any refusal. PortOne
    /// being unreachable is an error (`SERVICE_UNAVAILABLE`), with nothing spent.
    pub async fn verify(
        &self,
        ctx: &RequestContext,
        proof: &IdentityProof,
        purpose: AssertionPurpose,
    ) -> Result<Result<VerifiedIdentity, Unverified>, RecoveryError> {
        let checked = match proof {
            IdentityProof::Signed(assertion) => match &self.trust.verifier {
                None => Err(AssertionRefusal::NotConfigured),
                Some(verifier) => verifier
                    .verified_claims(assertion.expose())
                    .and_then(|claims| claims.check(&self.trust.rules, ctx.now, purpose, &ctx.site)),
            },
            // PortOne's result carries no purpose: one id serves one call, whichever it is.
            IdentityProof::Portone(id) => match &self.trust.portone {
                None => Err(AssertionRefusal::NotConfigured),
                Some(portone) => match portone.read(id).await? {
                    PortoneAnswer::Found(verification) => verification.check(id, ctx.now),
                    PortoneAnswer::Unknown => Err(AssertionRefusal::NotVerified),
                },
            },
        };
        let refusal = match checked {
            Ok(identity) => {
                // Spent last: a refused assertion is not burnt.
                let lasts = (identity.usable_until - ctx.now)
                    .to_std()
                    .unwrap_or_default()
                    .max(std::time::Duration::from_secs(1));
                if self.tokens.spend_once(&identity.once_key(), lasts).await? {
                    return Ok(Ok(identity));
                }
                AssertionRefusal::Replayed
            }
            Err(refusal) => refusal,
        };
        Ok(Err(self.refuse(ctx, refusal).await))
    }

    /// Whether a raw `ci` may be used; refused (and audited) unless development allows it.
    pub async fn allow_raw_ci(&self, ctx: &RequestContext) -> Result<(), Unverified> {
        match self.trust.raw_ci {
            true => Ok(()),
            false => Err(self.refuse(ctx, AssertionRefusal::RawCiOff).await),
        }
    }

    async fn refuse(&self, ctx: &RequestContext, reason: AssertionRefusal) -> Unverified {
        tracing::info!(site = %ctx.site, reason = %reason, "identity proof refused");
        self.audit
            .note(
                ctx,
                None,
                AuditKind::FailedAttempt,
                AuditOutcome::IdentityUnverified,
            )
            .await;
        Unverified
    }
}
