//! The audit vocabulary: what a recovery event was, how it ended, and how a member sees it.
use chrono::{DateTime, Utc};

use super::{key_id::KeyId, member::MemberId, site::SiteId};

/// One recovery event for the audit table. Never a password, token, code or `ci`.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub site: SiteId,
    pub member: Option<MemberId>,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    pub client: Option<String>,
    /// For an attempt made with an identifier as typed (a wrong code), its keyed hash
    /// (`IdentifierKey::audit_key`, never the identifier in clear): the owners of that e-mail or
    /// login ID see the attempt in their activity, whether or not the caller's guess named them.
    pub identifier: Option<AuditIdentifier>,
}

/// An identifier's keyed hash as the audit stores it, with the ring key it was made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditIdentifier {
    pub hash: String,
    pub key: KeyId,
}

/// What a stored event was. The codes are what the audit table stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    ResetRequested,
    ResetMailed,
    ResetVerified,
    FailedAttempt,
    PasswordReset,
    PasswordChanged,
    SignedIn,
    /// The member said "that wasn't me" about a password change.
    ChangeReported,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    /// The host created the member through SCIM provisioning.
    MemberProvisioned,
    /// The host changed the member through SCIM provisioning.
    MemberUpdated,
    /// The host withdrew the member through SCIM provisioning.
    MemberWithdrawn,
}

impl AuditKind {
    pub const ALL: [AuditKind; 13] = [
        AuditKind::ResetRequested,
        AuditKind::ResetMailed,
        AuditKind::ResetVerified,
        AuditKind::FailedAttempt,
        AuditKind::PasswordReset,
        AuditKind::PasswordChanged,
        AuditKind::SignedIn,
        AuditKind::ChangeReported,
        AuditKind::RecoveryCodesGenerated,
        AuditKind::RecoveryCodeUsed,
        AuditKind::MemberProvisioned,
        AuditKind::MemberUpdated,
        AuditKind::MemberWithdrawn,
    ];

    /// The kind of a stored code; `None` for a code this build does not know.
    pub fn from_code(code: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            AuditKind::ResetRequested => "RESET_REQUESTED",
            AuditKind::ResetMailed => "RESET_MAILED",
            AuditKind::ResetVerified => "RESET_VERIFIED",
            AuditKind::FailedAttempt => "FAILED_ATTEMPT",
            AuditKind::PasswordReset => "PASSWORD_RESET",
            AuditKind::PasswordChanged => "PASSWORD_CHANGED",
            AuditKind::SignedIn => "SIGNED_IN",
            AuditKind::ChangeReported => "CHANGE_REPORTED",
            AuditKind::RecoveryCodesGenerated => "RECOVERY_CODES_GENERATED",
            AuditKind::RecoveryCodeUsed => "RECOVERY_CODE_USED",
            AuditKind::MemberProvisioned => "MEMBER_PROVISIONED",
            AuditKind::MemberUpdated => "MEMBER_UPDATED",
            AuditKind::MemberWithdrawn => "MEMBER_WITHDRAWN",
        }
    }

    /// What the member sees of the kind in their recovery activity; `None` for the host's
    /// provisioning, which is not a recovery event of theirs.
    pub fn shown_as(self) -> Option<RecoveryEventKind> {
        Some(match self {
            // The mail worker's "the reset mail went out" belongs to the request it answers.
            AuditKind::ResetRequested | AuditKind::ResetMailed => RecoveryEventKind::ResetRequested,
            AuditKind::ResetVerified => RecoveryEventKind::ResetVerified,
            AuditKind::FailedAttempt => RecoveryEventKind::FailedAttempt,
            AuditKind::PasswordReset => RecoveryEventKind::PasswordReset,
            AuditKind::PasswordChanged => RecoveryEventKind::PasswordChanged,
            AuditKind::SignedIn => RecoveryEventKind::SignedIn,
            AuditKind::ChangeReported => RecoveryEventKind::ChangeReported,
            AuditKind::RecoveryCodesGenerated => RecoveryEventKind::RecoveryCodesGenerated,
            AuditKind::RecoveryCodeUsed => RecoveryEventKind::RecoveryCodeUsed,
            AuditKind::MemberProvisioned | AuditKind::MemberUpdated | AuditKind::MemberWithdrawn => {
                return None;
            }
        })
    }
}

/// What an event was, as the member sees it in their recovery activity (several stored kinds may
/// show as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecoveryEventKind {
    ResetRequested,
    ResetVerified,
    FailedAttempt,
    PasswordReset,
    PasswordChanged,
    SignedIn,
    ChangeReported,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
}

