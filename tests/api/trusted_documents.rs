//! TRUSTED_DOCUMENTS: only the manifest's operations run, by id or by their exact text; GraphiQL
//! is off; a manifest whose ids are not its documents' hashes stops the start.
use account_recovery::{app::Application, http::trusted_documents::document_id};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_settings, scratch_dir, spawn_app_with};

const POLICY: &str = "query PasswordPolicy { passwordPolicy { minLength } }";
const CHECK: &str = "query CheckLoginId($loginId: String!) { checkLoginId(loginId: $loginId) { exists } }";

fn manifest(entries: Value) -> String {
    let path = scratch_dir().join("persisted-documents.json");
    std::fs::write(&path, entries.to_string()).unwrap();
    path.display().to_string()
}

async fn post(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn only_listed_operations_run() {
    let backend = &Backend::Sqlite;
    let path = manifest(json!({ document_id(POLICY): POLICY, document_id(CHECK): CHECK }));
    let settings = backend_settings(backend, &[("TRUSTED_DOCUMENTS", &path)]).await;
    let app = spawn_app_with(backend, settings).await;

    let (status, body) = post(&app, json!({"documentId": document_id(POLICY)})).await;
    assert_eq!(
        (status, &body["data"]["passwordPolicy"]["minLength"]),
        (200, &json!(8)),
        "{body}"
    );
    let (_, body) = post(&app, json!({"query": CHECK, "variables": {"loginId": "nobody1"}})).await;
    assert_eq!(body["data"]["checkLoginId"]["exists"], false, "{body}");
    // The id decides: a query sent along with a listed id does not run.
    let (_, body) = post(
        &app,
        json!({"documentId": document_id(POLICY), "query": "{ __schema { types { name } } }"}),
    )
    .await;
    assert!(body["data"]["passwordPolicy"].is_object(), "{body}");

    for refused in [
        json!({"query": "{ passwordPolicy { minLength maxLength } }"}),
        json!({"query": format!("{POLICY}\n")}),
        json!({"documentId": "sha256:0000"}),
        json!({"documentId": document_id("{ me { loginId } }"), "query": "{ me { loginId } }"}),
    ] {
        let (status, body) = post(&app, refused.clone()).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "DOCUMENT_NOT_TRUSTED",
            "{refused}: {body}"
        );
        assert!(body.get("data").is_none(), "{body}");
    }
    let graphiql = app.get("/graphql").await;
    assert_eq!(
        graphiql.status(),
        405,
        "GraphiQL stays off with trusted documents"
    );
}

#[tokio::test]
async fn a_manifest_that_does_not_hash_to_its_ids_stops_the_start() {
    let backend = &Backend::Sqlite;
    let path = manifest(json!({ document_id(POLICY): CHECK }));
    let settings = backend_settings(backend, &[("TRUSTED_DOCUMENTS", &path)]).await;
    let error = Application::build(settings).await.err().expect("a start refused");
    assert!(format!("{error:#}").contains("does not hash"), "{error:#}");
}
