//! Per-operation request counts and latencies for `/metrics`: an async-graphql extension that
//! times every root field (so aliases and several fields in one request count one by one).
use std::{sync::Arc, time::Instant};

use async_graphql::{
    ServerResult, Value,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo},
};

/// The `outcome` label: the field resolved, or it answered a top-level error.
pub const OUTCOMES: [&str; 2] = ["ok", "error"];

pub struct OperationMetrics;

/// The root fields of the schema, for the `operation` label: `/metrics` shows each one from the
/// first scrape.
pub async fn operation_names() -> Vec<String> {
    let query = "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }";
    // A bare schema: through the served one this introspection would count as an operation.
    let schema = async_graphql::Schema::build(
        super::query::QueryRoot,
        super::mutation::MutationRoot,
        async_graphql::EmptySubscription,
    )
    .finish();
    let response = schema.execute(query).await;
    let data = response.data.into_json().unwrap_or_default();
    ["queryType", "mutationType"]
        .iter()
        .filter_map(|root| data["__schema"][root]["fields"].as_array())
        .flatten()
        .filter_map(|field| field["name"].as_str().map(str::to_owned))
        .collect()
}

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExtension)
    }
}

struct OperationMetricsExtension;

#[async_trait::async_trait]
impl Extension for OperationMetricsExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        let operation = info.name.to_owned();
        let started = Instant::now();
        let result = next.run(ctx, info).await;
        let outcome = if result.is_ok() { OUTCOMES[0] } else { OUTCOMES[1] };
        metrics::counter!("graphql_operations_total", "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("graphql_operation_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        result
    }
}
