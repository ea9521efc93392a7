//! Sealing of queued mail: bodies hold live links and codes, so the outbox keeps them encrypted
//! (XChaCha20-Poly1305 under the outbox-seal subkey of the current ring key, bound to the row) and
//! erases them once sent. Webhook endpoints' signing secrets are sealed the same way, bound to the
//! endpoint.
use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        keyed_hash::KeyedHasher,
        keyring::{KeyId, Keyring, Purpose},
    },
    recovery::ports::OutgoingMail,
};

/// One cipher per key of the ring (current first), and the pre-keyring one when a key is named
/// `legacy` (rows sealed before the keyring: no key id, no associated data).
#[derive(Clone)]
pub struct Sealer {
    ciphers: Vec<(KeyId, XChaCha20Poly1305)>,
    pre_keyring: Option<XChaCha20Poly1305>,
}

#[derive(Serialize, Deserialize)]
struct Plain {
    to: String,
    subject: String,
    text: String,
    html: String,
}

/// A sealed body and the key it was sealed under (stored beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key: KeyId,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("sealed mail cannot be opened (its key is not in SECRET_KEYS, or the row is damaged or moved)")]
pub struct SealError;

fn cipher(keys: &KeyedHasher) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&keys.mac(Purpose::OutboxSeal, "outbox-seal", &[]).into())
}

/// The associated data of a row's body: its unique outbox key, so a body copied or moved into
/// another row does not open there.
fn associated_data(row_key: &str) -> Vec<u8> {
    [b"account-recovery/outbox/v1\0".as_slice(), row_key.as_bytes()].concat()
}

/// The associated data of an endpoint's sealed secrets: its id, so they open for it alone.
fn secrets_associated_data(endpoint_id: &str) -> Vec<u8> {
    [
        b"account-recovery/webhook-secrets/v1\0".as_slice(),
        endpoint_id.as_bytes(),
    ]
    .concat()
}

impl Sealer {
    pub fn new(ring: &Keyring) -> Sealer {
        let ciphers = ring
            .candidates()
            .filter_map(|keys| Some((keys.key_id()?.clone(), cipher(keys))))
            .collect();
        let pre_keyring = ring.stored(None).map(cipher);
        Sealer { ciphers, pre_keyring }
    }

    /// Seals under the current key, bound to the row's unique key.
    pub fn seal(&self, mail: &OutgoingMail, row_key: &str) -> Sealed {
        let plain = serde_json::to_vec(&Plain {
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
            html: mail.html.clone(),
        })
        .expect("strings serialise");
        self.seal_bytes(&plain, &associated_data(row_key))
    }

    /// Seals a webhook endpoint's signing secrets under the current key, bound to the endpoint.
    pub fn seal_secrets(&self, secrets: &str, endpoint_id: &str) -> Sealed {
        self.seal_bytes(secrets.as_bytes(), &secrets_associated_data(endpoint_id))
    }

    /// Opens what `seal_secrets` sealed for `endpoint_id` under the ring key `key`.
    pub fn open_secrets(&self, sealed: &str, key: &str, endpoint_id: &str) -> Result<String, SealError> {
        let cipher = self.cipher(key)?;
        let plain = open_bytes(cipher, sealed, &secrets_associated_data(endpoint_id))?;
        String::from_utf8(plain).map_err(|_| SealError)
    }

    fn cipher(&self, key: &str) -> Result<&XChaCha20Poly1305, SealError> {
        self.ciphers
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, cipher)| cipher)
            .ok_or(SealError)
    }

    fn seal_bytes(&self, plain: &[u8], aad: &[u8]) -> Sealed {
        let mut nonce = [0u8; 24];
        rand::fill(&mut nonce);
        let (key, cipher) = &self.ciphers[0];
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("encryption of a bounded message cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Sealed {
            key: key.clone(),
            body: STANDARD.encode(out),
        }
    }

    /// Opens a stored body: `key` is the row's key id (none: sealed before the keyring, without
    /// associated data), `row_key` the row's unique key.
    pub fn open(
        &self,
        sealed: &str,
        key: Option<&str>,
        row_key: Option<&str>,
    ) -> Result<OutgoingMail, SealError> {
        let (cipher, aad) = match key {
            None => (self.pre_keyring.as_ref().ok_or(SealError)?, Vec::new()),
            Some(id) => (self.cipher(id)?, associated_data(row_key.ok_or(SealError)?)),
        };
        let plain = open_bytes(cipher, sealed, &aad)?;
        let p: Plain = serde_json::from_slice(&plain).map_err(|_| SealError)?;
        Ok(OutgoingMail {
            to: p.to,
            subject: p.subject,
            text: p.text,
            html: p.html,
        })
    }
}

