//! Members as recovery sees them: kinds, statuses and the facts recovery decides on.
use std::fmt;

use chrono::{DateTime, Utc};

use super::{
    email::Email, keyed_hash::StoredCiHash, login_id::LoginId, password_policy::PasswordPolicy, site::SiteId,
};

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in the database and accepted on import.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// Parses a stored or imported code (case-insensitive).
            pub fn from_code(code: &str) -> Option<$name> {
                $(if code.eq_ignore_ascii_case($code) { return Some($name::$variant); })+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

code_enum!(
    /// How the member joined: a password account or one of the external kinds.
    MemberType { General => "GENERAL", Social => "SOCIAL", Enterprise => "ENTERPRISE", Union => "UNION" }
);
code_enum!(
    /// Nationality class used by the identity check.
    JoinType { Citizen => "CITIZEN", Foreign => "FOREIGN" }
);
code_enum!(
    /// Account state; only ACTIVE members can recover.
    MemberStatus { Active => "ACTIVE", Locked => "LOCKED", Dormant => "DORMANT", Withdrawn => "WITHDRAWN" }
);

/// A stored password hash (PHC argon2 or legacy bcrypt). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredHash(pub String);

impl fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredHash([redacted])")
    }
}

/// Opaque member identifier (a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberId(pub String);

#[derive(Debug, Clone)]
pub struct Member {
    pub id: MemberId,
    pub site_id: SiteId,
    pub login_id: LoginId,
    pub email: Email,
    pub name: String,
    pub member_type: MemberType,
    pub join_type: JoinType,
    pub ci_hash: Option<StoredCiHash>,
    pub password_hash: Option<StoredHash>,
    pub password_changed_at: Option<DateTime<Utc>>,
    pub joined_at: DateTime<Utc>,
    pub status: MemberStatus,
    /// The member reported a password change they did not make: password sign-in is refused
    /// until the next reset.
    pub sign_in_locked: bool,
    /// Earlier password hashes, newest first, when the lookup read them too (by id: the member of
    /// a reset or a change, whose new password is checked for reuse); `None` when it did not.
    pub password_history: Option<Vec<StoredHash>>,
}

impl Member {
    /// A member can reset or change a password only when active and holding a password
    /// (social members sign in elsewhere).
    pub fn can_reset_password(&self) -> bool {
        self.status == MemberStatus::Active
            && self.member_type != MemberType::Social
            && self.password_hash.is_some()
    }

    /// When the member's password stops being valid under `policy`.
    pub fn password_expires_at(&self, policy: &PasswordPolicy) -> DateTime<Utc> {
        self.password_changed_at.unwrap_or(self.joined_at)
            + chrono::Duration::days(i64::from(policy.expires_after_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(member_type: MemberType, status: MemberStatus, hash: bool) -> Member {
        Member {
            id: MemberId("id".into()),
            site_id: SiteId::parse("main").unwrap(),
            login_id: LoginId::parse("alice").unwrap(),
            email: Email::parse("alice@example.com").unwrap(),
            name: "Alice".into(),
            member_type,
            join_type: JoinType::Citizen,
            ci_hash: None,
            password_hash: hash.then(|| StoredHash("$argon2id$...".into())),
            password_changed_at: None,
            joined_at: Utc::now(),
            status,
            sign_in_locked: false,
            password_history: None,
        }
    }

    #[test]
    fn only_active_password_members_can_reset() {
        assert!(member(MemberType::General, MemberStatus::Active, true).can_reset_password());
        assert!(member(MemberType::Enterprise, MemberStatus::Active, true).can_reset_password());
        assert!(!member(MemberType::Social, MemberStatus::Active, false).can_reset_password());
        assert!(!member(MemberType::General, MemberStatus::Locked, true).can_reset_password());
        assert!(!member(MemberType::General, MemberStatus::Dormant, true).can_reset_password());
        assert!(!member(MemberType::General, MemberStatus::Withdrawn, true).can_reset_password());
        assert!(!member(MemberType::General, MemberStatus::Active, false).can_reset_password());
    }

    #[test]
    fn codes_round_trip() {
        for t in MemberType::ALL {
            assert_eq!(MemberType::from_code(t.code()), Some(*t));
        }
        for s in MemberStatus::ALL {
            assert_eq!(MemberStatus::from_code(&s.code().to_lowercase()), Some(*s));
        }
        assert_eq!(JoinType::from_code("foreign"), Some(JoinType::Foreign));
        assert_eq!(JoinType::from_code("alien"), None);
    }

    #[test]
    fn stored_hash_is_never_printed() {
        let m = member(MemberType::General, MemberStatus::Active, true);
        assert!(!format!("{m:?}").contains("argon2"));
    }
}
