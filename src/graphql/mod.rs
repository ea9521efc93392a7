//! The GraphQL API: types, thin resolvers, error mapping and the schema builder (no I/O).
pub mod activity;
pub mod answers;
pub mod enums;
pub mod errors;
pub mod i18n;
pub mod mutation;
pub mod operation_metrics;
pub mod parse;
pub mod query;
pub mod request;
pub mod scalars;
pub mod types;

use async_graphql::{EmptySubscription, Schema};

pub use mutation::MutationRoot;
pub use query::QueryRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Limits and switches of the schema (async-graphql has no limits by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaOptions {
    /// Introspection and field suggestions off.
    pub production: bool,
    pub max_depth: usize,
    /// Each field costs 1; the operations that guess a secret (a code, token, password or identity
    /// value) cost 100 more, so with the default of 150 one fits a request; `findId` costs 50.
    pub max_complexity: usize,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            production: false,
            max_depth: 16,
            max_complexity: 150,
        }
    }
}

/// Builds the schema. Services are attached to each request, so this needs no I/O and
/// `print-schema` works without any backend.
pub fn build_schema(options: SchemaOptions) -> AppSchema {
    let mut builder = Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .limit_depth(options.max_depth)
        .limit_complexity(options.max_complexity)
        .limit_recursive_depth(options.max_depth)
        .limit_directives(8)
        .extension(operation_metrics::OperationMetrics);
    if options.production {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The schema for documents that only introspect (GraphiQL's docs, codegen from a URL): their
/// depth and size are the type system's, not a caller's choice, so only the parser's recursion
/// guard holds. `None` in production, where introspection is off.
pub fn build_introspection_schema(options: SchemaOptions) -> Option<AppSchema> {
    (!options.production).then(|| {
        build_schema(SchemaOptions {
            max_depth: INTROSPECTION_DEPTH,
            max_complexity: usize::MAX,
            ..options
        })
    })
}

/// Deeper than graphql-js's introspection query (its type references nest nine levels).
const INTROSPECTION_DEPTH: usize = 64;

/// The SDL that `schema.graphql` must equal.
pub fn sdl() -> String {
    // With `@specifiedBy` on custom scalars, as introspection reports them, so a client generator
    // reading this file sees what one reading the running service sees.
    build_schema(SchemaOptions::default())
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type, field, argument and enum value of ours carries a description.
    #[tokio::test]
    async fn everything_in_the_schema_is_described() {
        let query = r#"{ __schema { types {
            name kind description
            fields { name description args { name description } }
            inputFields { name description }
            enumValues { name description }
        } } }"#;
        let response = build_schema(SchemaOptions::default()).execute(query).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        let builtin = ["String", "Boolean", "Int", "Float", "ID"];
        let mut missing = Vec::new();
        let described =
            |v: &serde_json::Value| v["description"].as_str().is_some_and(|d| !d.trim().is_empty());
        for t in data["__schema"]["types"].as_array().unwrap() {
            let name = t["name"].as_str().unwrap();
            if name.starts_with("__") || builtin.contains(&name) {
                continue;
            }
            if !described(t) {
                missing.push(name.to_owned());
            }
            for f in t["fields"].as_array().into_iter().flatten() {
                if !described(f) {
                    missing.push(format!("{name}.{}", f["name"]));
                }
                for a in f["args"].as_array().into_iter().flatten() {
                    if !described(a) {
                        missing.push(format!("{name}.{}({})", f["name"], a["name"]));
                    }
                }
            }
            for f in t["inputFields"].as_array().into_iter().flatten() {
                if !described(f) {
                    missing.push(format!("{name}.{}", f["name"]));
                }
            }
            for v in t["enumValues"].as_array().into_iter().flatten() {
                if !described(v) {
                    missing.push(format!("{name}.{}", v["name"]));
                }
            }
        }
        assert!(missing.is_empty(), "undescribed: {missing:?}");
    }
}
