//! `checkLoginId`: existence, kind, whether a reset is possible, masked e-mail; bad input.
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, backend_test, spawn_app},
    operations::{Answer, LoginIdCheck, UserErrors},
};

/// The whole payload as JSON, to compare with the table's.
fn payload(answer: &Answer<LoginIdCheck>) -> Value {
    answer.body["data"]["checkLoginId"].clone()
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
        let answer = app.check_login_id(site, id).await;
        assert_eq!(payload(&answer), want, "[{}] {id} on {site:?}", app.backend);
    }
}

/// Checks sent all at once share database lookups (batched `IN (…)` queries, duplicates and
/// other sites among them); each still gets the answer it gets alone.
#[backend_test]
async fn checks_sent_together_each_get_their_own_answer(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    let asked: Vec<_> = (0..6).flat_map(|_| cases()).collect();
    let answers =
        futures::future::join_all(asked.iter().map(|(id, site, _)| app.check_login_id(*site, id))).await;
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
        let p = app.check_login_id(None, &id).await;
        assert_eq!(
            p.user_errors(),
            vec![("INVALID_INPUT".to_owned(), json!(["loginId"]))],
            "[{}] {id:.20}",
            app.backend
        );
        assert!(!p.exists);
        assert!(p.member_type.is_none() && p.masked_email.is_none());
    }
    let bad_site = app.check_login_id(Some("bad site!"), "alice01").await;
    assert_eq!(
        bad_site.user_errors(),
        vec![("INVALID_INPUT".to_owned(), json!(["siteId"]))]
    );
}
