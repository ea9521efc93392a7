//! A password as a secret: it never prints, and it is hashed and verified only in its NFKC form.
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use unicode_normalization::UnicodeNormalization;

/// NFKC-normalises text. Used for new passwords and for sign-in verification,
/// so the hash always sees the same normalised text.
pub fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// A password as typed, or its NFKC form. `Debug` prints no secret; there is no `Display`.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(raw: impl Into<String>) -> Password {
        Password(SecretString::from(raw.into()))
    }

    /// The NFKC form the rules and the hashes work on (full-width and composed characters fold).
    pub fn normalized(&self) -> Password {
        Password::new(nfkc(self.expose()))
    }

    /// The text, for the policy check and the hasher only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Length in bytes (bounds checks before any expensive work).
    pub fn len(&self) -> usize {
        self.expose().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for Password {
    fn from(raw: &str) -> Password {
        Password::new(raw)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_normalises_to_nfkc() {
        let typed = Password::new("Ｃｏｒｒｅｃｔ-9");
        assert_eq!(format!("{typed:?}"), "Password([redacted])");
        assert_eq!(typed.normalized().expose(), "Correct-9");
        assert_eq!(Password::from("abc").len(), 3);
    }
}
