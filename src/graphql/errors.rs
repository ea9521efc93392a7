//! The one place errors become GraphQL: `UserError`s for expected outcomes (localised), top-level
//! errors with `extensions.code` for failures of the request itself.
use async_graphql::{Enum, ErrorExtensions, SimpleObject, Value};

use super::i18n::Lang;
use crate::{
    domain::{
        challenge::ALGORITHM, email::EmailError, keyed_hash::CiError, login_id::LoginIdError,
        password_policy::PasswordRule, site::SiteIdError,
    },
    recovery::errors::RecoveryError,
};

/// Why an operation did not do what was asked. Stable: clients branch on it.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A value is missing, empty, too long or malformed.
    InvalidInput,
    /// The e-mail address is not a valid address.
    InvalidEmail,
    /// The reset token is unknown, expired or already used.
    InvalidToken,
    /// The verification code is wrong or expired.
    InvalidCode,
    /// Too many wrong codes with this e-mail or login ID: codes typed with it are refused for a
    /// while (the mailed link still works).
    TooManyAttempts,
    /// The identity check does not match this account.
    IdentityMismatch,
    /// The identity proof was refused: a signed assertion that is forged, expired, replayed, for
    /// another purpose, audience or site, or signed by an unknown key; or a raw identity value
    /// where only signed assertions are accepted.
    IdentityUnverified,
    /// A social-login account has no password to reset or change.
    SocialAccount,
    /// The account is locked, dormant or withdrawn.
    AccountInactive,
    /// The login ID or password is wrong.
    InvalidCredentials,
    /// The password confirmation differs from the new password.
    PasswordMismatch,
    /// The new password is shorter than the policy's minimum.
    PasswordTooShort,
    /// The new password is longer than the policy's maximum.
    PasswordTooLong,
    /// The new password contains whitespace.
    PasswordWhitespace,
    /// The new password contains a run of sequential characters (`123`, `abc`, `cba`).
    PasswordSequential,
    /// The new password repeats one character too many times in a row.
    PasswordRepeated,
    /// The new password contains the login ID.
    PasswordContainsLoginId,
    /// The new password is on the list of common passwords.
    PasswordTooCommon,
    /// The new password is the current one or one of the recent ones.
    PasswordReused,
    /// The operation is not allowed in the account's current state.
    NotEligible,
}

/// An expected problem with the request, for the user to fix.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// Path of the input field at fault (e.g. `["by", "email"]`), when one is.
    pub field: Option<Vec<String>>,
    /// What went wrong, for people, in the language of `Accept-Language` (Korean or English).
    pub message: String,
}

impl UserError {
    pub fn new(code: ErrorCode, field: &[&str], lang: Lang) -> UserError {
        UserError {
            code,
            field: (!field.is_empty()).then(|| field.iter().map(|s| (*s).to_owned()).collect()),
            message: message(code, lang).to_owned(),
        }
    }

    pub fn site(_: SiteIdError, lang: Lang) -> UserError {
        UserError::new(ErrorCode::InvalidInput, &["siteId"], lang)
    }

    pub fn email(_: EmailError, field: &[&str], lang: Lang) -> UserError {
        UserError::new(ErrorCode::InvalidEmail, field, lang)
    }

    pub fn login_id(_: LoginIdError, field: &[&str], lang: Lang) -> UserError {
        UserError::new(ErrorCode::InvalidInput, field, lang)
    }

    pub fn ci(_: CiError, field: &[&str], lang: Lang) -> UserError {
        UserError::new(ErrorCode::InvalidInput, field, lang)
    }

    /// One error per violated password rule.
    pub fn password_rules(rules: &[PasswordRule], field: &[&str], lang: Lang) -> Vec<UserError> {
        rules
            .iter()
            .map(|rule| {
                let code = match rule {
                    PasswordRule::TooShort => ErrorCode::PasswordTooShort,
                    PasswordRule::TooLong => ErrorCode::PasswordTooLong,
                    PasswordRule::Whitespace => ErrorCode::PasswordWhitespace,
                    PasswordRule::Sequential => ErrorCode::PasswordSequential,
                    PasswordRule::Repeated => ErrorCode::PasswordRepeated,
                    PasswordRule::ContainsLoginId => ErrorCode::PasswordContainsLoginId,
                    PasswordRule::TooCommon => ErrorCode::PasswordTooCommon,
                };
                UserError::new(code, field, lang)
            })
            .collect()
    }
}

