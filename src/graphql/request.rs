//! What every resolver reads from the request: the services, the language, the client address,
//! and the site it names.
use async_graphql::Context;

use super::{errors::UserError, i18n::Lang};
use crate::{
    domain::site::SiteId,
    http::client_addr::ClientAddr,
    recovery::{Recovery, password_reset::RequestContext},
};

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
        client: ctx.data_opt::<ClientAddr>().map(|c| c.0.to_string()),
    }
}
