//! Keyed hashes under one key of the ring (HMAC-SHA256 under a per-purpose subkey, one label per
//! use): the identity value `ci`, which is only ever stored hashed, codes, identifiers and nonces.
use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::key_id::{KeyId, Purpose};

/// A `ci` as received from a client. Never printed.
pub struct Ci(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CiError {
    #[error("the identity value is empty")]
    Empty,
    #[error("the identity value is too long")]
    TooLong,
}

impl Ci {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Ci, CiError> {
        let raw = raw.trim();
        if raw.is_empty() {
            Err(CiError::Empty)
        } else if raw.len() > Self::MAX_LEN {
            Err(CiError::TooLong)
        } else {
            Ok(Ci(raw.to_owned()))
        }
    }
}

impl fmt::Debug for Ci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ci([redacted])")
    }
}

/// The keyed hash of a `ci`, hex encoded: what the database holds and is searched by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiHash(pub String);

/// A member's stored identity hash and the key it was made under (none: pre-keyring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCiHash {
    pub hash: CiHash,
    pub key: Option<KeyId>,
}

/// Computes keyed hashes under one key of the ring: HMAC-SHA256 under the purpose's HKDF-SHA256
/// subkey, or, for rows stored before the keyring, the pre-keyring derivation (HMAC under the
/// whole secret, the purpose ignored). Labels keep the uses of one purpose apart.
#[derive(Clone)]
pub struct KeyedHasher {
    id: Option<KeyId>,
    derivation: Derivation,
}

#[derive(Clone)]
enum Derivation {
    PreKeyring(Vec<u8>),
    Subkeys([[u8; 32]; Purpose::ALL.len()]),
}

/// The HKDF salt: fixed, so a key's subkeys depend on its secret and the purpose alone.
const HKDF_SALT: &[u8] = b"account-recovery keyring";

impl KeyedHasher {
    /// A ring key: one subkey per purpose, `HKDF-SHA256(salt, secret, info = purpose)`.
    pub fn derived(id: KeyId, secret: &[u8]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let mut subkeys = [[0u8; 32]; Purpose::ALL.len()];
        for purpose in Purpose::ALL {
            hkdf.expand(purpose.info().as_bytes(), &mut subkeys[purpose.index()])
                .expect("32 bytes is a valid HKDF-SHA256 length");
        }
        KeyedHasher {
            id: Some(id),
            derivation: Derivation::Subkeys(subkeys),
        }
    }

    /// What every hash was made with before the keyring; stored rows name it with no key id.
    pub fn pre_keyring(secret: &[u8]) -> Self {
        KeyedHasher {
            id: None,
            derivation: Derivation::PreKeyring(secret.to_vec()),
        }
    }

    /// One key, as `SECRET_KEY` alone gives (id `legacy`); for tests and single-key tools.
    pub fn new(secret: &[u8]) -> Self {
        Self::derived(KeyId::legacy(), secret)
    }

    /// The id stored beside what this hasher makes: none for the pre-keyring derivation.
    pub fn key_id(&self) -> Option<&KeyId> {
        self.id.as_ref()
    }

    /// HMAC-SHA256 over `label || 0 || part || 0 || part ...` under the purpose's subkey.
    pub fn mac(&self, purpose: Purpose, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        let key: &[u8] = match &self.derivation {
            Derivation::PreKeyring(secret) => secret,
            Derivation::Subkeys(subkeys) => &subkeys[purpose.index()],
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(label.as_bytes());
        for part in parts {
            mac.update(&[0]);
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    pub fn ci(&self, ci: &Ci) -> CiHash {
        CiHash(hex(&self.mac(Purpose::Identity, "ci", &[ci.0.as_bytes()])))
    }
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "KeyedHasher({id}, [redacted])"),
            None => f.write_str("KeyedHasher(pre-keyring, [redacted])"),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let ci = Ci::parse("CI-123").unwrap();
        let a = KeyedHasher::new(b"key-a");
        let b = KeyedHasher::new(b"key-b");
        assert_eq!(a.ci(&ci), a.ci(&Ci::parse(" CI-123 ").unwrap()));
        assert_ne!(a.ci(&ci), b.ci(&ci));
        assert_eq!(a.ci(&ci).0.len(), 64);
        assert!(!a.ci(&ci).0.contains("CI-123"));
    }

    /// Fixed vectors computed outside Rust (Python's hmac): the pre-keyring derivation is the
    /// plain HMAC of the whole secret (what rows from before the keyring hold); a ring key's is
    /// HMAC under HKDF-SHA256(salt "account-recovery keyring", info "account-recovery/v1/identity").
    #[test]
    fn derivations_match_fixed_vectors() {
        let ci = Ci::parse("CI-123").unwrap();
        assert_eq!(
            KeyedHasher::pre_keyring(b"key-a").ci(&ci).0,
            "06ca3718f2ffc854314ca36067f334c79ef17c598ea1b3025f1e372830b748ac"
        );
        let a = KeyedHasher::derived(KeyId::parse("a").unwrap(), b"key-a");
        assert_eq!(
            a.ci(&ci).0,
            "1eddc365a5f65070a9e246199aad0f7d1aea9e2ded216ef47c7516aeeeeefb82"
        );
        assert_eq!(a.key_id().map(KeyId::as_str), Some("a"));
        assert_eq!(KeyedHasher::pre_keyring(b"key-a").key_id(), None);
    }

    #[test]
    fn purposes_have_distinct_subkeys() {
        let a = KeyedHasher::derived(KeyId::parse("a").unwrap(), b"key-a");
        let outputs: std::collections::HashSet<[u8; 32]> =
            Purpose::ALL.iter().map(|p| a.mac(*p, "same", &[b"x"])).collect();
        assert_eq!(outputs.len(), Purpose::ALL.len());
        let pre = KeyedHasher::pre_keyring(b"key-a");
        assert_eq!(
            pre.mac(Purpose::Code, "l", &[]),
            pre.mac(Purpose::Nonce, "l", &[])
        );
        assert!(!format!("{a:?}{pre:?}").contains("key-a"));
    }

    #[test]
    fn ci_is_never_printed() {
        let ci = Ci::parse("secret-ci").unwrap();
        assert!(!format!("{ci:?}").contains("secret-ci"));
    }

    #[test]
    fn empty_and_huge_values_are_refused() {
        assert_eq!(Ci::parse("  ").unwrap_err(), CiError::Empty);
        assert_eq!(Ci::parse(&"c".repeat(10_000)).unwrap_err(), CiError::TooLong);
    }
}
