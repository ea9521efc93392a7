//! Signed-in sessions: an opaque bearer token (kept only as a hash), its owner, expiry and the
//! "elevated until" mark that allows changing the password without the current one.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    grant::{GrantOwner, TokenHash},
    opaque_token::opaque_token,
};

opaque_token!(
    /// A bearer token of a signed-in session. Never printed.
    AccessToken
);

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: TokenHash,
    pub ttl: Duration,
    pub elevated_until: Option<DateTime<Utc>>,
}

/// A live session as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub owner: GrantOwner,
    pub token: TokenHash,
    pub expires_at: DateTime<Utc>,
    pub elevated_until: Option<DateTime<Utc>>,
    /// Whether the elevation came from the password typed again (`reauthenticate`), not from the
    /// first sign-in after a reset (which whoever reset the password has too).
    pub reauthenticated: bool,
}

impl SessionInfo {
    pub fn is_elevated(&self, now: DateTime<Utc>) -> bool {
        self.elevated_until.is_some_and(|t| t > now)
    }

    /// Elevated by the password itself, and still within the elevation.
    pub fn is_reauthenticated(&self, now: DateTime<Utc>) -> bool {
        self.reauthenticated && self.is_elevated(now)
    }
}

/// The verdict of a rate limit or throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitDecision {
    pub allowed: bool,
    /// Hits counted in the current window (this one included, for `hit`).
    pub count: u32,
    /// When the window ends (0 when nothing is counted).
    pub retry_after: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_are_random_parsed_and_never_printed() {
        let a = AccessToken::generate();
        assert_ne!(a, AccessToken::generate());
        assert_eq!(AccessToken::parse(a.expose()).unwrap().hash(), a.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
        for bad in [
            "",
            "Bearer x",
            &"a".repeat(42),
            &"a".repeat(44),
            &format!("{}+", "a".repeat(42)),
        ] {
            assert!(AccessToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn elevation_is_a_point_in_time() {
        let now = Utc::now();
        let mut s = SessionInfo {
            owner: GrantOwner::parse_tag("main:m1").unwrap(),
            token: TokenHash("h".into()),
            expires_at: now + chrono::Duration::hours(1),
            elevated_until: None,
            reauthenticated: false,
        };
        assert!(!s.is_elevated(now));
        s.elevated_until = Some(now + chrono::Duration::minutes(10));
        assert!(s.is_elevated(now));
        assert!(!s.is_reauthenticated(now), "the first sign-in after a reset");
        assert!(!s.is_elevated(now + chrono::Duration::minutes(11)));
        s.reauthenticated = true;
        assert!(s.is_reauthenticated(now));
        assert!(!s.is_reauthenticated(now + chrono::Duration::minutes(11)));
    }
}
