//! Sites: every member belongs to one site; the same login ID may exist on two sites.
use std::fmt;

use super::password_policy::PasswordPolicy;

/// A short site code (`[A-Za-z0-9_-]{1,32}`), kept lowercase: `MAIN` and `main` are one site on
/// every database (MySQL compares case-insensitively by default, and counters must agree).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a site code is 1 to 32 letters, digits, '-' or '_'")]
pub struct SiteIdError;

impl SiteId {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<SiteId, SiteIdError> {
        let raw = raw.trim();
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(SiteId(raw.to_ascii_lowercase()))
        } else {
            Err(SiteIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    /// The site's own policy; `None` means the configured default.
    pub password_policy: Option<PasswordPolicy>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_codes_and_refuses_the_rest() {
        for ok in ["main", "site-2", "a_1", &"x".repeat(32)] {
            assert_eq!(SiteId::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(SiteId::parse("Main").unwrap(), SiteId::parse("mAIN").unwrap());
        assert_eq!(SiteId::parse("A_1").unwrap().as_str(), "a_1");
        assert_eq!(SiteId::parse("  main ").unwrap().as_str(), "main");
        for bad in ["", "  ", "a b", "site/1", &"x".repeat(33), "사이트"] {
            assert!(SiteId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
