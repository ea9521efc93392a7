//! GraphQL object, input and enum types, and their conversions from the domain.
use super::{errors::UserError, scalars::DateTime};
use crate::{
    domain::{member, password_policy},
    recovery::find_id,
};
use async_graphql::{Enum, InputObject, OneofObject, SimpleObject};

/// What kind of account a member holds.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberType {
    /// A regular account with a login ID and password.
    General,
    /// An account that signs in through a social provider; it has no password.
    Social,
    /// A business account.
    Enterprise,
    /// A union (association) member account.
    Union,
}

/// Nationality class reported by the identity check.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    /// A citizen.
    Citizen,
    /// A foreign resident.
    Foreign,
}

/// State of an account; only ACTIVE accounts can recover.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// In use.
    Active,
    /// Locked by an administrator or by security rules.
    Locked,
    /// Unused for a long time and set aside.
    Dormant,
    /// Closed by the member.
    Withdrawn,
}

impl From<member::MemberType> for MemberType {
    fn from(t: member::MemberType) -> Self {
        match t {
            member::MemberType::General => MemberType::General,
            member::MemberType::Social => MemberType::Social,
            member::MemberType::Enterprise => MemberType::Enterprise,
            member::MemberType::Union => MemberType::Union,
        }
    }
}

impl From<JoinType> for member::JoinType {
    fn from(t: JoinType) -> Self {
        match t {
            JoinType::Citizen => member::JoinType::Citizen,
            JoinType::Foreign => member::JoinType::Foreign,
        }
    }
}

impl From<member::MemberStatus> for MemberStatus {
    fn from(s: member::MemberStatus) -> Self {
        match s {
            member::MemberStatus::Active => MemberStatus::Active,
            member::MemberStatus::Locked => MemberStatus::Locked,
            member::MemberStatus::Dormant => MemberStatus::Dormant,
            member::MemberStatus::Withdrawn => MemberStatus::Withdrawn,
        }
    }
}

/// The result of an identity check by the identity-verification provider.
#[derive(InputObject, Debug)]
pub struct IdentityInput {
    /// The provider's identity value (`ci`). Secret: never logged or stored in clear.
    #[graphql(secret)]
    pub ci: String,
    /// Nationality class reported by the provider.
    pub join_type: JoinType,
}

/// How to find forgotten login IDs: exactly one of the fields.
#[derive(OneofObject, Debug)]
pub enum FindIdBy {
    /// The e-mail address of the account(s).
    Email(String),
    /// A just-passed identity check; the answer includes the member's name.
    Identity(IdentityInput),
}

/// An account found by `findId`. The login ID is masked.
#[derive(SimpleObject, Debug, Clone)]
pub struct FoundAccount {
    /// The login ID with all but its first two and last two characters replaced by `*`.
    pub masked_login_id: String,
    /// Kind of account.
    pub member_type: MemberType,
    /// When the member joined.
    pub joined_at: DateTime,
    /// The member's name; only when found by identity.
    pub name: Option<String>,
}

impl From<find_id::FoundAccount> for FoundAccount {
    fn from(a: find_id::FoundAccount) -> Self {
        FoundAccount {
            masked_login_id: a.masked_login_id,
            member_type: a.member_type.into(),
            joined_at: a.joined_at.into(),
            name: a.name,
        }
    }
}

/// Result of `findId`.
#[derive(SimpleObject, Debug, Default)]
pub struct FindIdPayload {
    /// Every matching account (empty when none, or when `errors` is not empty).
    pub accounts: Vec<FoundAccount>,
    /// Problems with the input; empty on success.
    pub errors: Vec<UserError>,
}

/// Result of `checkLoginId`.
#[derive(SimpleObject, Debug, Default)]
pub struct CheckLoginIdPayload {
    /// Whether an account with this login ID exists on the site.
    pub exists: bool,
    /// Kind of account, when it exists.
    pub member_type: Option<MemberType>,
    /// Whether this account can reset its password (active, and not a social account).
    pub can_reset_password: bool,
    /// The account's e-mail address, masked, when it exists.
    pub masked_email: Option<String>,
    /// Problems with the input; empty on success.
    pub errors: Vec<UserError>,
}

impl From<find_id::LoginIdCheck> for CheckLoginIdPayload {
    fn from(c: find_id::LoginIdCheck) -> Self {
        CheckLoginIdPayload {
            exists: c.exists,
            member_type: c.member_type.map(Into::into),
            can_reset_password: c.can_reset_password,
            masked_email: c.masked_email,
            errors: Vec::new(),
        }
    }
}

/// The password rules of a site, so a client can validate as the user types.
#[derive(SimpleObject, Debug)]
#[graphql(name = "PasswordPolicy")]
pub struct PasswordPolicyView {
    /// Fewest characters allowed (after Unicode NFKC normalisation).
    pub min_length: i32,
    /// Most characters allowed.
    pub max_length: i32,
    /// Whether spaces and other whitespace are refused.
    pub forbid_whitespace: bool,
    /// Longest run of sequential characters allowed (`2` refuses `123`, `abc`, `cba`); 0 = no rule.
    pub max_sequential_run: i32,
    /// Longest run of one repeated character allowed (`2` refuses `aaa`); 0 = no rule.
    pub max_repeated_run: i32,
    /// How many earlier passwords (besides the current one) may not be reused.
    pub history_size: i32,
    /// Days after which a password counts as expired.
    pub expires_after_days: i32,
}

fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl From<password_policy::PasswordPolicy> for PasswordPolicyView {
    fn from(p: password_policy::PasswordPolicy) -> Self {
        PasswordPolicyView {
            min_length: clamp(p.min_length),
            max_length: clamp(p.max_length),
            forbid_whitespace: p.forbid_whitespace,
            max_sequential_run: clamp(p.max_sequential_run),
            max_repeated_run: clamp(p.max_repeated_run),
            history_size: clamp(p.history_size),
            expires_after_days: i32::try_from(p.expires_after_days).unwrap_or(i32::MAX),
        }
    }
}
