//! Password-reset grants: the secrets handed to a member (link token, 6-digit code), their hashes,
//! and what a grant is for. Only hashes are ever stored.
use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};

use super::{
    email::Email,
    key_id::Purpose,
    keyed_hash::{KeyedHasher, hex},
    login_id::LoginId,
    member::MemberId,
    opaque_token::opaque_token,
    site::SiteId,
};

opaque_token!(
    /// A reset token (mailed link, identity path, or exchanged for a code). Never printed.
    ResetToken
);

/// A 6-digit code, uniformly random. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ResetCode(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a code is 6 digits")]
pub struct CodeFormatError;

impl ResetCode {
    pub fn generate() -> ResetCode {
        ResetCode(format!("{:06}", rand::random_range(0..1_000_000u32)))
    }

    pub fn parse(raw: &str) -> Result<ResetCode, CodeFormatError> {
        let raw = raw.trim();
        if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(ResetCode(raw.to_owned()))
        } else {
            Err(CodeFormatError)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Keyed and bound to the member: a million possible codes must not be reversible from a
    /// stored hash, nor valid for another member.
    pub fn hash(&self, keys: &KeyedHasher, owner: &GrantOwner) -> CodeHash {
        CodeHash(hex(&keys.mac(
            Purpose::Code,
            "reset-code",
            &[
                owner.site.as_str().as_bytes(),
                owner.member.0.as_bytes(),
                self.0.as_bytes(),
            ],
        )))
    }
}

impl ResetCode {
    /// Keyed and bound to what the caller typed (site + identifier), not to a member: computable
    /// before anyone knows whom the identifier names, so a wrong code costs the same whoever it is.
    pub fn index_hash(&self, keys: &KeyedHasher, identifier: &IdentifierKey) -> CodeHash {
        CodeHash(hex(&keys.mac(
            Purpose::Code,
            "reset-code-index",
            &[
                identifier.site.as_str().as_bytes(),
                identifier.kind.code().as_bytes(),
                identifier.value.as_bytes(),
                self.0.as_bytes(),
            ],
        )))
    }
}

/// Which identifier a code is typed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    Email,
    Login,
}

impl IdentifierKind {
    pub fn code(self) -> &'static str {
        match self {
            IdentifierKind::Email => "email",
            IdentifierKind::Login => "login",
        }
    }
}

/// An identifier as typed, normalised: site + e-mail or login ID. Wrong codes are counted per
/// identifier key, whether or not it names an account, so no count tells an account apart; the
/// codes of the grants mailed for it are indexed under it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifierKey {
    pub site: SiteId,
    pub kind: IdentifierKind,
    /// The normalised e-mail or login ID.
    pub value: String,
}

impl IdentifierKey {
    pub fn email(site: &SiteId, email: &Email) -> IdentifierKey {
        IdentifierKey {
            site: site.clone(),
            kind: IdentifierKind::Email,
            value: email.as_str().to_owned(),
        }
    }

    pub fn login(site: &SiteId, id: &LoginId) -> IdentifierKey {
        IdentifierKey {
            site: site.clone(),
            kind: IdentifierKind::Login,
            value: id.normalized(),
        }
    }

    /// The identifier's own slot (Redis hash tag): its failure counter and code index live there.
    pub fn tag(&self) -> String {
        format!("{}:{}:{}", self.site, self.kind.code(), self.value)
    }

    /// What the audit stores for an attempt made with this identifier: a keyed hash, never the
    /// identifier in clear, so the owner's activity can list strangers' attempts against it.
    pub fn audit_key(&self, keys: &KeyedHasher) -> String {
        hex(&keys.mac(
            Purpose::Identifier,
            "audit-identifier",
            &[
                self.site.as_str().as_bytes(),
                self.kind.code().as_bytes(),
                self.value.as_bytes(),
            ],
        ))
    }
}

