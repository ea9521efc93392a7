//! `checkLoginId`: existence, kind, whether a reset is possible, masked e-mail; bad input.
use serde_json::{Value, json};

use crate::helpers::{Backend, backend_test, spawn_app, user_errors};

const CHECK: &str = r#"query($site: String, $id: String!) {
  checkLoginId(siteId: $site, loginId: $id) {
    exists memberType canResetPassword maskedEmail
    errors { code field message }
  }
}"#;

fn payload(body: &Value) -> Value {
    body["data"]["checkLoginId"].clone()
}

/// Login ID, site, and the answer the fixture gives.
fn cases() -> [(&'static str, Option<&'static str>, Value); 9] {
    [
        // Site codes compare case-insensitively too.
        (
            "alice01",
            Some("OTHER"),
            json!({"exists": true, "memberType": "GENERAL", "canResetPassword": true, "maskedEmail": "al***@ot***.example", "errors": []}),
        ),
        // Login IDs compare case-insensitively on every backend.
        (
            "ALICE01",
            None,
            json!({"exists": true, "memberType": "GENERAL", "canResetPassword": true, "maskedEmail": "al***@ex*****.com", "errors": []}),
        ),
        (
            "alicebiz",
            None,
            json!({"exists": true, "memberType": "ENTERPRISE", "canResetPassword": true, "maskedEmail": "al***@ex*****.com", "errors": []}),
        ),
        (
            "socialbob",
            None,
            json!({"exists": true, "memberType": "SOCIAL", "canResetPassword": false, "maskedEmail": "bo*@ex*****.com", "errors": []}),
        ),
        (
            "locked1",
            None,
            json!({"exists": true, "memberType": "GENERAL", "canResetPassword": false, "maskedEmail": "lo****@ex*****.com", "errors": []}),
        ),
        (
            "gone1",
            None,
            json!({"exists": false, "memberType": null, "canResetPassword": false, "maskedEmail": null, "errors": []}),
        ),
        (
            "nobody",
            None,
            json!({"exists": false, "memberType": null, "canResetPassword": false, "maskedEmail": null, "errors": []}),
        ),
        (
            "alice01",
            Some("other"),
            json!({"exists": true, "memberType": "GENERAL", "canResetPassword": true, "maskedEmail": "al***@ot***.example", "errors": []}),
        ),
        (
            "alicebiz",
            Some("other"),
            json!({"exists": false, "memberType": null, "canResetPassword": false, "maskedEmail": null, "errors": []}),
        ),
    ]
}

#[backend_test]
async fn answers_for_each_kind_of_account(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    for (id, site, want) in cases() {
        let body = app.graphql(CHECK, json!({"id": id, "site": site})).await;
        assert_eq!(payload(&body), want, "[{}] {id} on {site:?}", app.backend);
    }
}

/// Checks sent all at once share database lookups (batched `IN (…)` queries, duplicates and
/// other sites among them); each still gets the answer it gets alone.
#[backend_test]
async fn checks_sent_together_each_get_their_own_answer(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    let asked: Vec<_> = (0..6).flat_map(|_| cases()).collect();
    let answers = futures::future::join_all(
        asked
            .iter()
            .map(|(id, site, _)| app.graphql(CHECK, json!({"id": id, "site": site}))),
    )
    .await;
    for ((id, site, want), body) in asked.iter().zip(answers) {
        assert_eq!(&payload(&body), want, "[{}] {id} on {site:?}", app.backend);
    }
}

#[backend_test]
async fn bad_login_ids_get_typed_errors(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    for id in [
        String::new(),
        "   ".into(),
        "a".repeat(10_000),
        "has space".into(),
        "tab\there".into(),
    ] {
        let body = app.graphql(CHECK, json!({"id": id})).await;
        let p = payload(&body);
        assert_eq!(
            user_errors(&p),
            vec![("INVALID_INPUT".to_owned(), json!(["loginId"]))],
            "[{}] {id:.20}",
            app.backend
        );
        assert_eq!(p["exists"], false);
        assert!(p["memberType"].is_null() && p["maskedEmail"].is_null());
    }
    let body = app
        .graphql(CHECK, json!({"id": "alice01", "site": "bad site!"}))
        .await;
    assert_eq!(
        user_errors(&payload(&body)),
        vec![("INVALID_INPUT".to_owned(), json!(["siteId"]))]
    );
}
