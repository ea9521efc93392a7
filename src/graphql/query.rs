//! Query resolvers: parse the input, call one use case, map the result. No rules here.
use async_graphql::{Context, ErrorExtensions, Object};

use super::{
    errors::{UserError, to_graphql_error, top_level},
    request::{admit, answer, optional_session, services, site, target},
    types::{CheckLoginIdPayload, FindIdBy, FindIdPayload, MemberProfile, PasswordPolicyView},
};
use crate::{
    domain::{email::Email, keyed_hash::Ci, login_id::LoginId},
    recovery::rate_limits::Operation,
};

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
        #[graphql(desc = "What to search by: exactly one of `email` or `identity`.")] by: FindIdBy,
    ) -> async_graphql::Result<FindIdPayload> {
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let site = site(recovery, site_id, lang)?;
            let found = match by {
                FindIdBy::Email(raw) => {
                    let email =
                        Email::parse(&raw).map_err(|e| UserError::email(e, &["by", "email"], lang))?;
                    admit(ctx, Operation::FindId, target::email(&site, &email)).await?;
                    recovery.find_id.by_email(&site, &email).await
                }
                FindIdBy::Identity(identity) => {
                    let ci = Ci::parse(&identity.ci)
                        .map_err(|e| UserError::ci(e, &["by", "identity", "ci"], lang))?;
                    admit(ctx, Operation::FindId, target::identity(recovery, &site, &ci)).await?;
                    recovery
                        .find_id
                        .by_identity(&site, &ci, identity.join_type.into())
                        .await
                }
            };
            let accounts = found.map_err(|e| to_graphql_error(e, lang))?;
            Ok(FindIdPayload {
                accounts: accounts.into_iter().map(Into::into).collect(),
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
        answer(async {
            let (recovery, lang) = services(ctx)?;
            let site = site(recovery, site_id, lang)?;
            let login_id =
                LoginId::parse(&login_id).map_err(|e| UserError::login_id(e, &["loginId"], lang))?;
            admit(ctx, Operation::CheckLoginId, target::login(&site, &login_id)).await?;
            let check = recovery
                .find_id
                .check_login_id(&site, &login_id)
                .await
                .map_err(|e| to_graphql_error(e, lang))?;
            Ok(check.into())
        })
        .await
    }

    /// The password rules of a site, so a client can check a new password as the user types.
    async fn password_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Site code; the configured default site when absent.")] site_id: Option<String>,
    ) -> async_graphql::Result<PasswordPolicyView> {
        let (recovery, lang) = services(ctx)?;
        // No payload to carry user errors here: a malformed site is a typed top-level error.
        let site = site(recovery, site_id, lang).map_err(|e| {
            async_graphql::Error::new(e.message).extend_with(|_, ext| {
                ext.set("code", top_level::INVALID_INPUT);
                ext.set("field", vec!["siteId"]);
            })
        })?;
        let policy = recovery
            .policies
            .policy_for(&site)
            .await
            .map_err(|e| to_graphql_error(e, lang))?;
        Ok(policy.into())
    }

    /// The signed-in member (`Authorization: Bearer …`), or null without a token. An invalid,
    /// expired or revoked token is an UNAUTHENTICATED error.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<MemberProfile>> {
        let (recovery, lang) = services(ctx)?;
        let Some(session) = optional_session(ctx).await? else {
            return Ok(None);
        };
        let found = recovery
            .sessions
            .member(&session)
            .await
            .map_err(|e| to_graphql_error(e, lang))?;
        Ok(found.map(|(member, sessions)| MemberProfile::new(&member, sessions)))
    }
}
