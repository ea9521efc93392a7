//! The use cases' outcomes as payloads: expected refusals become the payload's `errors` (with the
//! field paths of this API), throttling a top-level RATE_LIMITED error.
use super::{
    errors::{ErrorCode, UserError, rate_limited, unauthenticated},
    i18n::Lang,
    parse::at,
    request::{Payload, Stop},
    types::{
        ChangePasswordPayload, DeliveryChannel, GenerateRecoveryCodesPayload, IssueResetTokenPayload,
        MemberProfile, ReauthenticatePayload, ReportUnrecognizedChangePayload, ResetCredential,
        ResetPasswordPayload, SignInPayload, VerifyResetTokenPayload,
    },
};
use crate::recovery::{
    new_password::PasswordProblem,
    password_change::{ChangeOutcome, MissingPassword},
    password_reset::{CredentialError, IssueResult, Refusal, ReportOutcome, ResetOutcome, VerifyResult},
    recovery_codes::GenerateOutcome,
    sessions::{ReauthResult, SignInResult},
};

/// The path of the credential argument of `verifyResetToken` and of `resetPassword`.
pub const VERIFY_CREDENTIAL: &[&str] = &["credential"];
pub const RESET_CREDENTIAL: &[&str] = &["input", "credential"];

/// Which branch of `ResetCredential` a code came in: where its errors point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeField {
    Code,
    RecoveryCode,
}

impl CodeField {
    pub fn of(credential: &ResetCredential) -> CodeField {
        match credential {
            ResetCredential::RecoveryCode(_) => CodeField::RecoveryCode,
            ResetCredential::Token(_) | ResetCredential::Code(_) => CodeField::Code,
        }
    }

    fn path(self) -> &'static [&'static str] {
        match self {
            CodeField::Code => &["code", "code"],
            CodeField::RecoveryCode => &["recoveryCode", "code"],
        }
    }
}

