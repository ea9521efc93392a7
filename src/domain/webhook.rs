//! Standard Webhooks 1.0 (<https://www.standardwebhooks.com/>): the events the host hears, the body
//! they travel in, their HMAC-SHA256 signatures, and which target addresses may receive them.
use std::net::IpAddr;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{
    audit::{AuditKind, AuditOutcome},
    masking::mask_client_address,
};

/// What happened to a member, as the host subscribes to it (`WEBHOOK_EVENTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    PasswordReset,
    PasswordChanged,
    PasswordExtended,
    ChangeReported,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    Withdrawn,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::PasswordReset,
        EventType::PasswordChanged,
        EventType::PasswordExtended,
        EventType::ChangeReported,
        EventType::RecoveryCodesGenerated,
        EventType::RecoveryCodeUsed,
        EventType::Withdrawn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::PasswordReset => "member.password.reset",
            EventType::PasswordChanged => "member.password.changed",
            EventType::PasswordExtended => "member.password.extended",
            EventType::ChangeReported => "member.change.reported",
            EventType::RecoveryCodesGenerated => "member.recovery_codes.generated",
            EventType::RecoveryCodeUsed => "member.recovery_code.used",
            EventType::Withdrawn => "member.withdrawn",
        }
    }

    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The event an audited change is, when the host hears of it. A change is audited in the
    /// transaction that makes it, and its event is queued in the same one.
    pub fn for_audit(kind: AuditKind, outcome: AuditOutcome) -> Option<EventType> {
        Some(match (kind, outcome) {
            (AuditKind::PasswordReset, _) => EventType::PasswordReset,
            (AuditKind::PasswordChanged, AuditOutcome::Extended) => EventType::PasswordExtended,
            (AuditKind::PasswordChanged, _) => EventType::PasswordChanged,
            (AuditKind::ChangeReported, _) => EventType::ChangeReported,
            (AuditKind::RecoveryCodesGenerated, _) => EventType::RecoveryCodesGenerated,
            (AuditKind::RecoveryCodeUsed, _) => EventType::RecoveryCodeUsed,
            (AuditKind::MemberWithdrawn, _) => EventType::Withdrawn,
            _ => return None,
        })
    }

    /// A space- or comma-separated list of names (`WEBHOOK_EVENTS`, `webhook add --events`).
    pub fn parse_list(raw: &str) -> Result<Vec<EventType>, String> {
        raw.split([' ', ','])
            .filter(|name| !name.is_empty())
            .map(|name| {
                EventType::from_name(name).ok_or_else(|| {
                    let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
                    format!("unknown event {name:?}; the events are {}", known.join(", "))
                })
            })
            .collect()
    }
}

/// One event about one member. It carries who and when, never a password, token, code or `ci`;
/// the client address only masked (IPv4 /24, IPv6 /48).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    pub member_id: String,
    pub site_id: String,
    pub login_id: String,
    pub at: DateTime<Utc>,
    /// As the audit stores it; masked in the body.
    pub client_address: Option<String>,
}

impl Event {
    /// The body: `{type, timestamp, data: {memberId, siteId, loginId, at, clientAddress}}`.
    pub fn body(&self) -> String {
        let at = self.at.to_rfc3339_opts(SecondsFormat::Millis, true);
        json!({
            "type": self.kind.name(),
            "timestamp": at,
            "data": {
                "memberId": self.member_id,
                "siteId": self.site_id,
                "loginId": self.login_id,
                "at": at,
                "clientAddress": self.client_address.as_deref().and_then(mask_client_address),
            },
        })
        .to_string()
    }
}

/// A signing secret, `whsec_` and the base64 of its bytes (24 to 64). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret is `whsec_` followed by base64")]
    Format,
    #[error("a webhook secret holds 24 to 64 bytes")]
    Length,
}

