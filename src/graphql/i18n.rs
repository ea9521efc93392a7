//! Re-export of the request language for the GraphQL layer.
pub use crate::domain::lang::Lang;
