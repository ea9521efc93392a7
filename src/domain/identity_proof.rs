//! The two forms of proof of a just-passed identity check the identity paths take.
use super::{identity_assertion::SignedAssertion, portone_identity::PortoneVerificationId};

/// A proof of a just-passed identity check, as the caller presents it.
#[derive(Debug)]
pub enum IdentityProof {
    /// A compact JWS signed by the host's back end.
    Signed(SignedAssertion),
    /// The id of a PortOne V2 identity verification, which the service reads from PortOne.
    Portone(PortoneVerificationId),
}