impl WebhookSecret {
    pub fn parse(raw: &str) -> Result<WebhookSecret, SecretError> {
        let encoded = raw.trim().strip_prefix("whsec_").ok_or(SecretError::Format)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Format)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Length);
        }
        Ok(WebhookSecret(bytes))
    }

    /// A new random secret of 32 bytes.
    pub fn generate() -> WebhookSecret {
        let mut bytes = vec![0u8; 32];
        rand::fill(&mut bytes[..]);
        WebhookSecret(bytes)
    }

    /// `whsec_…`, for the one place it is shown (`webhook add`) and for sealed storage.
    pub fn expose(&self) -> String {
        format!("whsec_{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 of HMAC-SHA256(id.timestamp.body)>`.
    fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated, so a receiver that
/// knows any of them (the old or the new one, while rotating) can verify.
pub fn signature_header(secrets: &[WebhookSecret], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a target URL may not receive events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefusal {
    #[error("the target must be an http(s) URL with a host")]
    NotHttp,
    #[error("the target is a loopback, private or link-local address (WEBHOOK_ALLOW_PRIVATE=true allows it)")]
    Private,
}

/// Whether events may go to `address`: never to loopback, private, link-local, unspecified or
/// other non-public ranges unless `allow_private` (tests, private networks), so a configured or
/// resolved name cannot point deliveries at the service's own network.
pub fn check_address(address: IpAddr, allow_private: bool) -> Result<(), TargetRefusal> {
    if allow_private || is_public(address) {
        Ok(())
    } else {
        Err(TargetRefusal::Private)
    }
}

fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (RFC 6598) and benchmarking (RFC 2544).
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 224)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// A target URL's form: http or https with a host; an IP-literal host is checked at once, a name
/// when it is resolved for each delivery.
pub fn check_target(url: &url::Url, allow_private: bool) -> Result<(), TargetRefusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetRefusal::NotHttp);
    }
    match url.host() {
        None => Err(TargetRefusal::NotHttp),
        Some(url::Host::Ipv4(v4)) => check_address(IpAddr::V4(v4), allow_private),
        Some(url::Host::Ipv6(v6)) => check_address(IpAddr::V6(v6), allow_private),
        Some(url::Host::Domain(name))
            if name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost") =>
        {
            check_address(IpAddr::from([127, 0, 0, 1]), allow_private)
        }
        Some(url::Host::Domain(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signatures_verify_with_the_reference_library() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let event = Event {
            kind: EventType::PasswordReset,
            member_id: "m-1".into(),
            site_id: "main".into(),
            login_id: "alice01".into(),
            at: Utc::now(),
            client_address: Some("203.0.113.77".into()),
        };
        let body = event.body();
        let (id, timestamp) = ("msg_2b7Yh", Utc::now().timestamp());
        let header = signature_header(std::slice::from_ref(&secret), id, timestamp, &body);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", header.parse().unwrap());
        let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
        reference
            .verify(body.as_bytes(), &headers)
            .expect("the reference library accepts it");
        // A changed body does not verify.
        let tampered = body.replace("alice01", "mallory");
        assert!(reference.verify(tampered.as_bytes(), &headers).is_err());
        // Rotation: signed with an old and a new secret, a receiver of either verifies.
        let new = "whsec_QWxsIHRoZSBzZWNyZXRzIGFyZSBoZXJlIG5vdw==";
        let both = [secret, WebhookSecret::parse(new).unwrap()];
        headers.insert(
            "webhook-signature",
            signature_header(&both, id, timestamp, &body).parse().unwrap(),
        );
        for known in [SECRET, new] {
            standardwebhooks::Webhook::new(known)
                .unwrap()
                .verify(body.as_bytes(), &headers)
                .expect("either secret verifies");
        }
    }

    #[test]
    fn the_body_names_the_member_and_masks_the_client() {
        let event = Event {
            kind: EventType::Withdrawn,
            member_id: "m-1".into(),
            site_id: "main".into(),
            login_id: "alice01".into(),
            at: "2026-12-07T03:00:00Z".parse().unwrap(),
            client_address: Some("203.0.113.77".into()),
        };
        let body: serde_json::Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(body["type"], "member.withdrawn");
        assert_eq!(body["timestamp"], "2026-12-07T03:00:00.000Z");
        assert_eq!(body["data"]["loginId"], "alice01");
        assert_ne!(body["data"]["clientAddress"], "203.0.113.77");
        assert!(
            body["data"]["clientAddress"]
                .as_str()
                .unwrap()
                .starts_with("203.0.113.")
        );
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert!(WebhookSecret::parse(SECRET).is_ok());
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Format)
        );
        assert_eq!(WebhookSecret::parse("whsec_!!"), Err(SecretError::Format));
        assert_eq!(WebhookSecret::parse("whsec_c2hvcnQ="), Err(SecretError::Length));
        assert!(!format!("{:?}", WebhookSecret::parse(SECRET).unwrap()).contains("MfKQ"));
        // What is stored parses back to the same secret; a generated one is new each time.
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(WebhookSecret::parse(&secret.expose()), Ok(secret));
        let generated = WebhookSecret::generate();
        assert_ne!(generated, WebhookSecret::generate());
        assert_eq!(WebhookSecret::parse(&generated.expose()), Ok(generated));
    }

    #[test]
    fn audited_changes_are_the_events_the_host_hears() {
        use AuditKind as K;
        use AuditOutcome as O;
        let cases = [
            (K::PasswordReset, O::Ok, Some(EventType::PasswordReset)),
            (K::PasswordChanged, O::Changed, Some(EventType::PasswordChanged)),
            (K::PasswordChanged, O::Extended, Some(EventType::PasswordExtended)),
            (K::ChangeReported, O::MailQueued, Some(EventType::ChangeReported)),
            (
                K::RecoveryCodesGenerated,
                O::Ok,
                Some(EventType::RecoveryCodesGenerated),
            ),
            (
                K::RecoveryCodeUsed,
                O::RecoveryCode,
                Some(EventType::RecoveryCodeUsed),
            ),
            (K::MemberWithdrawn, O::Ok, Some(EventType::Withdrawn)),
            // Attempts, requests and the host's own provisioning are not events.
            (K::ResetRequested, O::MailQueued, None),
            (K::FailedAttempt, O::WrongCode, None),
            (K::SignedIn, O::Ok, None),
            (K::MemberProvisioned, O::Ok, None),
            (K::MemberUpdated, O::Ok, None),
        ];
        for (kind, outcome, event) in cases {
            assert_eq!(EventType::for_audit(kind, outcome), event, "{kind:?} {outcome:?}");
        }
        // Every event is some audited change.
        for event in EventType::ALL {
            assert!(
                AuditKind::ALL.iter().any(|k| AuditOutcome::ALL
                    .iter()
                    .any(|o| EventType::for_audit(*k, *o) == Some(event))),
                "{event:?}"
            );
        }
    }

    #[test]
    fn event_lists_name_known_events() {
        assert_eq!(
            EventType::parse_list("member.password.reset, member.withdrawn"),
            Ok(vec![EventType::PasswordReset, EventType::Withdrawn])
        );
        assert_eq!(EventType::parse_list(""), Ok(vec![]));
        let refused = EventType::parse_list("member.password.reset member.deleted").unwrap_err();
        assert!(
            refused.contains("member.deleted") && refused.contains("member.withdrawn"),
            "{refused}"
        );
    }

    #[test]
    fn targets_on_private_networks_are_refused_unless_allowed() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        for refused in [
            "http://127.0.0.1:9000/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://172.16.5.4/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[fd00::1]/hook",
            "http://[fe80::1]/hook",
            "http://[::ffff:10.0.0.1]/hook",
            "http://0.0.0.0/hook",
            "http://100.64.0.1/hook",
            "http://localhost:8080/hook",
        ] {
            assert_eq!(
                check_target(&url(refused), false),
                Err(TargetRefusal::Private),
                "{refused}"
            );
            assert_eq!(check_target(&url(refused), true), Ok(()), "{refused} allowed");
        }
        for public in [
            "https://hooks.example.com/recovery",
            "https://203.0.114.9/hook",
            "http://[2001:db9::1]/x",
        ] {
            assert_eq!(check_target(&url(public), false), Ok(()), "{public}");
        }
        assert_eq!(
            check_target(&url("ftp://example.com/x"), true),
            Err(TargetRefusal::NotHttp)
        );
    }
}