/// An index entry of a mailed grant: its code, hashed for one identifier of the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedCode {
    pub identifier: IdentifierKey,
    pub code: CodeHash,
}

impl fmt::Debug for ResetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetCode([redacted])")
    }
}

/// The stored form of a token (defined with the tokens, named here with the grants it finds).
pub use super::opaque_token::TokenHash;

/// A one-time proof's name in the token store (a SHA-256 in hex, so no proof text is stored):
/// spent once, it stays spent for as long as the proof could be presented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OnceKey(pub String);

impl OnceKey {
    /// The key of `parts` (each length-prefixed, so no two lists collide) under `kind`.
    pub fn of(kind: &str, parts: &[&str]) -> OnceKey {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for part in std::iter::once(kind).chain(parts.iter().copied()) {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        OnceKey(hex(&digest.finalize()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeHash(pub String);

/// Whose grant: a member of a site. Grants, counters and sessions of one member live together
/// (one Redis hash tag), so one atomic operation can touch them all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GrantOwner {
    pub site: SiteId,
    pub member: MemberId,
}

impl GrantOwner {
    pub fn tag(&self) -> String {
        format!("{}:{}", self.site, self.member.0)
    }

    pub fn parse_tag(tag: &str) -> Option<GrantOwner> {
        let (site, member) = tag.split_once(':')?;
        Some(GrantOwner {
            site: SiteId::parse(site).ok()?,
            member: MemberId(member.to_owned()),
        })
    }
}

/// What a grant may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantPurpose {
    /// Mailed: a link token and a code for the same grant.
    Email,
    /// Returned directly after an identity check.
    Direct,
    /// Given in exchange for a right code: resets that member's password and nothing else.
    Exchanged,
}

impl GrantPurpose {
    pub fn code(self) -> &'static str {
        match self {
            GrantPurpose::Email => "email",
            GrantPurpose::Direct => "direct",
            GrantPurpose::Exchanged => "exchanged",
        }
    }

    pub fn from_code(code: &str) -> Option<GrantPurpose> {
        [GrantPurpose::Email, GrantPurpose::Direct, GrantPurpose::Exchanged]
            .into_iter()
            .find(|p| p.code() == code)
    }
}

/// A grant to store; it replaces any earlier grant of the same owner.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub id: String,
    pub purpose: GrantPurpose,
    pub token: TokenHash,
    pub code: Option<CodeHash>,
    pub ttl: Duration,
    /// Where the code is found from what the caller types (e-mail, login ID): written with the
    /// grant, for its ttl. A newer grant makes these entries stale (they name a dead grant id).
    pub code_index: Vec<IndexedCode>,
}

impl NewGrant {
    pub fn new(purpose: GrantPurpose, token: TokenHash, code: Option<CodeHash>, ttl: Duration) -> NewGrant {
        NewGrant {
            id: uuid::Uuid::new_v4().simple().to_string(),
            purpose,
            token,
            code,
            ttl,
            code_index: Vec::new(),
        }
    }

    /// The same grant, its code findable under `entries`.
    pub fn indexed_under(mut self, entries: Vec<IndexedCode>) -> NewGrant {
        self.code_index = entries;
        self
    }
}

/// A live grant as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantInfo {
    pub id: String,
    pub purpose: GrantPurpose,
    pub expires_at: DateTime<Utc>,
}

/// How many wrong codes are tolerated, per identifier as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Wrong codes per identifier within `window`; the limit-th answers `TooMany`, and from then on
    /// no code is even looked at (checking it would give unlimited guesses).
    pub per_identifier: u32,
    /// Starts with the first failure and outlives a grant, so asking for a new code never resets it.
    pub window: Duration,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        AttemptLimits {
            per_identifier: 5,
            window: Duration::from_secs(3600),
        }
    }
}

