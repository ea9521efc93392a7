//! The Redis key layout, and the one function that formats every key.
//!
//! `P` = the configured prefix, `T` = `GrantOwner::tag()`, `I` = `IdentifierKey::tag()` (site, kind,
//! normalised e-mail or login ID), `H` = a token hash, `C` = a code's index hash (`ResetCode::index_hash`).
//!
//! | key | type | TTL | holds | written by |
//! |---|---|---|---|---|
//! | `P:{m:T}:grant` | hash | the grant's ttl | `id`, `purpose`, `token` (hash), `code` (hash, if any), `expires_at_ms` | tokens |
//! | `P:{m:T}:cooldown` | string | the cooldown | `1` while a new grant is refused | tokens |
//! | `P:tok:H` | string | the grant's ttl | the owner tag (routing only: the grant decides) | tokens |
//! | `P:{i:I}:code_failures` | string | `window`, set by the first failure | wrong codes typed with the identifier | tokens |
//! | `P:{i:I}:code:C` | string | the grant's ttl | `<grant id>\|T`: the grant this code was mailed for (the owner's grant decides) | tokens |
//! | `P:{m:T}:sessions` | hash | the latest session expiry | field = session token hash, value = `<expires_at_ms>\|<elevated_until_ms or 0>[\|p]` (`p`: elevated by reauthenticate) | sessions |
//! | `P:{m:T}:reset_mark` | string | the mark's ttl | `1` until the next sign-in takes it (GETDEL) | sessions |
//! | `P:sess:H` | string | the session's ttl | the owner tag (routing only: the hash decides) | sessions |
//! | `P:{m:T}:devices` | hash | the latest device's ttl | field = device token hash, value = `<expires_at_ms>` | sessions |
//! | `P:dev:H` | string | the device's ttl | the owner tag, then the device's targets, one per line (the hash decides whether it lives) | sessions |
//! | `P:rl:{<name>}:<rest>` | string | the window, set by the first hit | hits counted in the window of counter `<name>:<rest>` | limiter |
//! | `P:once:K` | string | as long as the proof could be presented | `1` once a one-time proof (`K` = `OnceKey`, e.g. an identity assertion's issuer and jti) was used (`SET NX PX`) | tokens |
//! | `P:resets` | stream, consumer group `resolvers` | none (entries are deleted once acknowledged) | handed-off e-mail reset requests, field `r` = the request (JSON, with its nonce) | reset_queue |
//!
//! Every key of one owner carries the hash tag `{m:T}`, and every key of one identifier the tag
//! `{i:I}`, so each script, which only ever touches the keys of one owner or of one identifier, runs
//! in one slot on Redis Cluster. A route is touched alone, so it needs no tag. Counters are tagged
//! with their first segment (the operation, e.g. `{findId}`): the limits of one request (client,
//! target, session) are counted by one script, so they share a slot; the price is that one
//! operation's counters live on one cluster node.
use crate::domain::grant::{CodeHash, GrantOwner, IdentifierKey, OnceKey, TokenHash};

/// The hash tag of counter `name`: its first segment (the operation). Counters with the same tag
/// share a slot, so one script may count them together.
pub fn counter_tag(name: &str) -> &str {
    name.split(':').next().unwrap_or_default()
}

