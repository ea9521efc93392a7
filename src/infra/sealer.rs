//! Sealing of queued mail: bodies hold live links and codes, so the outbox keeps them encrypted
//! (XChaCha20-Poly1305 under a key derived from SECRET_KEY) and erases them once sent.
use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use serde::{Deserialize, Serialize};

use crate::{domain::keyed_hash::KeyedHasher, recovery::ports::OutgoingMail};

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

#[derive(Serialize, Deserialize)]
struct Plain {
    to: String,
    subject: String,
    text: String,
    html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("sealed mail cannot be opened (wrong SECRET_KEY or damaged row)")]
pub struct SealError;

impl Sealer {
    pub fn new(keys: &KeyedHasher) -> Sealer {
        let key = keys.mac("outbox-seal", &[]);
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    pub fn seal(&self, mail: &OutgoingMail) -> String {
        let plain = serde_json::to_vec(&Plain {
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
            html: mail.html.clone(),
        })
        .expect("strings serialise");
        let mut nonce = [0u8; 24];
        rand::fill(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .expect("encryption of a bounded message cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<OutgoingMail, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError)?;
        if bytes.len() < 24 {
            return Err(SealError);
        }
        let (nonce, body) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| SealError)?;
        let p: Plain = serde_json::from_slice(&plain).map_err(|_| SealError)?;
        Ok(OutgoingMail {
            to: p.to,
            subject: p.subject,
            text: p.text,
            html: p.html,
        })
    }
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

    #[test]
    fn round_trip_hides_the_body_and_needs_the_key() {
        let sealer = Sealer::new(&KeyedHasher::new(b"key-one"));
        let sealed = sealer.seal(&mail());
        assert!(!sealed.contains("SECRET") && !sealed.contains("123456"));
        assert_ne!(sealed, sealer.seal(&mail()), "fresh nonce each time");
        assert_eq!(sealer.open(&sealed).unwrap(), mail());
        assert!(Sealer::new(&KeyedHasher::new(b"key-two")).open(&sealed).is_err());
        assert!(sealer.open("not base64!").is_err());
        assert!(sealer.open(&sealed[..20]).is_err());
    }
}
