//! The keyring: the current key first, older keys still accepted, and the pre-keyring derivation
//! for rows stored before it; which hasher a stored value names.
use std::fmt;

pub use super::key_id::{KeyId, KeyringError, Purpose, parse_ring};
use subtle::ConstantTimeEq;

use super::keyed_hash::{Ci, CiHash, KeyedHasher, StoredCiHash};

/// The ring: the current key first, then older ones still accepted, and, when a key is named
/// `legacy`, the pre-keyring derivation under its secret (for rows stored without a key id).
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<KeyedHasher>,
    pre_keyring: Option<KeyedHasher>,
}

impl Keyring {
    pub fn new(keys: Vec<(KeyId, Vec<u8>)>) -> Result<Keyring, KeyringError> {
        let mut ids: Vec<&KeyId> = keys.iter().map(|(id, _)| id).collect();
        ids.sort();
        if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(KeyringError::Duplicate(pair[0].to_string()));
        }
        let pre_keyring = keys
            .iter()
            .find(|(id, _)| *id == KeyId::legacy())
            .map(|(_, secret)| KeyedHasher::pre_keyring(secret));
        let keys: Vec<KeyedHasher> = keys
            .into_iter()
            .map(|(id, secret)| KeyedHasher::derived(id, &secret))
            .collect();
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Keyring { keys, pre_keyring })
    }

    /// One key, as `SECRET_KEY` alone gives: id `legacy`, so rows from before the keyring open.
    pub fn single(secret: &[u8]) -> Keyring {
        Keyring::new(vec![(KeyId::legacy(), secret.to_vec())]).expect("one key is a ring")
    }

    /// What every new hash and seal is made with.
    pub fn current(&self) -> &KeyedHasher {
        &self.keys[0]
    }

    /// The id stored beside every new hash and seal.
    pub fn current_id(&self) -> &KeyId {
        self.keys[0].key_id().expect("ring keys have ids")
    }

    /// The hasher of a stored value: its key id, or none for the pre-keyring derivation. `None`
    /// when that key is no longer in the ring.
    pub fn stored(&self, key: Option<&KeyId>) -> Option<&KeyedHasher> {
        match key {
            Some(id) => self.keys.iter().find(|k| k.key_id() == Some(id)),
            None => self.pre_keyring.as_ref(),
        }
    }

    /// Every hasher a stored value may have been made with, the current one first: lookups by a
    /// keyed hash compute it under each (typically one to three) and match any.
    pub fn candidates(&self) -> impl Iterator<Item = &KeyedHasher> {
        self.keys.iter().chain(self.pre_keyring.as_ref())
    }

    /// A presented identity under every candidate key (the current first), each with the key id
    /// a row stores for it: computed in full whoever is asked about, so timing tells nothing.
    pub fn identity_hashes(&self, ci: &Ci) -> IdentityHashes {
        IdentityHashes(
            self.candidates()
                .map(|keys| StoredCiHash {
                    hash: keys.ci(ci),
                    key: keys.key_id().cloned(),
                })
                .collect(),
        )
    }

    /// The ring's key ids, the current one first.
    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().filter_map(KeyedHasher::key_id)
    }

    /// Whether the pre-keyring derivation is available (a key is named `legacy`).
    pub fn opens_pre_keyring(&self) -> bool {
        self.pre_keyring.is_some()
    }
}

/// A presented identity hashed under each key of the ring.
#[derive(Debug, Clone)]
pub struct IdentityHashes(Vec<StoredCiHash>);

impl IdentityHashes {
    /// The hash under the current key: what rows are written (or moved) with.
    pub fn current(&self) -> &StoredCiHash {
        &self.0[0]
    }

    /// Every hash, for a lookup that matches any.
    pub fn all(&self) -> Vec<CiHash> {
        self.0.iter().map(|h| h.hash.clone()).collect()
    }

    /// Whether a stored hash is this identity under the key the row names (constant time).
    pub fn matches(&self, stored: &StoredCiHash) -> bool {
        self.0.iter().any(|mine| {
            mine.key == stored.key && bool::from(mine.hash.0.as_bytes().ct_eq(stored.hash.0.as_bytes()))
        })
    }

    /// Whether a row holding `stored` should move to the current key.
    pub fn is_stale(&self, stored: &StoredCiHash) -> bool {
        stored.key != self.current().key
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.ids().map(KeyId::as_str).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keyed_hash::Ci;

    fn id(raw: &str) -> KeyId {
        KeyId::parse(raw).unwrap()
    }

    #[test]
    fn a_ring_refuses_a_duplicate_id() {
        let dup = vec![(id("a"), b"x".to_vec()), (id("a"), b"y".to_vec())];
        assert_eq!(
            Keyring::new(dup).unwrap_err(),
            KeyringError::Duplicate("a".into())
        );
        assert_eq!(Keyring::new(vec![]).unwrap_err(), KeyringError::Empty);
    }

    #[test]
    fn the_first_key_is_current_and_every_key_stays_a_candidate() {
        let ring = Keyring::new(vec![
            (id("b"), b"secret-b".to_vec()),
            (id("a"), b"secret-a".to_vec()),
        ])
        .unwrap();
        assert_eq!(ring.current().key_id(), Some(&id("b")));
        assert_eq!(ring.ids().map(KeyId::as_str).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(
            ring.candidates().count(),
            2,
            "no key named legacy: no pre-keyring view"
        );
        assert!(ring.stored(None).is_none());
        let ci = Ci::parse("CI-1").unwrap();
        let under_a = KeyedHasher::derived(id("a"), b"secret-a").ci(&ci);
        assert_eq!(ring.stored(Some(&id("a"))).unwrap().ci(&ci), under_a);
        assert!(ring.stored(Some(&id("c"))).is_none());
        assert!(!format!("{ring:?}").contains("secret"));
    }

    #[test]
    fn a_stored_identity_matches_only_under_the_key_it_names() {
        let ring = Keyring::new(vec![
            (id("b"), b"secret-b".to_vec()),
            (KeyId::legacy(), b"old".to_vec()),
        ])
        .unwrap();
        let ci = Ci::parse("CI-1").unwrap();
        let hashes = ring.identity_hashes(&ci);
        assert_eq!(hashes.all().len(), 3);
        assert_eq!(hashes.current().key, Some(id("b")));
        let before = StoredCiHash {
            hash: KeyedHasher::pre_keyring(b"old").ci(&ci),
            key: None,
        };
        assert!(hashes.matches(&before) && hashes.is_stale(&before));
        assert!(hashes.matches(hashes.current()) && !hashes.is_stale(hashes.current()));
        let named_wrongly = StoredCiHash {
            key: Some(id("b")),
            ..before.clone()
        };
        assert!(!hashes.matches(&named_wrongly));
        let other = ring.identity_hashes(&Ci::parse("CI-2").unwrap());
        assert!(!other.matches(&before));
    }

    #[test]
    fn a_key_named_legacy_also_opens_rows_from_before_the_keyring() {
        let ring = Keyring::new(vec![
            (id("new"), b"n".to_vec()),
            (KeyId::legacy(), b"old".to_vec()),
        ])
        .unwrap();
        assert_eq!(ring.candidates().count(), 3);
        let ci = Ci::parse("CI-1").unwrap();
        let before = KeyedHasher::pre_keyring(b"old").ci(&ci);
        assert_eq!(ring.stored(None).unwrap().ci(&ci), before);
        assert_eq!(ring.stored(None).unwrap().key_id(), None);
        assert_eq!(Keyring::single(b"old").current().key_id(), Some(&KeyId::legacy()));
    }
}
