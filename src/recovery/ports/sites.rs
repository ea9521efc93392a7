//! The sites members belong to, with each site's own password policy.
use async_trait::async_trait;

use crate::{
    domain::site::{Site, SiteId},
    recovery::ports::errors::StoreError,
};

#[async_trait]
pub trait SiteDirectory: Send + Sync {
    async fn find_site(&self, site: &SiteId) -> Result<Option<Site>, StoreError>;
}
