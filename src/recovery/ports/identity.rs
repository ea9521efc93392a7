//! Checking a signed identity assertion's signature against the trusted keys: the JOSE part, kept
//! behind a port so the use cases test their rules with a fake.
use crate::domain::identity_assertion::{AssertionClaims, AssertionRefusal};

/// Verifies a compact JWS (header, key, signature) and hands back its claims unchecked: the
/// claims' rules (issuer, clock, purpose, site) are applied by the caller.
pub trait IdentityVerifier: Send + Sync {
    fn verified_claims(&self, compact: &str) -> Result<AssertionClaims, AssertionRefusal>;
}
