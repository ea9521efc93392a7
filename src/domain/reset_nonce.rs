//! The seed a handed-off reset request carries: the grant id, link token, code and mail key that
//! resolving it produces all derive from it (with SECRET_KEY), so resolving it twice makes the same
//! grant and the same mail — never a second one.
use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{
    grant::{GrantOwner, ResetCode, ResetToken},
    key_id::Purpose,
    keyed_hash::{KeyedHasher, hex},
    opaque_token,
};

/// 256 random bits, URL-safe base64. A secret: with SECRET_KEY it yields live tokens and codes.
#[derive(Clone, PartialEq, Eq)]
pub struct ResetNonce(String);

impl ResetNonce {
    pub fn generate() -> ResetNonce {
        ResetNonce(opaque_token::random())
    }

    /// Accepts what `generate` makes (a queued entry read back).
    pub fn parse(raw: &str) -> Option<ResetNonce> {
        opaque_token::well_formed(raw).then(|| ResetNonce(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn derive(&self, keys: &KeyedHasher, label: &str, owner: Option<&GrantOwner>) -> [u8; 32] {
        let tag = owner.map(GrantOwner::tag).unwrap_or_default();
        keys.mac(Purpose::Nonce, label, &[self.0.as_bytes(), tag.as_bytes()])
    }

    /// The link token of the owner's grant.
    pub fn token(&self, keys: &KeyedHasher, owner: &GrantOwner) -> ResetToken {
        let encoded = URL_SAFE_NO_PAD.encode(self.derive(keys, "reset-nonce-token", Some(owner)));
        ResetToken::parse(&encoded).expect("32 bytes encode to a well-formed token")
    }

    /// The 6-digit code of the owner's grant (64 bits reduced mod 10⁶: the bias is below 10⁻¹³).
    pub fn code(&self, keys: &KeyedHasher, owner: &GrantOwner) -> ResetCode {
        let bytes = self.derive(keys, "reset-nonce-code", Some(owner));
        let n = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")) % 1_000_000;
        ResetCode::parse(&format!("{n:06}")).expect("six digits")
    }

    /// The id of the owner's grant: the same on every resolution of this request.
    pub fn grant_id(&self, keys: &KeyedHasher, owner: &GrantOwner) -> String {
        hex(&self.derive(keys, "reset-nonce-grant", Some(owner)))[..32].to_owned()
    }

    /// The outbox key of this request's one mail: a second insert of it adds nothing.
    pub fn mail_key(&self, keys: &KeyedHasher) -> String {
        hex(&self.derive(keys, "reset-nonce-mail", None))[..40].to_owned()
    }
}

impl fmt::Debug for ResetNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetNonce([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{member::MemberId, site::SiteId};

    fn owner(member: &str) -> GrantOwner {
        GrantOwner {
            site: SiteId::parse("main").unwrap(),
            member: MemberId(member.into()),
        }
    }

    #[test]
    fn everything_derived_is_stable_per_nonce_and_owner() {
        let keys = KeyedHasher::new(b"k");
        let nonce = ResetNonce::generate();
        let again = ResetNonce::parse(nonce.expose()).unwrap();
        let a = owner("a");
        assert_eq!(nonce.token(&keys, &a), again.token(&keys, &a));
        assert_eq!(nonce.code(&keys, &a), again.code(&keys, &a));
        assert_eq!(nonce.grant_id(&keys, &a), again.grant_id(&keys, &a));
        assert_eq!(nonce.mail_key(&keys), again.mail_key(&keys));
        assert_eq!(nonce.code(&keys, &a).expose().len(), 6);
    }

    #[test]
    fn owners_nonces_and_keys_get_different_secrets() {
        let keys = KeyedHasher::new(b"k");
        let nonce = ResetNonce::generate();
        let other = ResetNonce::generate();
        let (a, b) = (owner("a"), owner("b"));
        assert_ne!(nonce.token(&keys, &a), nonce.token(&keys, &b));
        assert_ne!(nonce.grant_id(&keys, &a), nonce.grant_id(&keys, &b));
        assert_ne!(nonce.token(&keys, &a), other.token(&keys, &a));
        assert_ne!(nonce.mail_key(&keys), other.mail_key(&keys));
        assert_ne!(
            nonce.token(&keys, &a),
            nonce.token(&KeyedHasher::new(b"other"), &a)
        );
        assert!(!format!("{nonce:?}").contains(nonce.expose()));
        assert!(ResetNonce::parse("short").is_none());
    }
}
