//! Saved recovery codes (NIST SP 800-63B-4): 70 random bits as grouped Crockford base32
//! (`XXXX-XXXX-XXXX-XX`), parsed forgivingly, stored only as a keyed hash bound to the login ID typed
//! with it, so a code is found by one lookup by hash: the same work whoever the login ID names.
use std::fmt;

use super::{
    grant::IdentifierKey,
    key_id::Purpose,
    keyed_hash::{KeyedHasher, hex},
};

/// Crockford's base32: no I, L, O or U, so nothing reads as something else.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 14 symbols of 5 bits: 70 bits, above the 64 the rules ask for.
const SYMBOLS: usize = 14;
/// How many codes one set holds.
pub const CODES_PER_SET: usize = 10;

#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a recovery code is 14 letters and digits")]
pub struct RecoveryCodeFormatError;

/// The keyed hash of a recovery code: what the store keeps and compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecoveryCodeHash(pub String);

impl RecoveryCode {
    pub fn generate() -> RecoveryCode {
        let mut bytes = [0u8; SYMBOLS];
        rand::fill(&mut bytes);
        RecoveryCode(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(b & 31)] as char)
                .collect(),
        )
    }

    /// A new set of distinct codes.
    pub fn generate_set() -> Vec<RecoveryCode> {
        let mut set: Vec<RecoveryCode> = Vec::with_capacity(CODES_PER_SET);
        while set.len() < CODES_PER_SET {
            let code = RecoveryCode::generate();
            if !set.contains(&code) {
                set.push(code);
            }
        }
        set
    }

    /// Accepts what people type: any case, with or without hyphens and spaces, O for 0 and I or L
    /// for 1 (Crockford's rules).
    pub fn parse(raw: &str) -> Result<RecoveryCode, RecoveryCodeFormatError> {
        let mut normal = String::with_capacity(SYMBOLS);
        for c in raw.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => return Err(RecoveryCodeFormatError),
            };
            if normal.len() == SYMBOLS {
                return Err(RecoveryCodeFormatError);
            }
            normal.push(c);
        }
        if normal.len() == SYMBOLS {
            Ok(RecoveryCode(normal))
        } else {
            Err(RecoveryCodeFormatError)
        }
    }

    /// The grouped form shown to the member: `XXXX-XXXX-XXXX-XX`.
    pub fn display(&self) -> String {
        let s = &self.0;
        format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..14])
    }

    /// Keyed and bound to the member's login ID key (site + normalised login ID, unique per
    /// site), so a stored hash is worth nothing without the key and a code of one member is no code
    /// of another.
    pub fn hash(&self, keys: &KeyedHasher, login: &IdentifierKey) -> RecoveryCodeHash {
        RecoveryCodeHash(hex(&keys.mac(
            Purpose::Code,
            "recovery-code",
            &[
                login.site.as_str().as_bytes(),
                login.kind.code().as_bytes(),
                login.value.as_bytes(),
                self.0.as_bytes(),
            ],
        )))
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_set_is_ten_distinct_grouped_codes() {
        let set = RecoveryCode::generate_set();
        assert_eq!(set.len(), 10);
        for code in &set {
            let shown = code.display();
            assert_eq!(shown.len(), 17, "{shown}");
            assert_eq!(shown.matches('-').count(), 3);
            assert_eq!(RecoveryCode::parse(&shown).as_ref(), Ok(code));
        }
    }

    #[test]
    fn typing_is_forgiving_but_the_length_is_exact() {
        let code = RecoveryCode::parse("0123-4567-89AB-CD").unwrap();
        for typed in [
            "0123456789abcd",
            "o123 4567 89ab cd",
            "OI23-4567-89AB-CD",
            "0l23-4567-89ab-cd",
        ] {
            assert_eq!(RecoveryCode::parse(typed).as_ref(), Ok(&code), "{typed}");
        }
        for bad in [
            "",
            "0123-4567-89AB-C",
            "0123-4567-89AB-CDE",
            "0123-4567-89AB-CU",
            "0123-4567-89AB-C!",
            "０123-4567-89AB-CD",
        ] {
            assert_eq!(RecoveryCode::parse(bad), Err(RecoveryCodeFormatError), "{bad}");
        }
    }

    #[test]
    fn hashes_are_bound_to_the_member_and_codes_never_print() {
        let keys = KeyedHasher::new(b"test-secret-key-0123456789abcdef");
        let code = RecoveryCode::generate();
        let site = crate::domain::site::SiteId::parse("main").unwrap();
        let login =
            |raw: &str| IdentifierKey::login(&site, &crate::domain::login_id::LoginId::parse(raw).unwrap());
        let (a, b) = (login("alice01"), login("bob0001"));
        assert_eq!(code.hash(&keys, &a), code.hash(&keys, &a));
        // The login ID as typed, in any case, is the same member.
        assert_eq!(code.hash(&keys, &a), code.hash(&keys, &login("ALICE01")));
        assert_ne!(code.hash(&keys, &a), code.hash(&keys, &b));
        assert_ne!(
            code.hash(&keys, &a),
            code.hash(&KeyedHasher::new(b"another-key-0123456789abcdef0123"), &a)
        );
        assert!(!format!("{code:?}").contains(&code.0));
    }

    proptest! {
        #[test]
        fn parse_never_panics(raw in ".{0,40}") {
            let _ = RecoveryCode::parse(&raw);
        }

        #[test]
        fn generated_codes_round_trip(_seed in 0u8..8) {
            let code = RecoveryCode::generate();
            prop_assert_eq!(RecoveryCode::parse(&code.display()), Ok(code));
        }
    }
}
