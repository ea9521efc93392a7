//! The rules a signed identity assertion's claims must meet once its signature checks out: issuer,
//! audience, lifetime against the request's clock, purpose, site and the identity it carries.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{grant::OnceKey, keyed_hash::Ci, member::JoinType, site::SiteId};

/// The longest an assertion may live (`exp` − `iat`), and the clock skew tolerated on both ends.
pub const MAX_LIFETIME: Duration = Duration::from_secs(300);
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// What an assertion is for; it must match the operation it is presented to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionPurpose {
    FindId,
    ResetPassword,
}

impl AssertionPurpose {
    pub fn code(self) -> &'static str {
        match self {
            AssertionPurpose::FindId => "find_id",
            AssertionPurpose::ResetPassword => "reset_password",
        }
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims as the signed payload carries them, before any rule is applied. Not `Debug`: it
/// holds the `ci`.
#[derive(Clone, Default, Deserialize)]
pub struct AssertionClaims {
    pub iss: Option<String>,
    pub aud: Option<Audience>,
    pub iat: Option<i64>,
    pub exp: Option<i64>,
    pub jti: Option<String>,
    pub purpose: Option<String>,
    pub ci: Option<String>,
    pub join_type: Option<String>,
    pub site: Option<String>,
}

/// Whom and what the service trusts (from settings).
#[derive(Debug, Clone)]
pub struct AssertionRules {
    pub issuers: Vec<String>,
    pub audience: String,
}

/// Why an assertion was refused; logged by reason, answered alike (`IDENTITY_UNVERIFIED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionRefusal {
    #[error("no assertion key is configured")]
    NotConfigured,
    #[error("not a compact JWS of an accepted type and algorithm")]
    Malformed,
    #[error("the key id names no configured key")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the issuer is not trusted")]
    Issuer,
    #[error("the audience is not this service")]
    Audience,
    #[error("iat or exp is missing, in the future, past, or too far apart")]
    Lifetime,
    #[error("the jti is missing or already used")]
    Replayed,
    #[error("the purpose does not match the operation")]
    Purpose,
    #[error("the site does not match the request")]
    Site,
    #[error("the ci or join_type is missing or invalid")]
    Identity,
    #[error("raw identity values are off (IDENTITY_RAW_CI=false)")]
    RawCiOff,
    #[error("the provider does not know the id as a verified check of this store")]
    NotVerified,
}

/// A compact JWS as received, before any check. Never printed: it carries a `ci`.
pub struct SignedAssertion(String);

impl SignedAssertion {
    /// Far above any assertion of these claims; refuses huge inputs before any decoding.
    pub const MAX_LEN: usize = 8 * 1024;

