//! Keyed hashes under SECRET_KEY (HMAC-SHA256, one label per use): the identity value `ci`, which
//! is only ever stored hashed, reset codes, and derived sub-keys.
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// Computes keyed hashes under the deployment's secret key.
#[derive(Clone)]
pub struct KeyedHasher {
    key: Vec<u8>,
}

impl KeyedHasher {
    pub fn new(secret_key: &[u8]) -> Self {
        KeyedHasher {
            key: secret_key.to_vec(),
        }
    }

    /// HMAC-SHA256 over `label || 0 || part || 0 || part ...`: labels keep the uses apart.
    pub fn mac(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(label.as_bytes());
        for part in parts {
            mac.update(&[0]);
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    pub fn ci(&self, ci: &Ci) -> CiHash {
        CiHash(hex(&self.mac("ci", &[ci.0.as_bytes()])))
    }
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedHasher([redacted])")
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
