//! The domain's enums as the schema shows them: each an async-graphql `remote` mirror of its
//! domain type (conversions generated both ways), carrying the schema's descriptions.
use async_graphql::Enum;

/// What kind of account a member holds.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::member::MemberType")]
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
#[graphql(remote = "crate::domain::member::JoinType")]
pub enum JoinType {
    /// A citizen.
    Citizen,
    /// A foreign resident.
    Foreign,
}

/// State of an account; only ACTIVE accounts can recover.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::member::MemberStatus")]
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

/// What happened in a recovery event of the member's account.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::audit::RecoveryEventKind")]
pub enum RecoveryEventKind {
    /// A reset was asked for (by anyone: the mail, if any, went to the member), or its mail went out.
    ResetRequested,
    /// A reset link, token or code was checked and was right.
    ResetVerified,
    /// A wrong code, token, identity or password was tried against the account.
    FailedAttempt,
    /// The password was reset.
    PasswordReset,
    /// The password was changed (or its expiry clock restarted) while signed in.
    PasswordChanged,
    /// Someone signed in.
    SignedIn,
    /// The member said "that wasn't me" about a password change.
    ChangeReported,
    /// A new set of recovery codes was generated.
    RecoveryCodesGenerated,
    /// A recovery code was used.
    RecoveryCodeUsed,
}
