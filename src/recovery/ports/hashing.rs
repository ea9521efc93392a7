//! Password hashing: hash, verify (a dummy verification for unknown accounts), recognise a hash.
use async_trait::async_trait;

use crate::domain::{member::StoredHash, password::Password};

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The hash is bcrypt or uses weaker argon2 parameters than configured.
    pub needs_rehash: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("stored hash is not a supported format")]
    UnsupportedHash,
    #[error("hashing failed: {0}")]
    Internal(String),
}

/// Password hashing off the async runtime, with bounded concurrency.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes an already normalised password with the configured argon2id parameters.
    async fn hash(&self, password: &Password) -> Result<StoredHash, HashError>;
    async fn verify(&self, password: &Password, stored: &StoredHash) -> Result<Verification, HashError>;
    /// Spends the same time as a real verification, for unknown accounts.
    async fn verify_dummy(&self, password: &Password);
    /// Whether a string is a stored hash this service can verify (argon2 PHC or bcrypt).
    fn is_supported_hash(&self, stored: &str) -> bool;
}