fn open_bytes(cipher: &XChaCha20Poly1305, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let bytes = STANDARD.decode(sealed).map_err(|_| SealError)?;
    if bytes.len() < 24 {
        return Err(SealError);
    }
    let (nonce, body) = bytes.split_at(24);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .map_err(|_| SealError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            to: "a@example.com".into(),
            subject: "비밀번호 재설정".into(),
            text: "code 123456 https://x/reset?token=SECRET".into(),
            html: "<p>SECRET</p>".into(),
        }
    }

    fn ring(spec: &[(&str, &[u8])]) -> Keyring {
        Keyring::new(
            spec.iter()
                .map(|(id, s)| (KeyId::parse(id).unwrap(), s.to_vec()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_hides_the_body_and_needs_the_key_and_the_row() {
        let sealer = Sealer::new(&ring(&[("one", b"key-one")]));
        let sealed = sealer.seal(&mail(), "row-1");
        assert_eq!(sealed.key.as_str(), "one");
        let body = &sealed.body;
        assert!(!body.contains("SECRET") && !body.contains("123456"));
        assert_ne!(*body, sealer.seal(&mail(), "row-1").body, "fresh nonce each time");
        assert_eq!(sealer.open(body, Some("one"), Some("row-1")).unwrap(), mail());
        assert!(
            sealer.open(body, Some("one"), Some("row-2")).is_err(),
            "moved to another row"
        );
        assert!(sealer.open(body, Some("one"), None).is_err());
        assert!(sealer.open(body, None, Some("row-1")).is_err());
        let other = Sealer::new(&ring(&[("one", b"key-two")]));
        assert!(other.open(body, Some("one"), Some("row-1")).is_err());
        assert!(sealer.open("not base64!", Some("one"), Some("row-1")).is_err());
        assert!(sealer.open(&body[..20], Some("one"), Some("row-1")).is_err());
    }

    #[test]
    fn an_older_key_still_opens_and_the_current_one_seals() {
        let old = Sealer::new(&ring(&[("a", b"key-a")]));
        let sealed = old.seal(&mail(), "k");
        let rotated = Sealer::new(&ring(&[("b", b"key-b"), ("a", b"key-a")]));
        assert_eq!(rotated.open(&sealed.body, Some("a"), Some("k")).unwrap(), mail());
        assert_eq!(rotated.seal(&mail(), "k").key.as_str(), "b");
        let retired = Sealer::new(&ring(&[("b", b"key-b")]));
        assert!(retired.open(&sealed.body, Some("a"), Some("k")).is_err());
    }

    /// What the outbox held before the keyring: sealed under HMAC(SECRET_KEY, "outbox-seal") with
    /// no associated data and no key id. Sealed here as the old code did, it opens under `legacy`.
    #[test]
    fn bodies_sealed_before_the_keyring_open_under_the_key_named_legacy() {
        let old_key = KeyedHasher::pre_keyring(b"the-old-secret").mac(Purpose::Code, "outbox-seal", &[]);
        let plain = serde_json::to_vec(&Plain {
            to: "a@example.com".into(),
            subject: "비밀번호 재설정".into(),
            text: "code 123456 https://x/reset?token=SECRET".into(),
            html: "<p>SECRET</p>".into(),
        })
        .unwrap();
        let nonce = [7u8; 24];
        let mut bytes = nonce.to_vec();
        bytes.extend(
            XChaCha20Poly1305::new(&old_key.into())
                .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
                .unwrap(),
        );
        let old_body = STANDARD.encode(bytes);
        let upgraded = Sealer::new(&ring(&[("new", b"n"), ("legacy", b"the-old-secret")]));
        assert_eq!(upgraded.open(&old_body, None, Some("any")).unwrap(), mail());
        let without_legacy = Sealer::new(&ring(&[("new", b"n")]));
        assert!(without_legacy.open(&old_body, None, None).is_err());
    }
}
