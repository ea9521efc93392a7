//! What still depends on each key of the ring, as `account-recovery keys status` shows it: per key
//! id stored in the database, the rows made under it, and whether the ring can still open them.
use std::collections::BTreeMap;

use super::keyring::{KeyId, Keyring};

/// The stored rows made under one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyCounts {
    /// Members' identity (`ci`) hashes.
    pub identity_hashes: u64,
    /// Unspent recovery codes.
    pub recovery_codes: u64,
    /// Queued mail whose sealed body is still stored.
    pub sealed_mail: u64,
    /// Webhook endpoints whose signing secrets are sealed under it.
    pub webhook_secrets: u64,
    /// Audit rows naming the identifier of an attempt (history: once the key is gone they no
    /// longer show in the owner's activity, nothing else breaks).
    pub audit_identifiers: u64,
}

impl KeyCounts {
    /// Whether anything but history still needs the key.
    pub fn is_needed(&self) -> bool {
        self.identity_hashes + self.recovery_codes + self.sealed_mail + self.webhook_secrets > 0
    }
}

/// How the ring stands to a key a row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// The first key: every new hash and seal.
    Current,
    /// In the ring after the first: still opened, never written.
    Older,
    /// Rows from before the keyring (no key id), opened by the key named `legacy`.
    PreKeyring { opened: bool },
    /// Named by rows but not in the ring: they no longer open.
    Missing,
}

impl KeyState {
    pub fn describe(self) -> &'static str {
        match self {
            KeyState::Current => "current",
            KeyState::Older => "older (still accepted)",
            KeyState::PreKeyring { opened: true } => "pre-keyring (opened by `legacy`)",
            KeyState::PreKeyring { opened: false } => "pre-keyring, NOT OPENED (no key `legacy`)",
            KeyState::Missing => "NOT IN THE RING (these rows no longer open)",
        }
    }
}

/// One line of the status: a key (`None`: the pre-keyring rows) and what depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub key: Option<String>,
    pub state: KeyState,
    pub counts: KeyCounts,
}

/// Every key of the ring in order (with zero counts when nothing uses it), then the pre-keyring
/// rows and keys that rows name but the ring lacks.
pub fn key_status(ring: &Keyring, stored: &BTreeMap<Option<String>, KeyCounts>) -> Vec<KeyStatus> {
    let mut lines: Vec<KeyStatus> = ring
        .ids()
        .enumerate()
        .map(|(i, id)| KeyStatus {
            key: Some(id.to_string()),
            state: if i == 0 {
                KeyState::Current
            } else {
                KeyState::Older
            },
            counts: stored.get(&Some(id.to_string())).copied().unwrap_or_default(),
        })
        .collect();
    let in_ring = |key: &str| ring.ids().any(|id| id.as_str() == key);
    for (key, counts) in stored {
        match key {
            None => lines.push(KeyStatus {
                key: None,
                state: KeyState::PreKeyring {
                    opened: ring.opens_pre_keyring(),
                },
                counts: *counts,
            }),
            Some(key) if !in_ring(key) => lines.push(KeyStatus {
                key: Some(key.clone()),
                state: KeyState::Missing,
                counts: *counts,
            }),
            Some(_) => {}
        }
    }
    lines
}

/// Whether the key `id` can leave the ring: nothing under it (nor, for `legacy`, under the
/// pre-keyring derivation) is still needed. The current key never can.
pub fn can_retire(lines: &[KeyStatus], id: &KeyId) -> bool {
    let needs = |line: &KeyStatus| match line.state {
        KeyState::Current => line.key.as_deref() == Some(id.as_str()),
        KeyState::PreKeyring { .. } => *id == KeyId::legacy() && line.counts.is_needed(),
        _ => line.key.as_deref() == Some(id.as_str()) && line.counts.is_needed(),
    };
    !lines.iter().any(needs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(identity_hashes: u64, recovery_codes: u64, sealed_mail: u64) -> KeyCounts {
        KeyCounts {
            identity_hashes,
            recovery_codes,
            sealed_mail,
            webhook_secrets: 0,
            audit_identifiers: 7,
        }
    }

    #[test]
    fn the_status_lists_the_ring_then_what_it_cannot_account_for() {
        let ring = Keyring::new(vec![
            (KeyId::parse("b").unwrap(), b"sb".to_vec()),
            (KeyId::legacy(), b"sl".to_vec()),
        ])
        .unwrap();
        let stored = BTreeMap::from([
            (None, counts(2, 0, 1)),
            (Some("b".to_owned()), counts(1, 10, 0)),
            (Some("gone".to_owned()), counts(0, 3, 0)),
        ]);
        let lines = key_status(&ring, &stored);
        let summary: Vec<(Option<&str>, KeyState, u64)> = lines
            .iter()
            .map(|l| (l.key.as_deref(), l.state, l.counts.identity_hashes))
            .collect();
        assert_eq!(
            summary,
            [
                (Some("b"), KeyState::Current, 1),
                (Some("legacy"), KeyState::Older, 0),
                (None, KeyState::PreKeyring { opened: true }, 2),
                (Some("gone"), KeyState::Missing, 0),
            ]
        );
        assert!(
            !can_retire(&lines, &KeyId::legacy()),
            "pre-keyring rows still need it"
        );
        assert!(
            !can_retire(&lines, &KeyId::parse("b").unwrap()),
            "the current key"
        );
        let moved = BTreeMap::from([(
            None,
            KeyCounts {
                audit_identifiers: 3,
                ..KeyCounts::default()
            },
        )]);
        assert!(
            can_retire(&key_status(&ring, &moved), &KeyId::legacy()),
            "history only"
        );
    }

    #[test]
    fn an_older_key_that_seals_a_webhook_secret_stays() {
        let ring = Keyring::new(vec![
            (KeyId::parse("b").unwrap(), b"sb".to_vec()),
            (KeyId::parse("a").unwrap(), b"sa".to_vec()),
        ])
        .unwrap();
        let endpoint = KeyCounts {
            webhook_secrets: 1,
            ..KeyCounts::default()
        };
        let a = KeyId::parse("a").unwrap();
        let stored = BTreeMap::from([(Some("a".to_owned()), endpoint)]);
        assert!(
            !can_retire(&key_status(&ring, &stored), &a),
            "the endpoint's secret"
        );
        assert!(can_retire(&key_status(&ring, &BTreeMap::new()), &a));
    }
}
