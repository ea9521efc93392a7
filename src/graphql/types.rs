//! GraphQL object, input and enum types, and their conversions from the domain.
use super::{
    enums::{JoinType, MemberStatus, MemberType},
    errors::UserError,
    scalars::DateTime,
};
use crate::{
    domain::{member, password_policy, session::SessionInfo},
    recovery::find_id,
};
use async_graphql::{Enum, InputObject, OneofObject, SimpleObject};

pub use super::activity::{PageInfo, RecoveryEvent, RecoveryEventConnection, RecoveryEventEdge};

/// The result of an identity check by the identity-verification provider.
#[derive(InputObject, Debug)]
pub struct IdentityInput {
    /// The provider's identity value (`ci`). Secret: never logged or stored in clear.
    #[graphql(secret)]
    pub ci: String,
    /// Nationality class reported by the provider.
    pub join_type: JoinType,
}

/// A signed identity assertion from the host's back end, for `findId`.
#[derive(InputObject, Debug)]
pub struct VerifiedIdentityInput {
    /// A compact JWS (`typ: idv+jwt`, EdDSA or ES256) with `purpose: find_id`, `ci` and `join_type`,
    /// signed by a key of `IDENTITY_ASSERTION_JWKS`. Works once. Secret: never logged.
    #[graphql(secret)]
    pub assertion: String,
}

/// A PortOne V2 identity verification, for `findId`.
#[derive(InputObject, Debug)]
pub struct PortoneIdentityInput {
    /// The id PortOne's browser SDK returned for a finished identity check; the service reads the
    /// result from PortOne itself. Works once, within 300 s of the check. Secret: never logged.
    #[graphql(secret)]
    pub identity_verification_id: String,
}

/// How to find forgotten login IDs: exactly one of the fields.
#[derive(OneofObject, Debug)]
pub enum FindIdBy {
    /// The e-mail address of the account(s).
    Email(String),
    /// A signed assertion of a just-passed identity check; the answer includes the member's name.
    VerifiedIdentity(VerifiedIdentityInput),
    /// A PortOne V2 identity verification that just succeeded; the answer includes the member's name.
    PortoneIdentity(PortoneIdentityInput),
    /// A raw identity value (development only: refused with `IDENTITY_UNVERIFIED` unless
    /// `IDENTITY_RAW_CI` is on); the answer includes the member's name.
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

/// Who the reset is for: exactly one of the fields.
#[derive(OneofObject, Debug)]
pub enum ResetRequest {
    /// Mail a link and code for every password account of this address.
    Email(String),
    /// Mail a link and code for this account, if the address is its own.
    Account(AccountInput),
    /// A signed assertion of a just-passed identity check: the token is returned directly.
    VerifiedIdentity(VerifiedIdentityResetInput),
    /// A PortOne V2 identity verification that just succeeded: the token is returned directly.
    PortoneIdentity(PortoneIdentityResetInput),
    /// A raw identity value (development only: refused with `IDENTITY_UNVERIFIED` unless
    /// `IDENTITY_RAW_CI` is on): the token is returned directly.
    Identity(IdentityResetInput),
}

/// A login ID with a signed identity assertion of its owner.
#[derive(InputObject, Debug)]
pub struct VerifiedIdentityResetInput {
    /// The account's login ID.
    pub login_id: String,
    /// A compact JWS (`typ: idv+jwt`, EdDSA or ES256) with `purpose: reset_password` and `ci`,
    /// signed by a key of `IDENTITY_ASSERTION_JWKS`. Works once. Secret: never logged.
    #[graphql(secret)]
    pub assertion: String,
}

/// A login ID with a PortOne V2 identity verification of its owner.
#[derive(InputObject, Debug)]
pub struct PortoneIdentityResetInput {
    /// The account's login ID.
    pub login_id: String,
    /// The id PortOne's browser SDK returned for a finished identity check; the service reads the
    /// result from PortOne itself. Works once, within 300 s of the check. Secret: never logged.
    #[graphql(secret)]
    pub identity_verification_id: String,
}

/// A login ID with the e-mail address it should have.
#[derive(InputObject, Debug)]
pub struct AccountInput {
    /// The account's login ID.
    pub login_id: String,
    /// The account's e-mail address.
    pub email: String,
}

/// A login ID with the identity value of a just-passed identity check.
#[derive(InputObject, Debug)]
pub struct IdentityResetInput {
    /// The account's login ID.
    pub login_id: String,
    /// The identity provider's value (`ci`). Secret: never logged or stored in clear.
    #[graphql(secret)]
    pub ci: String,
}

/// What proves the right to reset: exactly one of the fields.
#[derive(OneofObject, Debug)]
pub enum ResetCredential {
    /// A reset token: from the mailed link, the identity path, or a verified code.
    #[graphql(secret)]
    Token(String),
    /// The mailed 6-digit code with the address or login ID it was sent for.
    Code(CodeInput),
    /// A saved recovery code (from `generateRecoveryCodes`) with the account's login ID: for a
    /// member who cannot read the mailbox. Each code works once.
    RecoveryCode(RecoveryCodeInput),
}

/// A saved recovery code and the login ID of its account.
#[derive(InputObject, Debug)]
pub struct RecoveryCodeInput {
    /// The login ID of the account the code belongs to.
    pub login_id: String,
    /// The recovery code as printed (`XXXX-XXXX-XXXX-XX`); case, spaces and hyphens do not matter,
    /// and O reads as 0, I and L as 1.
    #[graphql(secret)]
    pub code: String,
}

/// A mailed code and whose it is: give `email` or `loginId`, not both.
#[derive(InputObject, Debug)]
pub struct CodeInput {
    /// The address the code was mailed to.
    pub email: Option<String>,
    /// The login ID the code was mailed for.
    pub login_id: Option<String>,
    /// The 6-digit code.
    #[graphql(secret)]
    pub code: String,
}

/// A new password with the credential that allows setting it.
#[derive(InputObject, Debug)]
pub struct ResetPasswordInput {
    /// The reset token, or the mailed code.
    pub credential: ResetCredential,
    /// The new password; see `passwordPolicy` for the rules.
    #[graphql(secret)]
    pub new_password: String,
    /// The new password typed again; when given, it must equal `newPassword`.
    #[graphql(secret)]
    pub new_password_confirmation: Option<String>,
}

/// How the reset grant reaches the member.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryChannel {
    /// A mail with a link and a 6-digit code.
    Email,
    /// The token is in this response (after an identity check).
    Direct,
}

