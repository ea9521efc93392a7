//! Parsing GraphQL inputs into the use cases' typed requests; each problem names its field path.
use super::{
    errors::{ErrorCode, UserError},
    i18n::Lang,
    types::{CodeInput, RecoveryCodeInput, ResetCredential, ResetRequest},
};
use crate::{
    domain::{
        change_report::ReportToken,
        email::Email,
        grant::{ResetCode, ResetToken},
        identity_assertion::SignedAssertion,
        identity_proof::IdentityProof,
        keyed_hash::Ci,
        login_id::LoginId,
        portone_identity::PortoneVerificationId,
        recovery_code::RecoveryCode,
    },
    recovery::password_reset::{CodeIdentifier, Credential, ResetRequest as Request},
};

/// The path of a field below `prefix` (the path of the argument it belongs to).
pub fn at(prefix: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    prefix.iter().chain(rest).copied().collect()
}

pub fn email(raw: &str, field: &[&str], lang: Lang) -> Result<Email, UserError> {
    Email::parse(raw).map_err(|e| UserError::email(e, field, lang))
}

pub fn login_id(raw: &str, field: &[&str], lang: Lang) -> Result<LoginId, UserError> {
    LoginId::parse(raw).map_err(|e| UserError::login_id(e, field, lang))
}

pub fn ci(raw: &str, field: &[&str], lang: Lang) -> Result<Ci, UserError> {
    Ci::parse(raw).map_err(|e| UserError::ci(e, field, lang))
}

/// An assertion too long or empty is refused like any other bad proof.
pub fn assertion(raw: &str, field: &[&str], lang: Lang) -> Result<IdentityProof, UserError> {
    SignedAssertion::parse(raw)
        .map(IdentityProof::Signed)
        .ok_or_else(|| UserError::new(ErrorCode::IdentityUnverified, field, lang))
}

/// So is a PortOne id that could not be one.
pub fn portone_id(raw: &str, field: &[&str], lang: Lang) -> Result<IdentityProof, UserError> {
    PortoneVerificationId::parse(raw)
        .map(IdentityProof::Portone)
        .ok_or_else(|| UserError::new(ErrorCode::IdentityUnverified, field, lang))
}

/// Parses a credential; `prefix` is the path of the credential argument.
pub fn credential(
    raw: ResetCredential,
    prefix: &[&'static str],
    lang: Lang,
) -> Result<Credential, UserError> {
    match raw {
        ResetCredential::Token(token) => ResetToken::parse(&token)
            .map(Credential::Token)
            .map_err(|_| UserError::new(ErrorCode::InvalidToken, &at(prefix, &["token"]), lang)),
        ResetCredential::Code(CodeInput {
            email: by_email,
            login_id: by_login_id,
            code,
        }) => {
            let by = match (by_email, by_login_id) {
                (Some(raw), None) => {
                    CodeIdentifier::Email(email(&raw, &at(prefix, &["code", "email"]), lang)?)
                }
                (None, Some(raw)) => {
                    CodeIdentifier::LoginId(login_id(&raw, &at(prefix, &["code", "loginId"]), lang)?)
                }
                _ => {
                    return Err(UserError::new(
                        ErrorCode::InvalidInput,
                        &at(prefix, &["code"]),
                        lang,
                    ));
                }
            };
            let code = ResetCode::parse(&code)
                .map_err(|_| UserError::new(ErrorCode::InvalidCode, &at(prefix, &["code", "code"]), lang))?;
            Ok(Credential::Code { by, code })
        }
        ResetCredential::RecoveryCode(RecoveryCodeInput { login_id: raw, code }) => {
            let login_id = login_id(&raw, &at(prefix, &["recoveryCode", "loginId"]), lang)?;
            let code = RecoveryCode::parse(&code).map_err(|_| {
                UserError::new(
                    ErrorCode::InvalidCode,
                    &at(prefix, &["recoveryCode", "code"]),
                    lang,
                )
            })?;
            Ok(Credential::RecoveryCode { login_id, code })
        }
    }
}

/// Parses the token of a "that wasn't me" link.
pub fn report_token(raw: &str, lang: Lang) -> Result<ReportToken, UserError> {
    ReportToken::parse(raw).map_err(|_| UserError::new(ErrorCode::InvalidToken, &["token"], lang))
}

/// Parses the `by` argument of `issueResetToken`.
pub fn reset_request(by: ResetRequest, lang: Lang) -> Result<Request, UserError> {
    Ok(match by {
        ResetRequest::Email(raw) => Request::Email(email(&raw, &["by", "email"], lang)?),
        ResetRequest::Account(a) => Request::Account {
            login_id: login_id(&a.login_id, &["by", "account", "loginId"], lang)?,
            email: email(&a.email, &["by", "account", "email"], lang)?,
        },
        ResetRequest::VerifiedIdentity(v) => Request::VerifiedIdentity {
            login_id: login_id(&v.login_id, &["by", "verifiedIdentity", "loginId"], lang)?,
            proof: assertion(&v.assertion, &["by", "verifiedIdentity", "assertion"], lang)?,
        },
        ResetRequest::PortoneIdentity(p) => Request::VerifiedIdentity {
            login_id: login_id(&p.login_id, &["by", "portoneIdentity", "loginId"], lang)?,
            proof: portone_id(
                &p.identity_verification_id,
                &["by", "portoneIdentity", "identityVerificationId"],
                lang,
            )?,
        },
        ResetRequest::Identity(i) => Request::Identity {
            login_id: login_id(&i.login_id, &["by", "identity", "loginId"], lang)?,
            ci: ci(&i.ci, &["by", "identity", "ci"], lang)?,
        },
    })
}
