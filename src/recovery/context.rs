//! Who is asking, and when: the context every use case receives (site, language of any mail,
//! client, and the time the edge read once for the whole request).
use chrono::{DateTime, Utc};

use crate::domain::{
    challenge::ChallengeSolution, client::ClientAddress, device::DeviceToken, lang::Lang, site::SiteId,
};

/// The site a request is about, the language of any mail it sends, the client address (for rate
/// limits and the audit) and the current time: use cases never read the clock themselves, so their
/// rules run the same under a fixed clock in tests.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub site: SiteId,
    pub lang: Lang,
    pub client: Option<ClientAddress>,
    pub now: DateTime<Utc>,
    /// A solved challenge sent along (`X-Challenge-Solution`), for a call past a target's limit.
    pub solution: Option<ChallengeSolution>,
    /// The device token sent along (`X-Device-Token`), if it has a token's shape.
    pub device: Option<DeviceToken>,
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
