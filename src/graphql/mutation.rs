//! Mutation resolvers: parse the input, call one use case, map the outcome to a payload.
use async_graphql::{Context, Object};

use super::{
    errors::{ErrorCode, UserError, rate_limited, to_graphql_error},
    i18n::Lang,
    request::{admit, answer, context, services, session, site, target},
    types::{
        ChangePasswordInput, ChangePasswordMode, ChangePasswordPayload, CodeInput, DeliveryChannel,
        IssueResetTokenPayload, MemberProfile, ReauthenticatePayload, ResetCredential, ResetPasswordInput,
        ResetPasswordPayload, ResetRequest, SignInPayload, VerifyResetTokenPayload,
    },
};
use crate::{
    domain::{
        email::Email,
        grant::{ResetCode, ResetToken},
        keyed_hash::Ci,
        login_id::LoginId,
    },
    recovery::{
        new_password::PasswordProblem,
        password_change::{ChangeMode, ChangeOutcome, ChangeRequest},
        password_reset::{
            CodeIdentifier, Credential, CredentialError, IssueResult, Refusal, ResetOutcome,
            ResetRequest as Request, VerifyResult,
        },
        rate_limits::Operation,
        sessions::{ReauthResult, SignInResult},
    },
};

pub struct MutationRoot;

fn at(prefix: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    prefix.iter().chain(rest).copied().collect()
}

