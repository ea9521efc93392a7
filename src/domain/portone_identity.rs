//! PortOne V2 identity verifications: the id a browser passes on, and the rules the service's
//! own read of the verification (`GET /identity-verifications/{id}`) must meet: `VERIFIED`,
//! verified within the last 300 s, with a `ci`. The store is checked by PortOne itself (the read
//! names the configured `storeId`, and another store's verification is not found).
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    identity_assertion::{AssertionRefusal, CLOCK_SKEW, MAX_LIFETIME, VerifiedIdentity},
    keyed_hash::Ci,
    member::JoinType,
};

/// The name single-use PortOne proofs are spent under (beside the assertions' issuers).
pub const PORTONE_ISSUER: &str = "portone";

/// The id of a PortOne identity verification, as the browser SDK hands it to the page. Chosen by
/// the site (PortOne's examples use `identity-verification-<uuid>`), so only its size and
/// characters are checked here; it is percent-encoded into the request path.
#[derive(Clone, PartialEq, Eq)]
pub struct PortoneVerificationId(String);

impl PortoneVerificationId {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Option<PortoneVerificationId> {
        let raw = raw.trim();
        let printable = raw.chars().all(|c| c.is_ascii_graphic());
        (!raw.is_empty() && raw.len() <= Self::MAX_LEN && printable)
            .then(|| PortoneVerificationId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never printed: whoever holds an unspent id holds an identity check.
impl std::fmt::Debug for PortoneVerificationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortoneVerificationId([redacted])")
    }
}

/// PortOne's `IdentityVerification` as its API answers it, with the fields the rules read (the
/// others, `pgRawResponse` included, are ignored). Not `Debug`: it holds the `ci`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortoneVerification {
    pub status: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub verified_customer: Option<VerifiedCustomer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedCustomer {
    pub ci: Option<String>,
    pub is_foreigner: Option<bool>,
}

impl PortoneVerification {
    /// Applies the rules at `now`. `isForeigner` is optional in PortOne's answer (some providers
    /// report it only under a separate contract): absent, the member is taken for a citizen, the
    /// class most members have, so a find-ID by such a check finds the citizen accounts of the ci.
    pub fn check(
        self,
        id: &PortoneVerificationId,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdentity, AssertionRefusal> {
        if self.status != "VERIFIED" {
            return Err(AssertionRefusal::NotVerified);
        }
        let verified_at = self.verified_at.ok_or(AssertionRefusal::Lifetime)?;
        let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
        let lifetime = chrono::Duration::from_std(MAX_LIFETIME).unwrap_or_default();
        if verified_at > now + skew || now - verified_at > lifetime {
            return Err(AssertionRefusal::Lifetime);
        }
        let customer = self.verified_customer.ok_or(AssertionRefusal::Identity)?;
        let ci = customer
            .ci
            .as_deref()
            .and_then(|ci| Ci::parse(ci).ok())
            .ok_or(AssertionRefusal::Identity)?;
        let join_type = match customer.is_foreigner {
            Some(true) => JoinType::Foreign,
            Some(false) | None => JoinType::Citizen,
        };
        Ok(VerifiedIdentity {
            ci,
            join_type: Some(join_type),
            issuer: PORTONE_ISSUER.to_owned(),
            jti: id.as_str().to_owned(),
            usable_until: verified_at + lifetime + skew,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keyed_hash::KeyedHasher;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    fn answer(json: serde_json::Value) -> PortoneVerification {
        serde_json::from_value(json).unwrap()
    }

    fn verified(verified_at: &str, customer: serde_json::Value) -> PortoneVerification {
        // The documented shape, with fields the rules do not read.
        answer(serde_json::json!({
            "status": "VERIFIED", "id": "identity-verification-1",
            "channel": {"type": "LIVE", "pgProvider": "DANAL", "pgMerchantId": "A010"},
            "verifiedCustomer": customer, "requestedAt": "2026-12-06T10:00:00Z",
            "updatedAt": verified_at, "statusChangedAt": verified_at, "verifiedAt": verified_at,
            "pgTxId": "tx-1", "pgRawResponse": "{}",
        }))
    }

    fn id() -> PortoneVerificationId {
        PortoneVerificationId::parse("identity-verification-1").unwrap()
    }

    #[test]
    fn a_fresh_verified_check_proves_its_ci_once_under_its_id() {
        let now = at("2026-12-06T10:04:00Z");
        let customer =
            serde_json::json!({"name": "Kim", "birthDate": "1990-01-01", "ci": "CI-1", "isForeigner": true});
        let identity = verified("2026-12-06T10:00:00Z", customer)
            .check(&id(), now)
            .unwrap();
        let hasher = KeyedHasher::new(b"test");
        assert_eq!(hasher.ci(&identity.ci), hasher.ci(&Ci::parse("CI-1").unwrap()));
        assert_eq!(identity.join_type, Some(JoinType::Foreign));
        assert_eq!(
            (identity.issuer.as_str(), identity.jti.as_str()),
            ("portone", "identity-verification-1")
        );
        assert_eq!(identity.usable_until, at("2026-12-06T10:05:30Z"));
    }

    #[test]
    fn without_is_foreigner_the_member_is_a_citizen() {
        let now = at("2026-12-06T10:00:10Z");
        let identity = verified("2026-12-06T10:00:00Z", serde_json::json!({"ci": "CI-1"}))
            .check(&id(), now)
            .unwrap();
        assert_eq!(identity.join_type, Some(JoinType::Citizen));
    }

    #[test]
    fn unverified_stale_future_or_ci_less_checks_are_refused() {
        let now = at("2026-12-06T10:00:00Z");
        let customer = || serde_json::json!({"ci": "CI-1"});
        for status in ["READY", "FAILED"] {
            let pending = answer(serde_json::json!({"status": status, "id": "x", "requestedCustomer": {}}));
            assert_eq!(
                pending.check(&id(), now).err(),
                Some(AssertionRefusal::NotVerified),
                "{status}"
            );
        }
        for (verified_at, refusal) in [
            ("2026-12-06T09:54:59Z", AssertionRefusal::Lifetime), // 301 s old
            ("2026-12-06T10:00:31Z", AssertionRefusal::Lifetime), // beyond the skew ahead
        ] {
            assert_eq!(
                verified(verified_at, customer()).check(&id(), now).err(),
                Some(refusal),
                "{verified_at}"
            );
        }
        assert!(
            verified("2026-12-06T09:55:00Z", customer())
                .check(&id(), now)
                .is_ok(),
            "300 s old"
        );
        let no_ci = verified("2026-12-06T10:00:00Z", serde_json::json!({"name": "Kim"}));
        assert_eq!(no_ci.check(&id(), now).err(), Some(AssertionRefusal::Identity));
    }

    #[test]
    fn ids_are_printable_and_bounded() {
        assert!(PortoneVerificationId::parse("").is_none());
        assert!(PortoneVerificationId::parse("a b").is_none());
        assert!(PortoneVerificationId::parse("ü").is_none());
        assert!(PortoneVerificationId::parse(&"a".repeat(257)).is_none());
        assert_eq!(PortoneVerificationId::parse(" id-1 ").unwrap().as_str(), "id-1");
        assert_eq!(format!("{:?}", id()), "PortoneVerificationId([redacted])");
    }
}
