//! The GraphQL endpoint's limits: `GRAPHQL_MAX_DEPTH`, `GRAPHQL_MAX_COMPLEXITY`,
//! `GRAPHQL_MAX_ALIASES`, and `TRUSTED_DOCUMENTS` (a graphql-codegen persisted-documents
//! manifest: when set, only its operations run).
use std::path::PathBuf;

use super::vars::{SettingsError, Vars};

#[derive(Debug, Clone)]
pub struct GraphqlSettings {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub trusted_documents: Option<PathBuf>,
}

impl GraphqlSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(GraphqlSettings {
            max_depth: vars.parsed("GRAPHQL_MAX_DEPTH", 16)?,
            max_complexity: vars.parsed("GRAPHQL_MAX_COMPLEXITY", 150)?,
            max_aliases: vars.parsed("GRAPHQL_MAX_ALIASES", 10)?,
            trusted_documents: vars.parsed_opt("TRUSTED_DOCUMENTS")?,
        })
    }
}