/// How a recorded event ended. The codes are what the audit table stores: stable, so old rows
/// keep their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    NoAccount,
    MemberLimited,
    Cooldown,
    MailQueued,
    IdentityMismatch,
    Refused,
    Direct,
    Token,
    Code,
    InvalidToken,
    WrongCode,
    Ok,
    Extended,
    Changed,
    Throttled,
    InvalidCredentials,
    WrongPassword,
    Sent,
    /// Verified or spent with a saved recovery code.
    RecoveryCode,
    /// An identity proof (assertion or raw ci) was refused before any account was looked at.
    IdentityUnverified,
}

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 20] = [
        AuditOutcome::NoAccount,
        AuditOutcome::MemberLimited,
        AuditOutcome::Cooldown,
        AuditOutcome::MailQueued,
        AuditOutcome::IdentityMismatch,
        AuditOutcome::Refused,
        AuditOutcome::Direct,
        AuditOutcome::Token,
        AuditOutcome::Code,
        AuditOutcome::InvalidToken,
        AuditOutcome::WrongCode,
        AuditOutcome::Ok,
        AuditOutcome::Extended,
        AuditOutcome::Changed,
        AuditOutcome::Throttled,
        AuditOutcome::InvalidCredentials,
        AuditOutcome::WrongPassword,
        AuditOutcome::Sent,
        AuditOutcome::RecoveryCode,
        AuditOutcome::IdentityUnverified,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AuditOutcome::NoAccount => "no_account",
            AuditOutcome::MemberLimited => "member_limited",
            AuditOutcome::Cooldown => "cooldown",
            AuditOutcome::MailQueued => "mail_queued",
            AuditOutcome::IdentityMismatch => "identity_mismatch",
            AuditOutcome::Refused => "refused",
            AuditOutcome::Direct => "direct",
            AuditOutcome::Token => "token",
            AuditOutcome::Code => "code",
            AuditOutcome::InvalidToken => "invalid_token",
            AuditOutcome::WrongCode => "wrong_code",
            AuditOutcome::Ok => "ok",
            AuditOutcome::Extended => "extended",
            AuditOutcome::Changed => "changed",
            AuditOutcome::Throttled => "throttled",
            AuditOutcome::InvalidCredentials => "invalid_credentials",
            AuditOutcome::WrongPassword => "wrong_password",
            AuditOutcome::Sent => "sent",
            AuditOutcome::RecoveryCode => "recovery_code",
            AuditOutcome::IdentityUnverified => "identity_unverified",
        }
    }
}

/// One stored audit event of a member, as their recovery activity lists it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// Position in the log: later events have larger ids.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    /// The stored outcome code (`AuditOutcome::code`).
    pub outcome: String,
    /// The client address as stored (unmasked).
    pub client: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The audit table keeps these codes: changing one would change what stored rows mean.
    #[test]
    fn audit_outcome_codes_are_stable_and_distinct() {
        let codes: Vec<&str> = AuditOutcome::ALL.iter().map(|o| o.code()).collect();
        assert_eq!(
            codes,
            [
                "no_account",
                "member_limited",
                "cooldown",
                "mail_queued",
                "identity_mismatch",
                "refused",
                "direct",
                "token",
                "code",
                "invalid_token",
                "wrong_code",
                "ok",
                "extended",
                "changed",
                "throttled",
                "invalid_credentials",
                "wrong_password",
                "sent",
                "recovery_code",
                "identity_unverified",
            ]
        );
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), codes.len());
    }

    #[test]
    fn audit_kind_codes_round_trip() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(AuditKind::from_code("SOMETHING_ELSE"), None);
    }

    #[test]
    fn every_recovery_kind_shows_and_a_mailed_reset_is_a_request() {
        assert_eq!(
            AuditKind::ResetMailed.shown_as(),
            Some(RecoveryEventKind::ResetRequested)
        );
        let shown: HashSet<_> = AuditKind::ALL
            .into_iter()
            .filter_map(AuditKind::shown_as)
            .collect();
        // Ten recovery kinds, nine shown: only RESET_MAILED folds into another.
        assert_eq!(shown.len(), 9);
        // The host's provisioning is not the member's recovery activity.
        let hidden: Vec<_> = AuditKind::ALL
            .into_iter()
            .filter(|k| k.shown_as().is_none())
            .collect();
        assert_eq!(
            hidden,
            [
                AuditKind::MemberProvisioned,
                AuditKind::MemberUpdated,
                AuditKind::MemberWithdrawn
            ]
        );
    }
}
