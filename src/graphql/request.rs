//! What every resolver reads from the request (services, language, client, site, session) and
//! how a resolver body written with `?` becomes its answer.
use async_graphql::Context;

use super::{
    errors::{UserError, invalid_input, to_graphql_error, unauthenticated},
    i18n::Lang,
};
use crate::{
    domain::{
        challenge::ChallengeSolution,
        client::ClientAddress,
        device::DeviceToken,
        session::{AccessToken, SessionInfo},
        site::SiteId,
    },
    recovery::{Recovery, context::RequestContext, errors::RecoveryError},
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

/// The signed-in session, or `None` when the request carries no `Authorization` header.
/// A malformed, unknown, expired or revoked token is UNAUTHENTICATED: never silently anonymous.
pub async fn optional_session(ctx: &Context<'_>) -> async_graphql::Result<Option<SessionInfo>> {
    let Call { recovery, lang, .. } = Call::of(ctx)?;
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

/// Why a resolver stops early: problems for the user (the payload's `errors`), a use case that
/// could not serve the request, or another failure of the request itself (top-level errors).
pub enum Stop {
    User(Vec<UserError>),
    Failed(RecoveryError),
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

impl From<RecoveryError> for Stop {
    fn from(e: RecoveryError) -> Self {
        Stop::Failed(e)
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

/// What every resolver reads from the request, in one place: the use cases, the language, the
/// client address; and the one point where a resolver body's stop becomes its answer.
pub struct Call<'a> {
    pub recovery: &'a Recovery,
    pub lang: Lang,
    client: Option<ClientAddress>,
    now: chrono::DateTime<chrono::Utc>,
    solution: Option<ChallengeSolution>,
    device: Option<DeviceToken>,
}

impl<'a> Call<'a> {
    /// The request-scoped services (attached by the HTTP layer); a schema run without them is a
    /// top-level error, never a panic.
    pub fn of(ctx: &Context<'a>) -> async_graphql::Result<Call<'a>> {
        Ok(Call {
            recovery: ctx.data::<std::sync::Arc<Recovery>>()?,
            lang: ctx.data_opt::<Lang>().copied().unwrap_or_default(),
            client: ctx.data_opt::<ClientAddress>().copied(),
            solution: ctx.data_opt::<ChallengeSolution>().cloned(),
            device: ctx.data_opt::<DeviceToken>().cloned(),
            // The one read of the clock for this call: every rule below uses this time.
            now: chrono::Utc::now(),
        })
    }

    /// The site named by the request, or the default one.
    pub fn site(&self, raw: Option<String>) -> Result<SiteId, UserError> {
        raw.map(|r| SiteId::parse(&r))
            .transpose()
            .map(|s| self.recovery.policies.site_or_default(s))
            .map_err(|e| UserError::site(e, self.lang))
    }

    /// The use-case context of a request about the site it names (or the default one).
    pub fn on_site(&self, raw: Option<String>) -> Result<RequestContext, UserError> {
        Ok(self.on(self.site(raw)?))
    }

    /// The use-case context of a request about `site`.
    pub fn on(&self, site: SiteId) -> RequestContext {
        RequestContext {
            site,
            lang: self.lang,
            client: self.client,
            now: self.now,
            solution: self.solution.clone(),
            device: self.device.clone(),
        }
    }

    /// Runs a resolver body written with `?`: user errors become the payload's `errors`, use-case
    /// failures and other request failures top-level errors (internals logged, never sent).
    pub async fn answer<P: Payload>(
        &self,
        body: impl std::future::Future<Output = Result<P, Stop>>,
    ) -> async_graphql::Result<P> {
        match body.await {
            Ok(payload) => Ok(payload),
            Err(Stop::User(errors)) => Ok(P::refused(errors)),
            Err(stop) => Err(self.top_level(stop)),
        }
    }

    /// Like `answer`, for results with no payload to carry user errors: a malformed input is then
    /// a top-level INVALID_INPUT error naming the field.
    pub async fn run<T>(
        &self,
        body: impl std::future::Future<Output = Result<T, Stop>>,
    ) -> async_graphql::Result<T> {
        body.await.map_err(|stop| self.top_level(stop))
    }

    fn top_level(&self, stop: Stop) -> async_graphql::Error {
        match stop {
            Stop::User(errors) => invalid_input(errors),
            Stop::Failed(e) => to_graphql_error(e, self.lang),
            Stop::Request(e) => e,
        }
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
