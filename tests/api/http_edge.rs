//! The HTTP edge: health, readiness, GraphiQL, request ids, and refusals before GraphQL runs.
use serde_json::{Value, json};

use crate::helpers::{Backend, backend_settings, backend_test, spawn_app, spawn_app_with};

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

/// Operations run over POST only: a query string never runs, whether it holds a query, a
/// mutation or a persisted document's id, and GraphiQL is the only thing GET serves.
#[tokio::test]
async fn get_runs_no_operation() {
    let app = spawn_app(&Backend::Sqlite).await;
    for params in [
        vec![("query", "{ passwordPolicy { maxLength } }")],
        vec![("query", "mutation { signOut }")],
        vec![("documentId", "sha256:00")],
    ] {
        let url = url::Url::parse_with_params(&format!("{}/graphql", app.address), &params).unwrap();
        let response = app.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 405, "{params:?}");
        assert_eq!(response.headers()["allow"], "POST", "{params:?}");
        let body: Value = response.json().await.unwrap();
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body}");
    }
    assert_eq!(app.get("/graphql").await.status(), 200, "GraphiQL");
}

/// Without TRUSTED_DOCUMENTS there is no document an id could name: a request with only a
/// `documentId` is told to send its query (with one, the query runs and the id is ignored).
#[tokio::test]
async fn a_document_id_without_a_manifest_asks_for_the_query() {
    let app = spawn_app(&Backend::Sqlite).await;
    let alone = app
        .post_raw("application/json", json!({"documentId": "sha256:00"}).to_string())
        .await;
    assert_eq!(alone.status(), 400);
    let body: Value = alone.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("send the query"),
        "{body}"
    );
    let both = app
        .post_raw(
            "application/json",
            json!({"documentId": "sha256:00", "query": "{ passwordPolicy { maxLength } }"}).to_string(),
        )
        .await;
    let body: Value = both.json().await.unwrap();
    assert_eq!(body["data"]["passwordPolicy"]["maxLength"], 30, "{body}");
}

/// Every `/graphql` answer may carry a token, a code or a name: none may be kept by a cache or
/// sniffed into another type, whatever the outcome; and the site is https, so browsers stay on it.
#[tokio::test]
async fn graphql_answers_are_never_stored_and_https_is_required() {
    let app = spawn_app(&Backend::Sqlite).await;
    let post = |content_type: &'static str, body: &'static str| app.post_raw(content_type, body.into());
    let answers = [
        (
            "ok",
            post("application/json", r#"{"query":"{__typename}"}"#).await,
        ),
        ("parse error", post("application/json", r#"{"query":"{"}"#).await),
        (
            "not JSON",
            post("text/plain", r#"{"query":"{__typename}"}"#).await,
        ),
        ("GraphiQL", app.get("/graphql").await),
    ];
    for (what, answer) in &answers {
        let h = answer.headers();
        assert_eq!(h["cache-control"], "no-store", "{what}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age="),
            "{what}"
        );
    }
    assert!(
        app.get("/healthz")
            .await
            .headers()
            .contains_key("strict-transport-security")
    );

    let plain = spawn_app_with(
        &Backend::Sqlite,
        backend_settings(
            &Backend::Sqlite,
            &[("PUBLIC_RESET_URL", "http://127.0.0.1:8080/reset-password")],
        )
        .await,
    )
    .await;
    let answer = plain.get("/graphql").await;
    assert!(!answer.headers().contains_key("strict-transport-security"));
    assert_eq!(answer.headers()["cache-control"], "no-store");
}

/// graphql-js `getIntrospectionQuery({ descriptions, specifiedByUrl, directiveIsRepeatable,
/// schemaDescription, inputValueDeprecation, oneOf })`: what GraphiQL, Apollo Sandbox and codegen
/// send. Its type references nest deeper than any operation of the API may.
const INTROSPECTION_QUERY: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  isOneOf
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}
"#;

#[tokio::test]
async fn the_standard_introspection_query_loads_the_schema_and_nothing_else_escapes_the_limits() {
    let app = spawn_app(&Backend::Sqlite).await;
    let body = app.graphql(INTROSPECTION_QUERY, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().expect("types");
    let named = |name: &str| types.iter().find(|t| t["name"] == name).cloned();
    assert!(named("Query").is_some() && named("Mutation").is_some());
    assert_eq!(named("ResetRequest").expect("ResetRequest")["isOneOf"], true);

    // The same depth with an API field in it is an ordinary query, and refused.
    let mixed = INTROSPECTION_QUERY.replace(
        "  __schema {\n    description",
        "  passwordPolicy { minLength }\n  __schema {\n    description",
    );
    let refused = app.graphql(&mixed, json!({})).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{refused}"
    );
}

/// GraphQL over HTTP: the media type the client accepts, and requests that fail before execution
/// answered with a code, no `data`, and 400 for clients of `application/graphql-response+json`.
#[tokio::test]
async fn failed_requests_carry_a_code_and_no_data_and_the_accepted_media_type() {
    let app = spawn_app(&Backend::Sqlite).await;
    let send = |accept: Option<&'static str>, body: Value| {
        let mut request = app.client.post(format!("{}/graphql", app.address)).json(&body);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let media = response.headers()["content-type"].to_str().unwrap().to_owned();
            (status, media, response.json::<Value>().await.unwrap())
        }
    };
    const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
    let ok = json!({"query": "{ __typename }"});
    for accept in [None, Some("*/*"), Some("application/json")] {
        let (status, media, body) = send(accept, ok.clone()).await;
        assert_eq!((status, media.as_str()), (200, "application/json"), "{accept:?}");
        assert_eq!(body["data"]["__typename"], "Query");
    }
    let (_, media, _) = send(Some(GRAPHQL_RESPONSE), ok).await;
    assert_eq!(media, GRAPHQL_RESPONSE);

    let variables = json!({"query": "query($l: String!) { checkLoginId(loginId: $l) { exists } }", "variables": {"l": 5}});
    for (body, code) in [
        (json!({"query": "{"}), "GRAPHQL_PARSE_FAILED"),
        (json!({"query": "{ noSuchField }"}), "GRAPHQL_VALIDATION_FAILED"),
        (variables, "GRAPHQL_VALIDATION_FAILED"),
    ] {
        for (accept, status) in [(GRAPHQL_RESPONSE, 400), ("application/json", 200)] {
            let (got, _, answer) = send(Some(accept), body.clone()).await;
            assert_eq!(got, status, "{body} {accept}: {answer}");
            assert!(answer.get("data").is_none(), "{body}: {answer}");
            assert_eq!(
                answer["errors"][0]["extensions"]["code"], code,
                "{body}: {answer}"
            );
        }
    }
    let (_, _, parse) = send(None, json!({"query": "{"})).await;
    assert_eq!(
        parse["errors"][0]["message"], "syntax error at line 1, column 2",
        "{parse}"
    );
}
