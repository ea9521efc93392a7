//! The HTTP edge: health, readiness, GraphiQL, request ids, and refusals before GraphQL runs.
use serde_json::{Value, json};

use crate::helpers::{Backend, backend_test, spawn_app};

#[backend_test]
async fn health_readiness_and_graphiql(backend: Backend) {
    let app = spawn_app(&backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200, "[{}]", app.backend);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");

    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app(&Backend::Sqlite).await;
    let a = app.get("/healthz").await;
    let b = app.get("/healthz").await;
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(!id(&a).is_empty());
    assert_ne!(id(&a), id(&b));
    let given = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&given), "trace-me-42");
}

#[tokio::test]
async fn requests_that_are_not_one_json_operation_are_refused() {
    let app = spawn_app(&Backend::Sqlite).await;
    let query = json!({"query": "{ passwordPolicy { minLength } }"}).to_string();

    let form = app
        .post_raw("application/x-www-form-urlencoded", query.clone())
        .await;
    assert_eq!(form.status(), 415);
    let text = app.post_raw("text/plain", query.clone()).await;
    assert_eq!(text.status(), 415);
    let batch = app
        .post_raw("application/json", format!("[{query},{query}]"))
        .await;
    assert_eq!(batch.status(), 400);
    let body: Value = batch.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    let garbage = app.post_raw("application/json", "{not json".into()).await;
    assert_eq!(garbage.status(), 400);
    let huge = app
        .post_raw(
            "application/json",
            format!("{{\"query\": \"{}\"}}", "x".repeat(100_000)),
        )
        .await;
    assert_eq!(huge.status(), 413);

    let ok = app.post_raw("application/json; charset=utf-8", query).await;
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["data"]["passwordPolicy"]["minLength"], 8);
}

#[tokio::test]
async fn queries_run_over_get_too() {
    let app = spawn_app(&Backend::Sqlite).await;
    let response = app
        .client
        .get(
            url::Url::parse_with_params(
                &format!("{}/graphql", app.address),
                [("query", "{ passwordPolicy { maxLength } }")],
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["passwordPolicy"]["maxLength"], 30);
}