/// Result of `issueResetToken`. On the e-mail paths it is the same whether or not an account
/// matched, so it reveals nothing.
#[derive(SimpleObject, Debug, Default)]
pub struct IssueResetTokenPayload {
    /// Whether the request was taken (true on the e-mail paths even when nothing matched).
    pub accepted: bool,
    /// How the grant is delivered.
    pub channel: Option<DeliveryChannel>,
    /// The address typed by the caller, masked (e-mail paths).
    pub masked_destination: Option<String>,
    /// When a directly returned token expires (identity path).
    pub expires_at: Option<DateTime>,
    /// How long a mailed link and code stay valid, in seconds (e-mail paths).
    pub expires_in_seconds: Option<i32>,
    /// The reset token (identity path only).
    pub token: Option<String>,
    /// Kind of account (identity path only).
    pub member_type: Option<MemberType>,
    /// Problems with the input; empty on success.
    pub errors: Vec<UserError>,
}

/// Result of `verifyResetToken`.
#[derive(SimpleObject, Debug, Default)]
pub struct VerifyResetTokenPayload {
    /// Whether the credential is valid now.
    pub valid: bool,
    /// The token to pass to `resetPassword`: the same token, or for a code a new reset-only token.
    pub token: Option<String>,
    /// When that token expires.
    pub expires_at: Option<DateTime>,
    /// The login ID the credential is for, masked.
    pub masked_login_id: Option<String>,
    /// Why the credential is not valid; empty when it is.
    pub errors: Vec<UserError>,
}

/// A member's own view of their account.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct MemberProfile {
    /// Opaque member identifier.
    pub id: async_graphql::ID,
    /// The login ID, in full (the caller proved they own the account).
    pub login_id: String,
    /// The member's name.
    pub name: String,
    /// The account's e-mail address, masked.
    pub masked_email: String,
    /// Kind of account.
    pub member_type: MemberType,
    /// State of the account.
    pub status: MemberStatus,
    /// When the member joined.
    pub joined_at: DateTime,
    /// When the password was last set.
    pub password_changed_at: Option<DateTime>,
    /// How many signed-in sessions the member has now.
    pub active_sessions: i32,
    /// The member as this request read it, for the fields resolved from it.
    #[graphql(skip)]
    pub(crate) member: member::Member,
    /// The session that read it (`me`), so its fields need not look the bearer up again.
    #[graphql(skip)]
    pub(crate) viewer: Option<SessionInfo>,
}

/// Result of `generateRecoveryCodes`.
#[derive(SimpleObject, Debug, Default)]
pub struct GenerateRecoveryCodesPayload {
    /// The new recovery codes (`XXXX-XXXX-XXXX-XX`), shown only this once: each resets the
    /// password once, without the mailbox. Every earlier code stopped working.
    pub codes: Option<Vec<String>>,
    /// Why no codes were made (NOT_ELIGIBLE: the session is not elevated — `reauthenticate` first;
    /// SOCIAL_ACCOUNT); empty on success.
    pub errors: Vec<UserError>,
}

impl MemberProfile {
    pub fn new(m: &member::Member, active_sessions: u32) -> Self {
        MemberProfile {
            active_sessions: i32::try_from(active_sessions).unwrap_or(i32::MAX),
            ..MemberProfile::from(m)
        }
    }

    /// The signed-in member as `viewer` sees them.
    pub fn of_viewer(m: &member::Member, active_sessions: u32, viewer: SessionInfo) -> Self {
        MemberProfile {
            viewer: Some(viewer),
            ..MemberProfile::new(m, active_sessions)
        }
    }
}