fn credential_error(
    e: CredentialError,
    prefix: &[&'static str],
    code_field: CodeField,
    lang: Lang,
) -> UserError {
    let (code, field) = match e {
        CredentialError::InvalidToken => (ErrorCode::InvalidToken, &["token"][..]),
        CredentialError::InvalidCode => (ErrorCode::InvalidCode, code_field.path()),
        CredentialError::TooManyAttempts => (ErrorCode::TooManyAttempts, code_field.path()),
    };
    UserError::new(code, &at(prefix, field), lang)
}

fn refusal_error(r: Refusal, field: &[&str], lang: Lang) -> UserError {
    let code = match r {
        Refusal::IdentityUnverified => ErrorCode::IdentityUnverified,
        Refusal::IdentityMismatch => ErrorCode::IdentityMismatch,
        Refusal::SocialAccount => ErrorCode::SocialAccount,
        Refusal::AccountInactive => ErrorCode::AccountInactive,
    };
    UserError::new(code, field, lang)
}

/// One error per problem with a new password, on the `input` fields.
fn password_problems(problems: Vec<PasswordProblem>, lang: Lang) -> Vec<UserError> {
    problems
        .into_iter()
        .map(|p| match p {
            PasswordProblem::Rule(rule) => {
                UserError::password_rules(&[rule], &["input", "newPassword"], lang).remove(0)
            }
            PasswordProblem::Mismatch => UserError::new(
                ErrorCode::PasswordMismatch,
                &["input", "newPasswordConfirmation"],
                lang,
            ),
            PasswordProblem::Reused => {
                UserError::new(ErrorCode::PasswordReused, &["input", "newPassword"], lang)
            }
        })
        .collect()
}

fn refused<P: Payload>(error: UserError) -> P {
    P::refused(vec![error])
}

/// `identity_field` is the branch the proof came in (`["by", "verifiedIdentity"]` or `["by", "identity"]`).
pub fn issued(result: IssueResult, identity_field: &[&str], lang: Lang) -> IssueResetTokenPayload {
    match result {
        IssueResult::Mailed {
            masked_destination,
            expires_in,
        } => IssueResetTokenPayload {
            accepted: true,
            channel: Some(DeliveryChannel::Email),
            masked_destination: Some(masked_destination),
            expires_in_seconds: Some(i32::try_from(expires_in.as_secs()).unwrap_or(i32::MAX)),
            ..Default::default()
        },
        IssueResult::Direct {
            token,
            expires_at,
            member_type,
        } => IssueResetTokenPayload {
            accepted: true,
            channel: Some(DeliveryChannel::Direct),
            expires_at: Some(expires_at.into()),
            token: Some(token.expose().to_owned()),
            member_type: Some(member_type.into()),
            ..Default::default()
        },
        IssueResult::Refused(r) => refused(refusal_error(r, identity_field, lang)),
    }
}

pub fn verified(result: VerifyResult, code_field: CodeField, lang: Lang) -> VerifyResetTokenPayload {
    match result {
        VerifyResult::Valid {
            token,
            expires_at,
            masked_login_id,
        } => VerifyResetTokenPayload {
            valid: true,
            token: Some(token.expose().to_owned()),
            expires_at: Some(expires_at.into()),
            masked_login_id: Some(masked_login_id),
            errors: Vec::new(),
        },
        VerifyResult::Invalid(e) => refused(credential_error(e, VERIFY_CREDENTIAL, code_field, lang)),
    }
}

pub fn reset(outcome: ResetOutcome, code_field: CodeField, lang: Lang) -> ResetPasswordPayload {
    match outcome {
        ResetOutcome::Done(member, active_sessions) => ResetPasswordPayload {
            member: Some(MemberProfile::new(&member, active_sessions)),
            errors: Vec::new(),
        },
        ResetOutcome::Credential(e) => refused(credential_error(e, RESET_CREDENTIAL, code_field, lang)),
        ResetOutcome::Refused(r) => refused(refusal_error(r, RESET_CREDENTIAL, lang)),
        ResetOutcome::Rejected(problems) => ResetPasswordPayload::refused(password_problems(problems, lang)),
    }
}

pub fn signed_in(result: SignInResult, lang: Lang) -> Result<SignInPayload, Stop> {
    Ok(match result {
        SignInResult::SignedIn {
            token,
            device,
            session,
            password_expired,
            member,
            active_sessions,
        } => SignInPayload {
            access_token: Some(token.expose().to_owned()),
            expires_at: Some(session.expires_at.into()),
            password_expired,
            member: Some(MemberProfile::new(&member, active_sessions)),
            device_token: Some(device.expose().to_owned()),
            errors: Vec::new(),
        },
        SignInResult::InvalidCredentials => refused(UserError::new(ErrorCode::InvalidCredentials, &[], lang)),
        SignInResult::Throttled { retry_after } => return Err(rate_limited(retry_after, lang).into()),
    })
}

pub fn reauthenticated(result: ReauthResult, lang: Lang) -> Result<ReauthenticatePayload, Stop> {
    Ok(match result {
        ReauthResult::Elevated(until) => ReauthenticatePayload {
            elevated_until: Some(until.into()),
            errors: Vec::new(),
        },
        ReauthResult::InvalidCredentials => {
            refused(UserError::new(ErrorCode::InvalidCredentials, &["password"], lang))
        }
        ReauthResult::Throttled { retry_after } => return Err(rate_limited(retry_after, lang).into()),
    })
}

pub fn changed(outcome: ChangeOutcome, lang: Lang) -> Result<ChangePasswordPayload, Stop> {
    let refuse = |code: ErrorCode, field: &[&str]| refused(UserError::new(code, field, lang));
    Ok(match outcome {
        ChangeOutcome::Done {
            member,
            password_expires_at,
            active_sessions,
        } => ChangePasswordPayload {
            member: Some(MemberProfile::new(&member, active_sessions)),
            password_expires_at: Some(password_expires_at.into()),
            errors: Vec::new(),
        },
        ChangeOutcome::NotEligible => refuse(ErrorCode::NotEligible, &["input", "mode"]),
        ChangeOutcome::SocialAccount => refuse(ErrorCode::SocialAccount, &[]),
        ChangeOutcome::InvalidCredentials => {
            refuse(ErrorCode::InvalidCredentials, &["input", "currentPassword"])
        }
        ChangeOutcome::Missing(MissingPassword::Current) => {
            refuse(ErrorCode::InvalidInput, &["input", "currentPassword"])
        }
        ChangeOutcome::Missing(MissingPassword::New) => {
            refuse(ErrorCode::InvalidInput, &["input", "newPassword"])
        }
        ChangeOutcome::Rejected(problems) => {
            ChangePasswordPayload::refused(password_problems(problems, lang))
        }
        ChangeOutcome::Throttled { retry_after } => return Err(rate_limited(retry_after, lang).into()),
        // Like any call on a revoked session: the client must sign in again (with the password
        // that won).
        ChangeOutcome::SessionEnded => return Err(unauthenticated(lang).into()),
    })
}

pub fn reported(outcome: ReportOutcome, lang: Lang) -> ReportUnrecognizedChangePayload {
    match outcome {
        ReportOutcome::Locked { masked_destination } => ReportUnrecognizedChangePayload {
            locked: true,
            masked_destination: Some(masked_destination),
            errors: Vec::new(),
        },
        ReportOutcome::InvalidToken => ReportUnrecognizedChangePayload::refused(vec![UserError::new(
            ErrorCode::InvalidToken,
            &["token"],
            lang,
        )]),
    }
}

pub fn generated(outcome: GenerateOutcome, lang: Lang) -> GenerateRecoveryCodesPayload {
    match outcome {
        GenerateOutcome::Generated(codes) => GenerateRecoveryCodesPayload {
            codes: Some(codes.iter().map(|c| c.display()).collect()),
            errors: Vec::new(),
        },
        // Like changePassword WITHOUT_CURRENT in a session that is not elevated.
        GenerateOutcome::NotEligible => refused(UserError::new(ErrorCode::NotEligible, &[], lang)),
        GenerateOutcome::SocialAccount => refused(UserError::new(ErrorCode::SocialAccount, &[], lang)),
    }
}
