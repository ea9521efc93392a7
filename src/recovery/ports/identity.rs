//! The identity proofs' outside parts, behind ports so the use cases test their rules with fakes:
//! a signed assertion's signature against the trusted keys (JOSE), and PortOne's API.
use crate::{
    domain::{
        identity_assertion::{AssertionClaims, AssertionRefusal},
        portone_identity::{PortoneVerification, PortoneVerificationId},
    },
    recovery::ports::errors::StoreError,
};

/// Verifies a compact JWS (header, key, signature) and hands back its claims unchecked: the
/// claims' rules (issuer, clock, purpose, site) are applied by the caller.
pub trait IdentityVerifier: Send + Sync {
    fn verified_claims(&self, compact: &str) -> Result<AssertionClaims, AssertionRefusal>;
}

/// What PortOne answered about a verification id.
pub enum PortoneAnswer {
    /// The verification, as read for the configured store (its rules are checked by the caller).
    Found(PortoneVerification),
    /// PortOne does not know the id for this store (`IDENTITY_VERIFICATION_NOT_FOUND`, or an id it
    /// calls invalid): the proof is refused.
    Unknown,
}

/// Reads identity verifications from PortOne's API with the service's own secret. A timeout, a
/// failing PortOne or a refused secret is `StoreError::Unavailable`: nothing is spent and the
/// caller may try again.
#[async_trait::async_trait]
pub trait PortoneVerifications: Send + Sync {
    async fn read(&self, id: &PortoneVerificationId) -> Result<PortoneAnswer, StoreError>;
}
