//! Who is asking: the context every use case receives (site, language of any mail, client).
use crate::domain::{client::ClientAddress, lang::Lang, site::SiteId};

/// The site a request is about, the language of any mail it sends, and the client address (for
/// rate limits and the audit).
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub site: SiteId,
    pub lang: Lang,
    pub client: Option<ClientAddress>,
}

impl RequestContext {
    /// The client address as the audit table stores it.
    pub fn client_text(&self) -> Option<String> {
        self.client.map(|c| c.to_string())
    }

    /// The subject the client counts as in rate limits and throttles.
    pub fn client_subject(&self) -> Option<String> {
        self.client.map(|c| c.limit_subject())
    }
}