/// The message shown to people for each code.
pub fn message(code: ErrorCode, lang: Lang) -> &'static str {
    use ErrorCode::*;
    match (lang, code) {
        (Lang::En, InvalidInput) => "This value is missing or not valid.",
        (Lang::Ko, InvalidInput) => "입력값이 없거나 올바르지 않습니다.",
        (Lang::En, InvalidEmail) => "Enter a valid e-mail address.",
        (Lang::Ko, InvalidEmail) => "올바른 이메일 주소를 입력해 주세요.",
        (Lang::En, InvalidToken) => "This link or token is invalid or has expired. Ask for a new one.",
        (Lang::Ko, InvalidToken) => "유효하지 않거나 만료된 링크(토큰)입니다. 새로 요청해 주세요.",
        (Lang::En, InvalidCode) => "The verification code is wrong or has expired.",
        (Lang::Ko, InvalidCode) => "인증번호가 틀렸거나 만료되었습니다.",
        (Lang::En, TooManyAttempts) => "Too many wrong attempts. Ask for a new code later.",
        (Lang::Ko, TooManyAttempts) => "시도 횟수를 초과했습니다. 잠시 후 새 인증번호를 요청해 주세요.",
        (Lang::En, IdentityMismatch) => "The identity check does not match this account.",
        (Lang::Ko, IdentityMismatch) => "본인인증 정보가 이 계정과 일치하지 않습니다.",
        (Lang::En, IdentityUnverified) => {
            "The identity check could not be verified. Please verify your identity again."
        }
        (Lang::Ko, IdentityUnverified) => {
            "본인인증 결과를 확인할 수 없습니다. 본인인증을 다시 진행해 주세요."
        }
        (Lang::En, SocialAccount) => "This account signs in with a social login and has no password.",
        (Lang::Ko, SocialAccount) => "소셜 로그인 계정은 비밀번호가 없습니다.",
        (Lang::En, AccountInactive) => "This account is not active.",
        (Lang::Ko, AccountInactive) => "사용할 수 없는 상태의 계정입니다.",
        (Lang::En, InvalidCredentials) => "The login ID or password is wrong.",
        (Lang::Ko, InvalidCredentials) => "아이디 또는 비밀번호가 올바르지 않습니다.",
        (Lang::En, PasswordMismatch) => "The passwords do not match.",
        (Lang::Ko, PasswordMismatch) => "비밀번호 확인이 일치하지 않습니다.",
        (Lang::En, PasswordTooShort) => "The password is too short.",
        (Lang::Ko, PasswordTooShort) => "비밀번호가 너무 짧습니다.",
        (Lang::En, PasswordTooLong) => "The password is too long.",
        (Lang::Ko, PasswordTooLong) => "비밀번호가 너무 깁니다.",
        (Lang::En, PasswordWhitespace) => "The password must not contain spaces.",
        (Lang::Ko, PasswordWhitespace) => "비밀번호에 공백을 사용할 수 없습니다.",
        (Lang::En, PasswordSequential) => {
            "The password must not contain sequential characters such as 123 or abc."
        }
        (Lang::Ko, PasswordSequential) => "비밀번호에 123, abc 같은 연속된 문자를 사용할 수 없습니다.",
        (Lang::En, PasswordRepeated) => {
            "The password must not repeat the same character three times in a row."
        }
        (Lang::Ko, PasswordRepeated) => "비밀번호에 같은 문자를 3번 이상 연속 사용할 수 없습니다.",
        (Lang::En, PasswordContainsLoginId) => "The password must not contain the login ID.",
        (Lang::Ko, PasswordContainsLoginId) => "비밀번호에 아이디를 포함할 수 없습니다.",
        (Lang::En, PasswordTooCommon) => "This password is too common. Choose a less guessable one.",
        (Lang::Ko, PasswordTooCommon) => "너무 흔한 비밀번호입니다. 다른 비밀번호를 사용해 주세요.",
        (Lang::En, PasswordReused) => "Choose a password you have not used recently.",
        (Lang::Ko, PasswordReused) => "최근에 사용한 비밀번호는 다시 사용할 수 없습니다.",
        (Lang::En, NotEligible) => "This operation is not available for this account right now.",
        (Lang::Ko, NotEligible) => "현재 이 계정에서는 이 작업을 할 수 없습니다.",
    }
}

