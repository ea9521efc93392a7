//! Whom a call is about, for the per-target limits: normalised identifiers, and only keyed hashes
//! of identity values.
use crate::domain::{email::Email, login_id::LoginId, member::MemberId, site::SiteId};

pub fn email(site: &SiteId, email: &Email) -> String {
    format!("{site}:email:{}", email.as_str())
}

pub fn login(site: &SiteId, id: &LoginId) -> String {
    format!("{site}:login:{}", id.normalized())
}

/// A member, whatever login ID or address the call named.
pub fn member(site: &SiteId, id: &MemberId) -> String {
    format!("{site}:member:{}", id.0)
}

/// `identity_key` is the keyed hash of the identity value, never the value itself.
pub fn identity(site: &SiteId, identity_key: &str) -> String {
    format!("{site}:ci:{identity_key}")
}