/// What a code typed with an identifier leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeLookup {
    /// The code of a grant mailed for this identifier (which may since have been replaced: the
    /// owner's slot decides). No failure counted.
    /// `matched` is the position, among the hashes asked about, of the one found.
    Found {
        owner: GrantOwner,
        grant_id: String,
        matched: usize,
    },
    /// Not a code of this identifier: one failure counted.
    Wrong,
    /// The identifier's failures are at the limit.
    TooMany,
}

/// An attempt at a code checked outside the token store (a recovery code), counted against the
/// identifier's wrong-code budget before the code is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeAttempt {
    /// The identifier's failures are at the limit: nothing counted, the code must not be looked at.
    TooMany,
    /// One failure counted; `last` when it reached the limit (a wrong code then answers `TooMany`).
    /// A right code gives it back.
    Counted { last: bool },
}

/// The outcome of issuing a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    Issued,
    /// A grant was issued within the cooldown: nothing changed.
    CoolingDown,
}

/// What proves the right to spend a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantProof {
    Token(TokenHash),
    Code(CodeHash),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(member: &str) -> GrantOwner {
        GrantOwner {
            site: SiteId::parse("main").unwrap(),
            member: MemberId(member.into()),
        }
    }

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = ResetToken::generate();
        let b = ResetToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(ResetToken::parse(a.expose()).unwrap(), a);
        assert_eq!(a.hash(), ResetToken::parse(a.expose()).unwrap().hash());
        assert!(!format!("{a:?}").contains(a.expose()));
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", &"a".repeat(42)),
            &"é".repeat(43),
        ] {
            assert!(ResetToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn codes_are_six_digits_and_bound_to_their_member() {
        for _ in 0..100 {
            let code = ResetCode::generate();
            assert_eq!(code.expose().len(), 6);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
        let keys = KeyedHasher::new(b"k");
        let code = ResetCode::parse("012345").unwrap();
        assert_ne!(code.hash(&keys, &owner("a")), code.hash(&keys, &owner("b")));
        assert_ne!(
            code.hash(&keys, &owner("a")),
            code.hash(&KeyedHasher::new(b"other"), &owner("a"))
        );
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert!(ResetCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{code:?}").contains("012345"));
    }

    #[test]
    fn index_hashes_are_bound_to_the_identifier_as_typed() {
        let keys = KeyedHasher::new(b"k");
        let site = SiteId::parse("main").unwrap();
        let code = ResetCode::parse("012345").unwrap();
        let email = IdentifierKey::email(&site, &Email::parse("Alice@Example.com").unwrap());
        let same_email = IdentifierKey::email(&site, &Email::parse(" alice@example.com").unwrap());
        let login = IdentifierKey::login(&site, &LoginId::parse("alice01").unwrap());
        let other_site = IdentifierKey::email(
            &SiteId::parse("other").unwrap(),
            &Email::parse("alice@example.com").unwrap(),
        );
        assert_eq!(
            code.index_hash(&keys, &email),
            code.index_hash(&keys, &same_email)
        );
        assert_ne!(code.index_hash(&keys, &email), code.index_hash(&keys, &login));
        assert_ne!(
            code.index_hash(&keys, &email),
            code.index_hash(&keys, &other_site)
        );
        assert_ne!(
            code.index_hash(&keys, &email),
            ResetCode::parse("012346").unwrap().index_hash(&keys, &email)
        );
        assert_ne!(email.tag(), login.tag());
        assert_eq!(email.audit_key(&keys), same_email.audit_key(&keys));
        assert_ne!(email.audit_key(&keys), login.audit_key(&keys));
        assert_ne!(email.audit_key(&keys), other_site.audit_key(&keys));
        assert!(!email.audit_key(&keys).contains("alice"));
    }

    #[test]
    fn owner_tags_round_trip() {
        let o = owner("5b0c7e0e-1111-4444-8888-123456789abc");
        assert_eq!(GrantOwner::parse_tag(&o.tag()), Some(o));
        assert_eq!(GrantOwner::parse_tag("no-colon"), None);
    }
}