/// Codes of top-level errors (failures of the request itself).
pub mod top_level {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    pub const INTERNAL: &str = "INTERNAL";
    pub const INVALID_INPUT: &str = "INVALID_INPUT";
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The document is not GraphQL.
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The document does not fit the schema, or its variables do not fit the document.
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
}

/// No valid session: the bearer token is missing, malformed, unknown, expired or revoked.
pub fn unauthenticated(lang: Lang) -> async_graphql::Error {
    let message = match lang {
        Lang::En => "Sign in first: the access token is missing, invalid or expired.",
        Lang::Ko => "로그인이 필요합니다. 액세스 토큰이 없거나 유효하지 않습니다.",
    };
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", top_level::UNAUTHENTICATED))
}

/// Too many attempts: try again after `retry_after` (whole seconds, at least 1).
pub fn rate_limited(retry_after: std::time::Duration, lang: Lang) -> async_graphql::Error {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let message = match lang {
        Lang::En => "Too many attempts. Try again later.",
        Lang::Ko => "시도가 너무 많습니다. 잠시 후 다시 시도해 주세요.",
    };
    async_graphql::Error::new(message).extend_with(move |_, ext| {
        ext.set("code", top_level::RATE_LIMITED);
        ext.set("retryAfter", seconds.max(1));
    })
}

/// Input problems where no payload can carry them: one top-level INVALID_INPUT error with the
/// first problem's message and field.
pub fn invalid_input(errors: Vec<UserError>) -> async_graphql::Error {
    let first = errors.into_iter().next();
    let message = first.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    let field = first.and_then(|e| e.field);
    async_graphql::Error::new(message).extend_with(move |_, ext| {
        ext.set("code", top_level::INVALID_INPUT);
        if let Some(field) = &field {
            ext.set("field", field.clone());
        }
    })
}

/// Turns a use-case failure into a top-level GraphQL error; internals are logged, never sent.
pub fn to_graphql_error(e: RecoveryError, lang: Lang) -> async_graphql::Error {
    match e {
        RecoveryError::RateLimited {
            retry_after,
            challenge,
        } => match challenge {
            None => rate_limited(retry_after, lang),
            Some(challenge) => rate_limited(retry_after, lang).extend_with(move |_, ext| {
                let shown = serde_json::json!({
                    "algorithm": ALGORITHM,
                    "nonce": challenge.nonce,
                    "difficulty": challenge.difficulty,
                    "expiresAt": challenge.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                });
                ext.set("challenge", Value::from_json(shown).unwrap_or_default());
            }),
        },
        RecoveryError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "backend unavailable");
            let message = match lang {
                Lang::En => "The service is temporarily unavailable. Try again shortly.",
                Lang::Ko => "일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해 주세요.",
            };
            async_graphql::Error::new(message)
                .extend_with(|_, ext| ext.set("code", top_level::SERVICE_UNAVAILABLE))
        }
        RecoveryError::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            let message = match lang {
                Lang::En => "Something went wrong on our side.",
                Lang::Ko => "서버에서 문제가 발생했습니다.",
            };
            async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", top_level::INTERNAL))
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::resolver_utils::EnumType;

    use super::*;

    #[test]
    fn every_code_has_a_message_in_both_languages() {
        for code in ErrorCode::items() {
            let en = message(code.value, Lang::En);
            let ko = message(code.value, Lang::Ko);
            assert!(!en.is_empty() && !ko.is_empty());
            assert_ne!(en, ko, "{:?}", code.value);
        }
    }

    #[test]
    fn every_violated_rule_becomes_its_own_error() {
        let errors = UserError::password_rules(
            &[
                PasswordRule::TooShort,
                PasswordRule::Sequential,
                PasswordRule::TooCommon,
            ],
            &["newPassword"],
            Lang::En,
        );
        let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                ErrorCode::PasswordTooShort,
                ErrorCode::PasswordSequential,
                ErrorCode::PasswordTooCommon
            ]
        );
        assert!(
            errors
                .iter()
                .all(|e| e.field.as_deref() == Some(&["newPassword".to_owned()][..]))
        );
    }
}
