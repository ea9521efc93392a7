//! Whether the database answers, for the health endpoint.
use async_trait::async_trait;

use crate::recovery::ports::errors::StoreError;

#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;
}