impl From<&member::Member> for MemberProfile {
    fn from(m: &member::Member) -> Self {
        MemberProfile {
            active_sessions: 0,
            id: async_graphql::ID(m.id.0.clone()),
            login_id: m.login_id.as_str().to_owned(),
            name: m.name.clone(),
            masked_email: crate::domain::masking::mask_email(m.email.as_str()),
            member_type: m.member_type.into(),
            status: m.status.into(),
            joined_at: m.joined_at.into(),
            password_changed_at: m.password_changed_at.map(Into::into),
            member: m.clone(),
            viewer: None,
        }
    }
}

/// Result of `resetPassword`.
#[derive(SimpleObject, Debug, Default)]
pub struct ResetPasswordPayload {
    /// The member whose password was reset.
    pub member: Option<MemberProfile>,
    /// Why nothing was changed; empty on success. Every violated password rule is listed.
    pub errors: Vec<UserError>,
}

/// Result of `reportUnrecognizedChange`.
#[derive(SimpleObject, Debug, Default)]
pub struct ReportUnrecognizedChangePayload {
    /// True when every session and reset link of the account was revoked, password sign-in is
    /// locked until the next reset, and a fresh reset link and code were mailed.
    pub locked: bool,
    /// Where the fresh reset link and code were sent, masked.
    pub masked_destination: Option<String>,
    /// Why nothing was done (INVALID_TOKEN: unknown, used or expired); empty on success.
    pub errors: Vec<UserError>,
}

/// Result of `signIn`.
#[derive(SimpleObject, Debug, Default)]
pub struct SignInPayload {
    /// The bearer token for `Authorization: Bearer …`.
    pub access_token: Option<String>,
    /// When the session ends.
    pub expires_at: Option<DateTime>,
    /// The password is older than the policy allows: offer `changePassword` (EXTEND or a change).
    pub password_expired: bool,
    /// The signed-in member.
    pub member: Option<MemberProfile>,
    /// This device's token: keep it and send it as the header `X-Device-Token` on later calls
    /// (sign-in, reset requests, codes), which then count against this device instead of the
    /// member's limits that strangers can spend. Valid for DEVICE_TOKEN_TTL_SECS (180 days); a
    /// device that sends its token when signing in gets the same one back, renewed.
    pub device_token: Option<String>,
    /// Why sign-in failed; empty on success.
    pub errors: Vec<UserError>,
}

/// Result of `reauthenticate`.
#[derive(SimpleObject, Debug, Default)]
pub struct ReauthenticatePayload {
    /// Until when the session may change the password without the current one.
    pub elevated_until: Option<DateTime>,
    /// Why it failed; empty on success.
    pub errors: Vec<UserError>,
}

/// How the password is changed: extended as it is, replaced without the current one, or replaced
/// with it.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::recovery::password_change::ChangeMode")]
pub enum ChangePasswordMode {
    /// Keep the current password and restart its expiry clock; only once it has expired.
    Extend,
    /// Set a new password without the current one; only in an elevated session (the first
    /// sign-in after a reset, or within 10 minutes of `reauthenticate`).
    WithoutCurrent,
    /// Set a new password, proving the current one.
    WithCurrent,
}

/// What `changePassword` should do.
#[derive(InputObject, Debug)]
pub struct ChangePasswordInput {
    /// How to change it.
    pub mode: ChangePasswordMode,
    /// The current password (WITH_CURRENT).
    #[graphql(secret)]
    pub current_password: Option<String>,
    /// The new password (WITHOUT_CURRENT, WITH_CURRENT).
    #[graphql(secret)]
    pub new_password: Option<String>,
    /// Sign out every other session of the member (default true; null also means true).
    #[graphql(default_with = "Some(true)")]
    pub revoke_other_sessions: Option<bool>,
}

/// Result of `changePassword`.
#[derive(SimpleObject, Debug, Default)]
pub struct ChangePasswordPayload {
    /// The member after the change.
    pub member: Option<MemberProfile>,
    /// When the (new or extended) password expires.
    pub password_expires_at: Option<DateTime>,
    /// Why nothing was changed; empty on success. Every violated password rule is listed.
    pub errors: Vec<UserError>,
}

/// Payloads answer user errors with everything else empty.
macro_rules! payloads {
    ($($payload:ty),+ $(,)?) => {
        $(impl super::request::Payload for $payload {
            fn refused(errors: Vec<UserError>) -> Self {
                Self { errors, ..Default::default() }
            }
        })+
    };
}

payloads!(
    FindIdPayload,
    CheckLoginIdPayload,
    IssueResetTokenPayload,
    VerifyResetTokenPayload,
    ResetPasswordPayload,
    SignInPayload,
    ReauthenticatePayload,
    ChangePasswordPayload,
    ReportUnrecognizedChangePayload,
    GenerateRecoveryCodesPayload,
);