    pub fn parse(raw: &str) -> Option<SignedAssertion> {
        let raw = raw.trim();
        (!raw.is_empty() && raw.len() <= Self::MAX_LEN).then(|| SignedAssertion(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SignedAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignedAssertion([redacted])")
    }
}

/// An assertion that met every rule: the identity it proves, and what makes it single-use.
pub struct VerifiedIdentity {
    pub ci: Ci,
    pub join_type: Option<JoinType>,
    /// `iss` and `jti`: together they name the assertion for its one use.
    pub issuer: String,
    pub jti: String,
    /// Until when the assertion could be presented (its `exp` plus the skew).
    pub usable_until: DateTime<Utc>,
}

impl VerifiedIdentity {
    /// The assertion's name for its one use.
    pub fn once_key(&self) -> OnceKey {
        OnceKey::of("idv", &[&self.issuer, &self.jti])
    }
}

impl AssertionClaims {
    /// Applies every rule at `now` for `purpose` on `site`.
    pub fn check(
        self,
        rules: &AssertionRules,
        now: DateTime<Utc>,
        purpose: AssertionPurpose,
        site: &SiteId,
    ) -> Result<VerifiedIdentity, AssertionRefusal> {
        let issuer = self
            .iss
            .filter(|iss| rules.issuers.contains(iss))
            .ok_or(AssertionRefusal::Issuer)?;
        let for_us = match &self.aud {
            Some(Audience::One(aud)) => *aud == rules.audience,
            Some(Audience::Many(auds)) => auds.contains(&rules.audience),
            None => false,
        };
        if !for_us {
            return Err(AssertionRefusal::Audience);
        }
        let usable_until = lifetime(self.iat, self.exp, now)?;
        if self.purpose.as_deref() != Some(purpose.code()) {
            return Err(AssertionRefusal::Purpose);
        }
        if self.site.as_deref().is_some_and(|s| s != site.as_str()) {
            return Err(AssertionRefusal::Site);
        }
        let jti = self
            .jti
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or(AssertionRefusal::Replayed)?;
        let ci = self
            .ci
            .as_deref()
            .and_then(|ci| Ci::parse(ci).ok())
            .ok_or(AssertionRefusal::Identity)?;
        let join_type = match self.join_type.as_deref() {
            Some(code @ ("CITIZEN" | "FOREIGN")) => JoinType::from_code(code),
            Some(_) => return Err(AssertionRefusal::Identity),
            None => None,
        };
        if purpose == AssertionPurpose::FindId && join_type.is_none() {
            return Err(AssertionRefusal::Identity);
        }
        Ok(VerifiedIdentity {
            ci,
            join_type,
            issuer,
            jti,
            usable_until,
        })
    }
}

/// `iat` no later than `now` + skew, `exp` after `now` − skew, and `exp` at most `MAX_LIFETIME`
/// after `iat`; answers until when the assertion is usable.
fn lifetime(
    iat: Option<i64>,
    exp: Option<i64>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, AssertionRefusal> {
    let (Some(iat), Some(exp)) = (iat, exp) else {
        return Err(AssertionRefusal::Lifetime);
    };
    let skew = CLOCK_SKEW.as_secs() as i64;
    let now = now.timestamp();
    let ok = iat <= now.saturating_add(skew)
        && exp > now.saturating_sub(skew)
        && exp > iat
        && exp.saturating_sub(iat) <= MAX_LIFETIME.as_secs() as i64;
    let until = DateTime::from_timestamp(exp.saturating_add(skew), 0);
    match (ok, until) {
        (true, Some(until)) => Ok(until),
        _ => Err(AssertionRefusal::Lifetime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(NOW, 0).unwrap()
    }

    fn rules() -> AssertionRules {
        AssertionRules {
            issuers: vec!["https://idv.example".into()],
            audience: "account-recovery".into(),
        }
    }

    fn valid() -> AssertionClaims {
        AssertionClaims {
            iss: Some("https://idv.example".into()),
            aud: Some(Audience::One("account-recovery".into())),
            iat: Some(NOW - 10),
            exp: Some(NOW + 290),
            jti: Some("j-1".into()),
            purpose: Some("find_id".into()),
            ci: Some("CI-ALICE".into()),
            join_type: Some("CITIZEN".into()),
            site: None,
        }
    }

    fn check(claims: AssertionClaims) -> Result<VerifiedIdentity, AssertionRefusal> {
        claims.check(
            &rules(),
            now(),
            AssertionPurpose::FindId,
            &SiteId::parse("main").unwrap(),
        )
    }

    #[test]
    fn a_valid_assertion_passes_with_its_identity() {
        let ok = check(valid()).unwrap();
        assert_eq!(
            (ok.issuer.as_str(), ok.jti.as_str()),
            ("https://idv.example", "j-1")
        );
        assert_eq!(ok.join_type, Some(JoinType::Citizen));
        assert_eq!(ok.usable_until.timestamp(), NOW + 290 + 30);
        let many = AssertionClaims {
            aud: Some(Audience::Many(vec!["other".into(), "account-recovery".into()])),
            site: Some("main".into()),
            ..valid()
        };
        assert!(check(many).is_ok());
        // Within the skew on both ends.
        assert!(
            check(AssertionClaims {
                iat: Some(NOW + 30),
                exp: Some(NOW + 60),
                ..valid()
            })
            .is_ok()
        );
        assert!(
            check(AssertionClaims {
                iat: Some(NOW - 300),
                exp: Some(NOW - 29),
                ..valid()
            })
            .is_ok()
        );
    }

    #[test]
    fn each_broken_rule_is_refused_for_its_reason() {
        use AssertionRefusal::*;
        let cases: Vec<(&str, AssertionClaims, AssertionRefusal)> = vec![
            ("no iss", AssertionClaims { iss: None, ..valid() }, Issuer),
            (
                "wrong iss",
                AssertionClaims {
                    iss: Some("evil".into()),
                    ..valid()
                },
                Issuer,
            ),
            ("no aud", AssertionClaims { aud: None, ..valid() }, Audience),
            (
                "wrong aud",
                AssertionClaims {
                    aud: Some(super::Audience::One("x".into())),
                    ..valid()
                },
                Audience,
            ),
            ("no iat", AssertionClaims { iat: None, ..valid() }, Lifetime),
            ("no exp", AssertionClaims { exp: None, ..valid() }, Lifetime),
            (
                "expired",
                AssertionClaims {
                    iat: Some(NOW - 200),
                    exp: Some(NOW - 31),
                    ..valid()
                },
                Lifetime,
            ),
            (
                "future iat",
                AssertionClaims {
                    iat: Some(NOW + 31),
                    exp: Some(NOW + 90),
                    ..valid()
                },
                Lifetime,
            ),
            (
                "too long",
                AssertionClaims {
                    iat: Some(NOW - 10),
                    exp: Some(NOW + 291),
                    ..valid()
                },
                Lifetime,
            ),
            (
                "exp before iat",
                AssertionClaims {
                    iat: Some(NOW),
                    exp: Some(NOW - 1),
                    ..valid()
                },
                Lifetime,
            ),
            (
                "other purpose",
                AssertionClaims {
                    purpose: Some("reset_password".into()),
                    ..valid()
                },
                Purpose,
            ),
            (
                "no purpose",
                AssertionClaims {
                    purpose: None,
                    ..valid()
                },
                Purpose,
            ),
            (
                "other site",
                AssertionClaims {
                    site: Some("other".into()),
                    ..valid()
                },
                Site,
            ),
            ("no jti", AssertionClaims { jti: None, ..valid() }, Replayed),
            (
                "empty jti",
                AssertionClaims {
                    jti: Some(String::new()),
                    ..valid()
                },
                Replayed,
            ),
            ("no ci", AssertionClaims { ci: None, ..valid() }, Identity),
            (
                "blank ci",
                AssertionClaims {
                    ci: Some("  ".into()),
                    ..valid()
                },
                Identity,
            ),
            (
                "bad join type",
                AssertionClaims {
                    join_type: Some("citizen".into()),
                    ..valid()
                },
                Identity,
            ),
            (
                "find_id without join type",
                AssertionClaims {
                    join_type: None,
                    ..valid()
                },
                Identity,
            ),
        ];
        for (name, claims, want) in cases {
            assert_eq!(check(claims).err(), Some(want), "{name}");
        }
    }

    #[test]
    fn a_reset_assertion_needs_no_join_type() {
        let claims = AssertionClaims {
            purpose: Some("reset_password".into()),
            join_type: None,
            ..valid()
        };
        let site = SiteId::parse("main").unwrap();
        assert!(
            claims
                .check(&rules(), now(), AssertionPurpose::ResetPassword, &site)
                .is_ok()
        );
    }
}
