//! What every resolver reads from the request: the services, the language, the client address,
//! and the site it names.
use async_graphql::Context;

use super::{
    errors::{UserError, rate_limited, to_graphql_error, unauthenticated},
    i18n::Lang,
};
use crate::{
    domain::{
        client::ClientAddress,
        session::{AccessToken, SessionInfo},
        site::SiteId,
    },
    recovery::{Recovery, context::RequestContext, rate_limits::Operation},
};

/// The `Authorization` header of the request, as the HTTP layer found it.
#[derive(Debug, Clone)]
pub enum Bearer {
    Absent,
    /// Present but not `Bearer <token>` with a well-formed token.
    Malformed,
    Token(AccessToken),
}

impl Bearer {
    pub fn from_header(value: Option<&str>) -> Bearer {
        let Some(value) = value else { return Bearer::Absent };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(AccessToken::parse);
        match token {
            Some(Ok(token)) => Bearer::Token(token),
            _ => Bearer::Malformed,
        }
    }
}

/// Counts this call against the rate limits of `op` (per client address and per `target`);
/// RATE_LIMITED with `retryAfter` when over.
pub async fn admit(ctx: &Context<'_>, op: Operation, target: Option<String>) -> async_graphql::Result<()> {
    let (recovery, lang) = services(ctx)?;
    let client = ctx.data_opt::<ClientAddress>().map(ClientAddress::limit_subject);
    match recovery
        .rate_limits
        .admit(op, client.as_deref(), target.as_deref())
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(limited)) => Err(rate_limited(limited.retry_after, lang)),
        Err(e) => Err(to_graphql_error(e, lang)),
    }
}

/// Rate-limit targets: normalised identifiers, and only keyed hashes of identity values.
pub mod target {
    use crate::{
        domain::{email::Email, keyed_hash::Ci, login_id::LoginId, site::SiteId},
        recovery::Recovery,
    };

    pub fn email(site: &SiteId, email: &Email) -> Option<String> {
        Some(format!("{site}:email:{}", email.as_str()))
    }

    pub fn login(site: &SiteId, id: &LoginId) -> Option<String> {
        Some(format!("{site}:login:{}", id.normalized()))
    }

    pub fn identity(recovery: &Recovery, site: &SiteId, ci: &Ci) -> Option<String> {
        Some(format!("{site}:ci:{}", recovery.find_id.identity_key(ci)))
    }
}

/// The signed-in session, or `None` when the request carries no `Authorization` header.
/// A malformed, unknown, expired or revoked token is UNAUTHENTICATED: never silently anonymous.
pub async fn optional_session(ctx: &Context<'_>) -> async_graphql::Result<Option<SessionInfo>> {
    let (recovery, lang) = services(ctx)?;
    match ctx.data_opt::<Bearer>().unwrap_or(&Bearer::Absent) {
        Bearer::Absent => Ok(None),
        Bearer::Malformed => Err(unauthenticated(lang)),
        Bearer::Token(token) => match recovery.sessions.authenticate(token).await {
            Ok(Some(session)) => Ok(Some(session)),
            Ok(None) => Err(unauthenticated(lang)),
            Err(e) => Err(to_graphql_error(e, lang)),
        },
    }
}

/// The signed-in session; UNAUTHENTICATED without one.
pub async fn session(ctx: &Context<'_>) -> async_graphql::Result<SessionInfo> {
    let lang = ctx.data_opt::<Lang>().copied().unwrap_or_default();
    optional_session(ctx).await?.ok_or_else(|| unauthenticated(lang))
}

/// Why a resolver stops early: problems for the user (the payload's `errors`), or a failure of
/// the request itself (a top-level error).
pub enum Stop {
    User(Vec<UserError>),
    Request(async_graphql::Error),
}

impl From<UserError> for Stop {
    fn from(e: UserError) -> Self {
        Stop::User(vec![e])
    }
}

impl From<Vec<UserError>> for Stop {
    fn from(e: Vec<UserError>) -> Self {
        Stop::User(e)
    }
}

impl From<async_graphql::Error> for Stop {
    fn from(e: async_graphql::Error) -> Self {
        Stop::Request(e)
    }
}

/// A payload that can carry user errors (all its other fields then empty).
pub trait Payload: Default {
    fn refused(errors: Vec<UserError>) -> Self;
}

/// Runs a resolver body written with `?`: user errors become the payload's `errors`, request
/// failures top-level errors.
pub async fn answer<P: Payload>(
    body: impl std::future::Future<Output = Result<P, Stop>>,
) -> async_graphql::Result<P> {
    match body.await {
        Ok(payload) => Ok(payload),
        Err(Stop::User(errors)) => Ok(P::refused(errors)),
        Err(Stop::Request(e)) => Err(e),
    }
}

/// The request-scoped services and language (attached by the HTTP layer).
pub fn services<'a>(ctx: &Context<'a>) -> async_graphql::Result<(&'a Recovery, Lang)> {
    let recovery = ctx.data::<Recovery>()?;
    let lang = ctx.data_opt::<Lang>().copied().unwrap_or_default();
    Ok((recovery, lang))
}

/// The site named by the request, or the default one.
pub fn site(recovery: &Recovery, raw: Option<String>, lang: Lang) -> Result<SiteId, UserError> {
    raw.map(|r| SiteId::parse(&r))
        .transpose()
        .map(|s| recovery.policies.site_or_default(s))
        .map_err(|e| UserError::site(e, lang))
}

/// The use-case context of a request about `site`.
pub fn context(ctx: &Context<'_>, site: SiteId, lang: Lang) -> RequestContext {
    RequestContext {
        site,
        lang,
        client: ctx.data_opt::<ClientAddress>().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_headers_are_parsed_strictly() {
        let token = AccessToken::generate();
        assert!(matches!(Bearer::from_header(None), Bearer::Absent));
        assert!(
            matches!(Bearer::from_header(Some(&format!("Bearer {}", token.expose()))), Bearer::Token(t) if t == token)
        );
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Basic abc",
            &format!("Token {}", token.expose()),
            "Bearer short",
        ] {
            assert!(
                matches!(Bearer::from_header(Some(bad)), Bearer::Malformed),
                "{bad:?}"
            );
        }
    }
}