/// Parses a credential; `prefix` is the path of the credential argument.
fn parse_credential(
    raw: ResetCredential,
    prefix: &[&'static str],
    lang: Lang,
) -> Result<Credential, UserError> {
    match raw {
        ResetCredential::Token(token) => ResetToken::parse(&token)
            .map(Credential::Token)
            .map_err(|_| UserError::new(ErrorCode::InvalidToken, &at(prefix, &["token"]), lang)),
        ResetCredential::Code(CodeInput {
            email,
            login_id,
            code,
        }) => {
            let by = match (email, login_id) {
                (Some(email), None) => CodeIdentifier::Email(
                    Email::parse(&email)
                        .map_err(|e| UserError::email(e, &at(prefix, &["code", "email"]), lang))?,
                ),
                (None, Some(id)) => CodeIdentifier::LoginId(
                    LoginId::parse(&id)
                        .map_err(|e| UserError::login_id(e, &at(prefix, &["code", "loginId"]), lang))?,
                ),
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
    }
}

fn credential_error(e: CredentialError, prefix: &[&'static str], lang: Lang) -> UserError {
    match e {
        CredentialError::InvalidToken => {
            UserError::new(ErrorCode::InvalidToken, &at(prefix, &["token"]), lang)
        }
        CredentialError::InvalidCode => {
            UserError::new(ErrorCode::InvalidCode, &at(prefix, &["code", "code"]), lang)
        }
        CredentialError::TooManyAttempts => {
            UserError::new(ErrorCode::TooManyAttempts, &at(prefix, &["code", "code"]), lang)
        }
    }
}

fn refusal_error(r: Refusal, field: &[&str], lang: Lang) -> UserError {
    let code = match r {
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

/// Whom a credential is about, for the rate limits (a token stands for itself: per client only).
fn credential_target(site: &crate::domain::site::SiteId, credential: &Credential) -> Option<String> {
    match credential {
        Credential::Token(_) => None,
        Credential::Code {
            by: CodeIdentifier::Email(email),
            ..
        } => target::email(site, email),
        Credential::Code {
            by: CodeIdentifier::LoginId(id),
            ..
        } => target::login(site, id),
    }
}

/// Parses the `by` argument of `issueResetToken`.
fn parse_request(by: ResetRequest, lang: Lang) -> Result<Request, UserError> {
    let email = |raw: &str, field: &[&str]| Email::parse(raw).map_err(|e| UserError::email(e, field, lang));
    let login_id =
        |raw: &str, field: &[&str]| LoginId::parse(raw).map_err(|e| UserError::login_id(e, field, lang));
    Ok(match by {
        ResetRequest::Email(raw) => Request::Email(email(&raw, &["by", "email"])?),
        ResetRequest::Account(a) => Request::Account {
            login_id: login_id(&a.login_id, &["by", "account", "loginId"])?,
            email: email(&a.email, &["by", "account", "email"])?,
        },
        ResetRequest::Identity(i) => Request::Identity {
            login_id: login_id(&i.login_id, &["by", "identity", "loginId"])?,
            ci: Ci::parse(&i.ci).map_err(|e| UserError::ci(e, &["by", "identity", "ci"], lang))?,
        },
    })
}

/// Operations that change state: the password-reset flow and the signed-in password change.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Starts a password reset. By `email` or `account`, a link and a 6-digit code are mailed (the
    /// reply is the same whether or not an account matched); by `identity`, after an identity
    /// check, the token is returned directly.
    #[graphql(complexity = "child_complexity + 100")]
    async fn issue_reset_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(desc = "Whose password to reset: exactly one of `email`, `account` or `identity`.")]
        by: ResetRequest,
    ) -> async_graphql::Result<IssueResetTokenPayload> {
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let site = site(recovery, site_id, lang)?;
            let request = parse_request(by, lang)?;
            let about = match &request {
                Request::Email(email) => target::email(&site, email),
                Request::Account { login_id, .. } | Request::Identity { login_id, .. } => {
                    target::login(&site, login_id)
                }
            };
            admit(ctx, Operation::IssueResetToken, about).await?;
            let result = recovery
                .password_reset
                .issue(&context(ctx, site, lang), request)
                .await
                .map_err(|e| to_graphql_error(e, lang))?;
            match result {
                IssueResult::Mailed {
                    masked_destination,
                    expires_in,
                } => Ok(IssueResetTokenPayload {
                    accepted: true,
                    channel: Some(DeliveryChannel::Email),
                    masked_destination: Some(masked_destination),
                    expires_in_seconds: Some(i32::try_from(expires_in.as_secs()).unwrap_or(i32::MAX)),
                    ..Default::default()
                }),
                IssueResult::Direct {
                    token,
                    expires_at,
                    member_type,
                } => Ok(IssueResetTokenPayload {
                    accepted: true,
                    channel: Some(DeliveryChannel::Direct),
                    expires_at: Some(expires_at.into()),
                    token: Some(token.expose().to_owned()),
                    member_type: Some(member_type.into()),
                    ..Default::default()
                }),
                IssueResult::Refused(r) => Err(refusal_error(r, &["by", "identity"], lang).into()),
            }
        })
        .await
    }

    /// Checks a reset credential without spending it. A link or direct token stays usable; a
    /// right code is exchanged for a reset-only token (the code is spent). Five wrong codes burn
    /// the grant.
    #[graphql(complexity = "child_complexity + 100")]
    async fn verify_reset_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(desc = "The token, or the mailed code with its address or login ID.")]
        credential: ResetCredential,
    ) -> async_graphql::Result<VerifyResetTokenPayload> {
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let site = site(recovery, site_id, lang)?;
            let credential = parse_credential(credential, &["credential"], lang)?;
            admit(
                ctx,
                Operation::VerifyResetToken,
                credential_target(&site, &credential),
            )
            .await?;
            let result = recovery
                .password_reset
                .verify(&context(ctx, site, lang), credential)
                .await
                .map_err(|e| to_graphql_error(e, lang))?;
            match result {
                VerifyResult::Valid {
                    token,
                    expires_at,
                    masked_login_id,
                } => Ok(VerifyResetTokenPayload {
                    valid: true,
                    token: Some(token.expose().to_owned()),
                    expires_at: Some(expires_at.into()),
                    masked_login_id: Some(masked_login_id),
                    errors: Vec::new(),
                }),
                VerifyResult::Invalid(e) => Err(credential_error(e, &["credential"], lang).into()),
            }
        })
        .await
    }

    /// Sets a new password with a reset token or a mailed code. A password the policy refuses
    /// leaves the credential usable; on success every grant of the member is spent, every session
    /// signed out, a notice is mailed, and the member's profile is returned.
    #[graphql(complexity = "child_complexity + 100")]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(desc = "The credential and the new password.")] input: ResetPasswordInput,
    ) -> async_graphql::Result<ResetPasswordPayload> {
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let site = site(recovery, site_id, lang)?;
            let prefix = ["input", "credential"];
            let credential = parse_credential(input.credential, &prefix, lang)?;
            // Presenting a credential here is a guess like verifyResetToken: same budget.
            admit(
                ctx,
                Operation::VerifyResetToken,
                credential_target(&site, &credential),
            )
            .await?;
            let outcome = recovery
                .password_reset
                .reset(
                    &context(ctx, site, lang),
                    credential,
                    &input.new_password,
                    input.new_password_confirmation.as_deref(),
                )
                .await
                .map_err(|e| to_graphql_error(e, lang))?;
            match outcome {
                ResetOutcome::Done(member, active_sessions) => Ok(ResetPasswordPayload {
                    member: Some(MemberProfile::new(&member, active_sessions)),
                    errors: Vec::new(),
                }),
                ResetOutcome::Credential(e) => Err(credential_error(e, &prefix, lang).into()),
                ResetOutcome::Refused(r) => Err(refusal_error(r, &prefix, lang).into()),
                ResetOutcome::Rejected(problems) => Err(password_problems(problems, lang).into()),
            }
        })
        .await
    }

    /// Signs in with a login ID and password and returns a bearer token. The same
    /// INVALID_CREDENTIALS for an unknown login ID, a wrong password and an inactive account;
    /// repeated failures are throttled (RATE_LIMITED) without ever blocking recovery.
    #[graphql(complexity = "child_complexity + 100")]
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(desc = "The login ID (compared case-insensitively).")] login_id: String,
        #[graphql(desc = "The password.", secret)] password: String,
    ) -> async_graphql::Result<SignInPayload> {
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let site = site(recovery, site_id, lang)?;
            let login_id =
                LoginId::parse(&login_id).map_err(|e| UserError::login_id(e, &["loginId"], lang))?;
            admit(ctx, Operation::SignIn, target::login(&site, &login_id)).await?;
            let result = recovery
                .sessions
                .sign_in(&context(ctx, site, lang), &login_id, &password)
                .await
                .map_err(|e| to_graphql_error(e, lang))?;
            match result {
                SignInResult::SignedIn {
                    token,
                    session,
                    password_expired,
                    member,
                    active_sessions,
                } => Ok(SignInPayload {
                    access_token: Some(token.expose().to_owned()),
                    expires_at: Some(session.expires_at.into()),
                    password_expired,
                    member: Some(MemberProfile::new(&member, active_sessions)),
                    errors: Vec::new(),
                }),
                SignInResult::InvalidCredentials => {
                    Err(UserError::new(ErrorCode::InvalidCredentials, &[], lang).into())
                }
                SignInResult::Throttled { retry_after } => Err(rate_limited(retry_after, lang).into()),
            }
        })
        .await
    }

    /// Proves the password again in a signed-in session: for the next 10 minutes the session may
    /// change the password without the current one (WITHOUT_CURRENT).
    #[graphql(complexity = "child_complexity + 100")]
    async fn reauthenticate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The current password.", secret)] password: String,
    ) -> async_graphql::Result<ReauthenticatePayload> {
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let session = session(ctx).await?;
            let result = recovery
                .sessions
                .reauthenticate(
                    &context(ctx, session.owner.site.clone(), lang),
                    &session,
                    &password,
                )
                .await
                .map_err(|e| to_graphql_error(e, lang))?;
            match result {
                ReauthResult::Elevated(until) => Ok(ReauthenticatePayload {
                    elevated_until: Some(until.into()),
                    errors: Vec::new(),
                }),
                ReauthResult::InvalidCredentials => {
                    Err(UserError::new(ErrorCode::InvalidCredentials, &["password"], lang).into())
                }
                ReauthResult::Throttled { retry_after } => Err(rate_limited(retry_after, lang).into()),
            }
        })
        .await
    }

    /// Ends the current session.
    async fn sign_out(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let (recovery, lang) = services(ctx)?;
        let session = session(ctx).await?;
        recovery
            .sessions
            .sign_out(&session)
            .await
            .map_err(|e| to_graphql_error(e, lang))?;
        Ok(true)
    }

    /// Changes the signed-in member's password (the seeds' chgGb 10/20/30). Other sessions are
    /// signed out unless `revokeOtherSessions: false`.
    #[graphql(complexity = "child_complexity + 100")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mode and the passwords it needs.")] input: ChangePasswordInput,
    ) -> async_graphql::Result<ChangePasswordPayload> {
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let session = session(ctx).await?;
            let request = ChangeRequest {
                mode: match input.mode {
                    ChangePasswordMode::Extend => ChangeMode::Extend,
                    ChangePasswordMode::WithoutCurrent => ChangeMode::WithoutCurrent,
                    ChangePasswordMode::WithCurrent => ChangeMode::WithCurrent,
                },
                current_password: input.current_password.as_deref(),
                new_password: input.new_password.as_deref(),
                revoke_other_sessions: input.revoke_other_sessions.unwrap_or(true),
            };
            let outcome = recovery
                .password_changes
                .change(&context(ctx, session.owner.site.clone(), lang), &session, request)
                .await
                .map_err(|e| to_graphql_error(e, lang))?;
            let refuse = |code: ErrorCode, field: &[&str]| Err(UserError::new(code, field, lang).into());
            match outcome {
                ChangeOutcome::Done {
                    member,
                    password_expires_at,
                    active_sessions,
                } => Ok(ChangePasswordPayload {
                    member: Some(MemberProfile::new(&member, active_sessions)),
                    password_expires_at: Some(password_expires_at.into()),
                    errors: Vec::new(),
                }),
                ChangeOutcome::NotEligible => refuse(ErrorCode::NotEligible, &["input", "mode"]),
                ChangeOutcome::SocialAccount => refuse(ErrorCode::SocialAccount, &[]),
                ChangeOutcome::InvalidCredentials => {
                    refuse(ErrorCode::InvalidCredentials, &["input", "currentPassword"])
                }
                ChangeOutcome::Missing(field) => refuse(ErrorCode::InvalidInput, &["input", field]),
                ChangeOutcome::Rejected(problems) => Err(password_problems(problems, lang).into()),
                ChangeOutcome::Throttled { retry_after } => Err(rate_limited(retry_after, lang).into()),
            }
        })
        .await
    }
}
