//! The GraphQL endpoint's limits: `GRAPHQL_MAX_DEPTH`, `GRAPHQL_MAX_COMPLEXITY`,
//! `GRAPHQL_MAX_ALIASES`, `GRAPHQL_MAX_ROOT_FIELDS` (root fields per operation, duplicates and
//! fragments included: each runs and spends its rate limits separately), and `TRUSTED_DOCUMENTS` (a graphql-codegen persisted-documents
//! manifest: when set, only its operations run).
use std::path::PathBuf;

use super::vars::{SettingsError, Vars};

#[derive(Debug, Clone)]
pub struct GraphqlSettings {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub trusted_documents: Option<PathBuf>,
}

impl GraphqlSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(GraphqlSettings {
            max_depth: vars.parsed("GRAPHQL_MAX_DEPTH", 16)?,
            max_complexity: vars.parsed("GRAPHQL_MAX_COMPLEXITY", 150)?,
            max_aliases: vars.parsed("GRAPHQL_MAX_ALIASES", 10)?,
            // The SPA's operations have one or two; GraphiQL users may batch a few.
            max_root_fields: vars.parsed("GRAPHQL_MAX_ROOT_FIELDS", 10)?,
            trusted_documents: vars.parsed_opt("TRUSTED_DOCUMENTS")?,
        })
    }
}
