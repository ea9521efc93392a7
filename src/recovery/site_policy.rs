//! Which site a request is about, and that site's password policy.
use std::sync::Arc;

use crate::{
    domain::{password_policy::PasswordPolicy, site::SiteId},
    recovery::{errors::RecoveryError, ports::MemberDirectory},
};

#[derive(Clone)]
pub struct SitePolicies {
    store: Arc<dyn MemberDirectory>,
    default_site: SiteId,
    default_policy: PasswordPolicy,
}

impl SitePolicies {
    pub fn new(
        store: Arc<dyn MemberDirectory>,
        default_site: SiteId,
        default_policy: PasswordPolicy,
    ) -> Self {
        SitePolicies {
            store,
            default_site,
            default_policy,
        }
    }

    /// The site named by the request, or the configured default when it names none.
    pub fn site_or_default(&self, site: Option<SiteId>) -> SiteId {
        site.unwrap_or_else(|| self.default_site.clone())
    }

    /// The site's own policy when it has one, else the configured default. An unknown site gets
    /// the default too, so the answer does not reveal which site codes exist.
    pub async fn policy_for(&self, site: &SiteId) -> Result<PasswordPolicy, RecoveryError> {
        Ok(self
            .store
            .find_site(site)
            .await?
            .and_then(|s| s.password_policy)
            .unwrap_or_else(|| self.default_policy.clone()))
    }
}
