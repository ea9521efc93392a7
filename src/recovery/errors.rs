//! Why a use case could not serve a request: a rate limit refused it, or a backend failed.
use std::time::Duration;

use crate::{
    domain::challenge::Challenge,
    recovery::ports::{HashError, StoreError},
};

/// A request that could not be served. Expected outcomes (unknown account, bad input) are not
/// errors: they are part of each use case's result.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// A rate limit refused the call before any work: try again after `retry_after`, or, where
    /// only the target's limit refused it, at once with the `challenge` solved.
    #[error("rate limited")]
    RateLimited {
        retry_after: Duration,
        challenge: Option<Challenge>,
    },
    /// A backend (database, token store) is unreachable or timed out.
    #[error("a backend is unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected state; logged, answered generically.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Hashing a password that passed the policy cannot fail for the user's reasons.
impl From<HashError> for RecoveryError {
    fn from(e: HashError) -> Self {
        RecoveryError::Internal(e.to_string())
    }
}

impl From<StoreError> for RecoveryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => RecoveryError::Unavailable(m),
            StoreError::Conflict(m) | StoreError::Internal(m) => RecoveryError::Internal(m),
        }
    }
}
