//! Mutation resolvers: parse the input, call one use case, map the outcome to a payload.
use async_graphql::{Context, Object};

use super::{
    answers::{self, CodeField, RESET_CREDENTIAL, VERIFY_CREDENTIAL},
    parse,
    request::{Call, session},
    types::{
        ChangePasswordInput, ChangePasswordPayload, GenerateRecoveryCodesPayload, IssueResetTokenPayload,
        ReauthenticatePayload, ReportUnrecognizedChangePayload, ResetCredential, ResetPasswordInput,
        ResetPasswordPayload, ResetRequest, SignInPayload, VerifyResetTokenPayload,
    },
};
use crate::{domain::password::Password, recovery::password_change::ChangeRequest};

pub struct MutationRoot;

/// Operations that change state: the password-reset flow and the signed-in password change.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Starts a password reset. By `email` or `account`, a link and a 6-digit code are mailed (the
    /// reply is the same whether or not an account matched); by `verifiedIdentity` (a signed
    /// assertion of an identity check), `portoneIdentity` (a PortOne V2 identity verification) or,
    /// in development, `identity`, the token is returned directly.
    #[graphql(complexity = "child_complexity + 100")]
    async fn issue_reset_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(
            desc = "Whose password to reset: exactly one of `email`, `account`, `verifiedIdentity`, `portoneIdentity` or `identity`."
        )]
        by: ResetRequest,
    ) -> async_graphql::Result<IssueResetTokenPayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let on = call.on_site(site_id)?;
            let identity_field = match &by {
                ResetRequest::VerifiedIdentity(_) => ["by", "verifiedIdentity"],
                ResetRequest::PortoneIdentity(_) => ["by", "portoneIdentity"],
                _ => ["by", "identity"],
            };
            let request = parse::reset_request(by, call.lang)?;
            let result = call.recovery.password_reset.issue(&on, request).await?;
            Ok(answers::issued(result, &identity_field, call.lang))
        })
        .await
    }

    /// Checks a reset credential without spending it; a right code (mailed or recovery) is spent and
    /// exchanged for a reset-only token. Five wrong codes with one e-mail or login ID, account or
    /// not, refuse its codes for an hour; links are never burnt.
    #[graphql(complexity = "child_complexity + 100")]
    async fn verify_reset_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(desc = "The token, or the mailed code with its address or login ID.")]
        credential: ResetCredential,
    ) -> async_graphql::Result<VerifyResetTokenPayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let on = call.on_site(site_id)?;
            let code_field = CodeField::of(&credential);
            let credential = parse::credential(credential, VERIFY_CREDENTIAL, call.lang)?;
            let result = call.recovery.password_reset.verify(&on, credential).await?;
            Ok(answers::verified(result, code_field, call.lang))
        })
        .await
    }

    /// "That wasn't me", from a password-changed notice: in one step revokes every session and reset
    /// link, locks password sign-in until the next reset, spends the token, mails a fresh reset link
    /// and code, and audits the report. The link's page calls this after asking the member.
    #[graphql(complexity = "child_complexity + 100")]
    async fn report_unrecognized_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(secret, desc = "The `report` token of the notice's link.")] token: String,
    ) -> async_graphql::Result<ReportUnrecognizedChangePayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let on = call.on_site(None)?;
            let token = parse::report_token(&token, call.lang)?;
            let outcome = call
                .recovery
                .password_reset
                .report_unrecognized_change(&on, &token)
                .await?;
            Ok(answers::reported(outcome, call.lang))
        })
        .await
    }

    /// Sets a new password with a reset token, a mailed code or a saved recovery code. A refused
    /// password leaves the credential usable; on success every grant of the member is spent, every
    /// session signed out, a notice mailed, and the member's profile returned.
    #[graphql(complexity = "child_complexity + 100")]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(desc = "The credential and the new password.")] input: ResetPasswordInput,
    ) -> async_graphql::Result<ResetPasswordPayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let on = call.on_site(site_id)?;
            let code_field = CodeField::of(&input.credential);
            let credential = parse::credential(input.credential, RESET_CREDENTIAL, call.lang)?;
            let outcome = call
                .recovery
                .password_reset
                .reset(
                    &on,
                    credential,
                    &Password::new(input.new_password),
                    input.new_password_confirmation.map(Password::new).as_ref(),
                )
                .await?;
            Ok(answers::reset(outcome, code_field, call.lang))
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
        let call = Call::of(ctx)?;
        call.answer(async {
            let on = call.on_site(site_id)?;
            let login_id = parse::login_id(&login_id, &["loginId"], call.lang)?;
            let result = call
                .recovery
                .sessions
                .sign_in(&on, &login_id, &Password::new(password))
                .await?;
            answers::signed_in(result, call.lang)
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
        let call = Call::of(ctx)?;
        call.answer(async {
            let session = session(ctx).await?;
            let on = call.on(session.owner.site.clone());
            let result = call
                .recovery
                .sessions
                .reauthenticate(&on, &session, &Password::new(password))
                .await?;
            answers::reauthenticated(result, call.lang)
        })
        .await
    }

    /// Generates 10 saved recovery codes, each resetting the password once without the mailbox (the
    /// `recoveryCode` credential). Needs `reauthenticate` within ELEVATION_SECS (the first sign-in
    /// after a reset is not enough), else NOT_ELIGIBLE; at most 3 sets a day (RATE_LIMITED). Shown
    /// only in this answer, stored as keyed hashes; generating again replaces the set; the member
    /// is mailed a notice with a "that wasn't me" link of its own.
    #[graphql(complexity = "child_complexity + 100")]
    async fn generate_recovery_codes(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<GenerateRecoveryCodesPayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let session = session(ctx).await?;
            let on = call.on(session.owner.site.clone());
            let outcome = call.recovery.recovery_codes.generate(&on, &session).await?;
            Ok(answers::generated(outcome, call.lang))
        })
        .await
    }

    /// Ends the current session.
    async fn sign_out(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let call = Call::of(ctx)?;
        call.run(async {
            let session = session(ctx).await?;
            call.recovery.sessions.sign_out(&session).await?;
            Ok(true)
        })
        .await
    }

    /// Changes the signed-in member's password in one of three modes (`ChangePasswordMode`). Other
    /// sessions are signed out unless `revokeOtherSessions: false`.
    #[graphql(complexity = "child_complexity + 100")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mode and the passwords it needs.")] input: ChangePasswordInput,
    ) -> async_graphql::Result<ChangePasswordPayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let session = session(ctx).await?;
            let (current, new) = (
                input.current_password.map(Password::new),
                input.new_password.map(Password::new),
            );
            let request = ChangeRequest {
                mode: input.mode.into(),
                current_password: current.as_ref(),
                new_password: new.as_ref(),
                revoke_other_sessions: input.revoke_other_sessions.unwrap_or(true),
            };
            let on = call.on(session.owner.site.clone());
            let outcome = call
                .recovery
                .password_changes
                .change(&on, &session, request)
                .await?;
            answers::changed(outcome, call.lang)
        })
        .await
    }
}
