//! Opaque bearer secrets (reset tokens, access tokens): 256 bits from the OS RNG, URL-safe
//! base64, parsed strictly, stored only as their SHA-256, never printed.

/// The SHA-256 of a token, hex: what stores keep and look up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

/// A string that is not a token this service issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a token issued by this service")]
pub struct TokenFormatError;

/// Whether `raw` has the shape of a generated token (43 URL-safe characters).
pub fn well_formed(raw: &str) -> bool {
    raw.len() == 43
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 32 random bytes from the OS RNG, URL-safe base64 without padding.
pub fn random() -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Declares a token type: `generate`, `parse`, `expose`, `hash` (SHA-256, what stores keep) and a
/// `Debug` that prints no secret.
macro_rules! opaque_token {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> $name {
                $name($crate::domain::opaque_token::random())
            }

            /// Accepts what `generate` makes; anything else is refused before any lookup.
            pub fn parse(raw: &str) -> Result<$name, $crate::domain::opaque_token::TokenFormatError> {
                let raw = raw.trim();
                if $crate::domain::opaque_token::well_formed(raw) {
                    Ok($name(raw.to_owned()))
                } else {
                    Err($crate::domain::opaque_token::TokenFormatError)
                }
            }

            pub fn expose(&self) -> &str {
                &self.0
            }

            /// SHA-256: enough for a 256-bit random secret.
            pub fn hash(&self) -> $crate::domain::opaque_token::TokenHash {
                use sha2::Digest;
                $crate::domain::opaque_token::TokenHash($crate::domain::keyed_hash::hex(&sha2::Sha256::digest(
                    self.0.as_bytes(),
                )))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

pub(crate) use opaque_token;
