//! Key ids of the ring, the purposes each key has a subkey for, and the parsing of SECRET_KEYS
//! (`id:secret,…`, the first current).
use std::fmt;

/// The id of a ring key: 1 to 16 characters of `[a-z0-9-]`. Stored beside every keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("a key id is 1 to 16 characters of a-z, 0-9 and '-'")]
    BadId,
    #[error("each entry is id:secret")]
    NoSeparator,
    #[error("the key id {0} appears twice")]
    Duplicate(String),
    #[error("the keyring is empty")]
    Empty,
}

impl KeyId {
    pub const MAX_LEN: usize = 16;

    pub fn parse(raw: &str) -> Result<KeyId, KeyringError> {
        let ok = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| KeyId(raw.to_owned())).ok_or(KeyringError::BadId)
    }

    /// The id `SECRET_KEY` alone is given, and the key whose secret opens rows written before the
    /// keyring (stored without a key id): name the old secret `legacy` in SECRET_KEYS.
    pub fn legacy() -> KeyId {
        KeyId(LEGACY.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const LEGACY: &str = "legacy";

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a subkey is for: one subkey per purpose, so no use's output is another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Keyed hashes of identity values (`ci`).
    Identity,
    /// Hashes of reset codes, their index entries, and recovery codes.
    Code,
    /// Keyed names of identifiers (audit identifier keys).
    Identifier,
    /// What a reset request's nonce derives (grant id, token, code, mail key).
    Nonce,
    /// The key of sealed outbox bodies.
    OutboxSeal,
}

impl Purpose {
    pub const ALL: [Purpose; 5] = [
        Purpose::Identity,
        Purpose::Code,
        Purpose::Identifier,
        Purpose::Nonce,
        Purpose::OutboxSeal,
    ];

    /// The HKDF `info` of the purpose's subkey. Changing one invalidates every value under it.
    pub fn info(self) -> &'static str {
        match self {
            Purpose::Identity => "account-recovery/v1/identity",
            Purpose::Code => "account-recovery/v1/code",
            Purpose::Identifier => "account-recovery/v1/identifier",
            Purpose::Nonce => "account-recovery/v1/nonce",
            Purpose::OutboxSeal => "account-recovery/v1/outbox-seal",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Parses `id:secret,id:secret,…` (the first is current). Whitespace around entries is ignored;
/// a secret may contain ':' (only the first one separates).
pub fn parse_ring(raw: &str) -> Result<Vec<(KeyId, String)>, KeyringError> {
    let entries: Vec<(KeyId, String)> = raw
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (id, secret) = entry.split_once(':').ok_or(KeyringError::NoSeparator)?;
            Ok((KeyId::parse(id.trim())?, secret.to_owned()))
        })
        .collect::<Result<_, KeyringError>>()?;
    if entries.is_empty() {
        return Err(KeyringError::Empty);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> KeyId {
        KeyId::parse(raw).unwrap()
    }

    #[test]
    fn key_ids_are_short_and_plain() {
        for good in ["a", "legacy", "2026-01", "k-0123456789abcd"] {
            assert_eq!(KeyId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "A", "key_1", "a b", "é", "k-0123456789abcde", "a:b"] {
            assert_eq!(KeyId::parse(bad), Err(KeyringError::BadId), "{bad}");
        }
    }

    #[test]
    fn a_ring_is_parsed_in_order_and_keeps_colons_in_secrets() {
        let ring = parse_ring(" b:secret-b:with:colons , a:secret-a ").unwrap();
        assert_eq!(
            ring,
            vec![
                (id("b"), "secret-b:with:colons".into()),
                (id("a"), "secret-a".into())
            ]
        );
        assert_eq!(parse_ring("nocolon"), Err(KeyringError::NoSeparator));
        assert_eq!(parse_ring(" , "), Err(KeyringError::Empty));
        assert_eq!(parse_ring("Bad:x"), Err(KeyringError::BadId));
    }
}
