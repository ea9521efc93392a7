//! The error every store port returns: unavailable (try later), conflict, or internal.

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Connection refused, pool timeout, statement timeout: try again later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule refused the write (e.g. a login ID taken on the site).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("store error: {0}")]
    Internal(String),
}
