//! Query resolvers: parse the input, call one use case, map the result. No rules here.
use async_graphql::{ComplexObject, Context, Object};

use super::{
    errors::{ErrorCode, UserError, unauthenticated},
    parse,
    request::{Call, Stop, optional_session, session},
    types::{
        CheckLoginIdPayload, FindIdBy, FindIdPayload, MemberProfile, PasswordPolicyView,
        RecoveryEventConnection,
    },
};
use crate::{domain::member::MemberId, recovery::recovery_activity::ActivityRefusal};

pub struct QueryRoot;

/// Read-only operations: find a forgotten login ID, check a login ID, read the password policy,
/// and the signed-in member's profile.
#[Object(name = "Query")]
impl QueryRoot {
    /// Finds the login IDs of a member who forgot them, by e-mail (every account of that address,
    /// masked) or by a just-passed identity check (masked, with the member's name).
    #[graphql(complexity = "child_complexity + 50")]
    async fn find_id(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(
            desc = "What to search by: exactly one of `email`, `verifiedIdentity`, `portoneIdentity` or `identity`."
        )]
        by: FindIdBy,
    ) -> async_graphql::Result<FindIdPayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let on = call.on_site(site_id)?;
            let found = match by {
                FindIdBy::Email(raw) => {
                    let email = parse::email(&raw, &["by", "email"], call.lang)?;
                    call.recovery.find_id.by_email(&on, &email).await?
                }
                FindIdBy::VerifiedIdentity(verified) => {
                    let field = ["by", "verifiedIdentity", "assertion"];
                    let proof = parse::assertion(&verified.assertion, &field, call.lang)?;
                    let found = call.recovery.find_id.by_verified_identity(&on, &proof).await?;
                    found.map_err(|_| UserError::new(ErrorCode::IdentityUnverified, &field, call.lang))?
                }
                FindIdBy::PortoneIdentity(portone) => {
                    let field = ["by", "portoneIdentity", "identityVerificationId"];
                    let proof = parse::portone_id(&portone.identity_verification_id, &field, call.lang)?;
                    let found = call.recovery.find_id.by_verified_identity(&on, &proof).await?;
                    found.map_err(|_| UserError::new(ErrorCode::IdentityUnverified, &field, call.lang))?
                }
                FindIdBy::Identity(identity) => {
                    let ci = parse::ci(&identity.ci, &["by", "identity", "ci"], call.lang)?;
                    let join_type = identity.join_type.into();
                    let found = call.recovery.find_id.by_identity(&on, &ci, join_type).await?;
                    let field = ["by", "identity", "ci"];
                    found.map_err(|_| UserError::new(ErrorCode::IdentityUnverified, &field, call.lang))?
                }
            };
            Ok(FindIdPayload {
                accounts: found.into_iter().map(Into::into).collect(),
                errors: Vec::new(),
            })
        })
        .await
    }

    /// Tells whether a login ID exists on the site, its kind, whether it can reset its password,
    /// and its masked e-mail address.
    async fn check_login_id(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
        #[graphql(desc = "The login ID to check (compared case-insensitively).")] login_id: String,
    ) -> async_graphql::Result<CheckLoginIdPayload> {
        let call = Call::of(ctx)?;
        call.answer(async {
            let on = call.on_site(site_id)?;
            let login_id = parse::login_id(&login_id, &["loginId"], call.lang)?;
            Ok(call.recovery.find_id.check_login_id(&on, &login_id).await?.into())
        })
        .await
    }

    /// The password rules of a site, so a client can check a new password as the user types.
    async fn password_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
    ) -> async_graphql::Result<PasswordPolicyView> {
        let call = Call::of(ctx)?;
        // No payload to carry user errors here: a malformed site is a typed top-level error.
        call.run(async {
            let site = call.site(site_id)?;
            Ok(call.recovery.policies.policy_for(&site).await?.into())
        })
        .await
    }

    /// The signed-in member (`Authorization: Bearer …`), or null without a token. An invalid,
    /// expired or revoked token is an UNAUTHENTICATED error.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MemberProfile>> {
        let call = Call::of(ctx)?;
        call.run(async {
            let Some(session) = optional_session(ctx).await? else {
                return Ok(None);
            };
            let found = call.recovery.sessions.member(&session).await?;
            Ok(found.map(|(member, sessions)| MemberProfile::of_viewer(&member, sessions, session)))
        })
        .await
    }
}

#[ComplexObject]
impl MemberProfile {
    /// How many saved recovery codes of this account are still unused (0 when none were generated).
    async fn recovery_codes_left(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let call = Call::of(ctx)?;
        call.run(async {
            let member = MemberId(self.id.to_string());
            let left = call.recovery.recovery_codes.left(&member).await?;
            Ok(i32::try_from(left).unwrap_or(i32::MAX))
        })
        .await
    }

    /// The recovery events of this account, newest first: resets asked for, codes and passwords
    /// tried (by anyone), resets, changes, sign-ins, reports, recovery codes. It needs the member's
    /// own bearer session (e.g. through `me`); anyone else gets UNAUTHENTICATED.
    #[graphql(complexity = "5 + child_complexity")]
    async fn recovery_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many events to return (1 to 100; null means 20).")] first: Option<
            i32,
        >,
        #[graphql(desc = "The `cursor` of the last event already seen: returns the older ones.")]
        after: Option<String>,
    ) -> async_graphql::Result<RecoveryEventConnection> {
        let call = Call::of(ctx)?;
        call.run(async {
            let session = match &self.viewer {
                Some(viewer) => viewer.clone(),
                None => session(ctx).await?,
            };
            match call
                .recovery
                .activity
                .page(&session, &self.member, first.unwrap_or(20), after.as_deref())
                .await?
            {
                Ok(page) => Ok(page.into()),
                Err(ActivityRefusal::PageSize) => {
                    Err(UserError::new(ErrorCode::InvalidInput, &["first"], call.lang).into())
                }
                Err(ActivityRefusal::Cursor) => {
                    Err(UserError::new(ErrorCode::InvalidInput, &["after"], call.lang).into())
                }
                Err(ActivityRefusal::NotOwnAccount) => Err(Stop::Request(unauthenticated(call.lang))),
            }
        })
        .await
    }
}