/// One key of the layout above.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    Grant(&'a GrantOwner),
    Cooldown(&'a GrantOwner),
    CodeFailures(&'a IdentifierKey),
    CodeEntry(&'a IdentifierKey, &'a CodeHash),
    Sessions(&'a GrantOwner),
    ResetMark(&'a GrantOwner),
    TokenRoute(&'a TokenHash),
    SessionRoute(&'a TokenHash),
    Devices(&'a GrantOwner),
    DeviceRoute(&'a TokenHash),
    Counter(&'a str),
    Spent(&'a OnceKey),
    ResetStream,
}

/// The prefix every key of this deployment starts with.
#[derive(Debug, Clone)]
pub struct KeyLayout {
    prefix: String,
}

impl KeyLayout {
    /// `None` when the prefix holds a brace: it would become (or break) the hash tag.
    pub fn new(prefix: &str) -> Option<KeyLayout> {
        (!prefix.contains(['{', '}'])).then(|| KeyLayout {
            prefix: prefix.to_owned(),
        })
    }

    /// The one place a key is spelled.
    pub fn key(&self, key: Key<'_>) -> String {
        let p = &self.prefix;
        let owned = |owner: &GrantOwner, name: &str| format!("{p}:{{m:{}}}:{name}", owner.tag());
        match key {
            Key::Grant(owner) => owned(owner, "grant"),
            Key::Cooldown(owner) => owned(owner, "cooldown"),
            Key::CodeFailures(id) => format!("{p}:{{i:{}}}:code_failures", id.tag()),
            Key::CodeEntry(id, code) => format!("{p}:{{i:{}}}:code:{}", id.tag(), code.0),
            Key::Sessions(owner) => owned(owner, "sessions"),
            Key::ResetMark(owner) => owned(owner, "reset_mark"),
            Key::TokenRoute(token) => format!("{p}:tok:{}", token.0),
            Key::SessionRoute(token) => format!("{p}:sess:{}", token.0),
            Key::Devices(owner) => owned(owner, "devices"),
            Key::DeviceRoute(token) => format!("{p}:dev:{}", token.0),
            Key::Counter(name) => {
                let group = counter_tag(name);
                let rest = &name[group.len()..];
                format!("{p}:rl:{{{group}}}{rest}")
            }
            Key::Spent(once) => format!("{p}:once:{}", once.0),
            Key::ResetStream => format!("{p}:resets"),
        }
    }

    /// Every key an owner can have: one script may touch any of them together, so they must share a
    /// slot. Listed here so the cluster test checks the whole layout, not a sample.
    pub fn owner_keys(&self, owner: &GrantOwner) -> [String; 5] {
        [
            Key::Grant(owner),
            Key::Cooldown(owner),
            Key::Sessions(owner),
            Key::ResetMark(owner),
            Key::Devices(owner),
        ]
        .map(|k| self.key(k))
    }

    /// Every key an identifier can have (`code` stands for any code's entry): the judge script
    /// touches them together.
    pub fn identifier_keys(&self, identifier: &IdentifierKey, code: &CodeHash) -> [String; 2] {
        [Key::CodeFailures(identifier), Key::CodeEntry(identifier, code)].map(|k| self.key(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{member::MemberId, site::SiteId};

    /// The Redis Cluster hash slot (CRC16/XMODEM of the hash tag, or of the key without one).
    fn slot(key: &str) -> u16 {
        let bytes = key.as_bytes();
        let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
            let close = bytes[open + 1..].iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &bytes[open + 1..open + 1 + close])
        });
        let mut crc: u16 = 0;
        for &b in tagged.unwrap_or(bytes) {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }

    #[test]
    fn the_slot_function_matches_redis() {
        // Values from CLUSTER KEYSLOT on Redis 7.
        assert_eq!(slot("123456789"), 12739);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
    }

    #[test]
    fn an_owners_keys_share_one_slot() {
        let layout = KeyLayout::new("ar").unwrap();
        for member in [
            "alice",
            "b",
            "c{d",
            "with}brace",
            "00000000-0000-0000-0000-000000000000",
        ] {
            let owner = GrantOwner {
                site: SiteId::parse("main").unwrap(),
                member: MemberId(member.to_owned()),
            };
            let keys = layout.owner_keys(&owner);
            let first = slot(&keys[0]);
            for key in &keys {
                assert_eq!(slot(key), first, "{key} is not in the slot of {}", keys[0]);
            }
        }
    }

    #[test]
    fn an_identifiers_keys_share_one_slot() {
        use crate::domain::grant::IdentifierKind;
        let layout = KeyLayout::new("ar").unwrap();
        for kind in [IdentifierKind::Email, IdentifierKind::Login] {
            for value in ["alice@example.com", "b", "c{d@x.y", "with}brace@x.y", "{}"] {
                let identifier = IdentifierKey {
                    site: SiteId::parse("main").unwrap(),
                    kind,
                    value: value.to_owned(),
                };
                for code in ["00", "ff{", "}"] {
                    let keys = layout.identifier_keys(&identifier, &CodeHash(code.to_owned()));
                    assert_eq!(slot(&keys[0]), slot(&keys[1]), "{keys:?}");
                }
            }
        }
    }

    #[test]
    fn the_counters_of_one_operation_share_one_slot() {
        let layout = KeyLayout::new("ar").unwrap();
        let key = |name: &str| layout.key(Key::Counter(name));
        assert_eq!(key("findId:client:1.2.3.4"), "ar:rl:{findId}:client:1.2.3.4");
        for (a, b) in [
            ("findId:client:1.2.3.4", "findId:id:main:email:a{b}@x.io"),
            ("signedInPassword:client:::1", "signedInPassword:session:abc"),
        ] {
            assert_eq!(slot(&key(a)), slot(&key(b)), "{a} and {b}");
        }
        assert_ne!(key("findId:client:x"), key("findId:id:x"));
    }

    #[test]
    fn braces_in_the_prefix_are_refused() {
        assert!(KeyLayout::new("a{b").is_none());
        assert!(KeyLayout::new("a}b").is_none());
        assert!(KeyLayout::new("ar:test").is_some());
    }
}
