//! `findId` by e-mail and by identity, and its refusals of bad input.
use serde_json::{Value, json};

use crate::helpers::{Backend, backend_test, spawn_app, user_errors};

const FIND_ID: &str = r#"query($site: String, $by: FindIdBy!) {
  findId(siteId: $site, by: $by) {
    accounts { maskedLoginId memberType joinedAt name }
    errors { code field message }
  }
}"#;

fn accounts(body: &Value) -> Vec<Value> {
    body["data"]["findId"]["accounts"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no accounts in {body}"))
}

/// Searches sent all at once share database lookups (batched `IN (…)` queries, with duplicates,
/// an address of two accounts and other sites among them); each gets what it gets alone.
#[backend_test]
async fn searches_sent_together_each_get_what_they_get_alone(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    let asks = [
        (None, "alice@example.com"),
        (Some("other"), "alice@other.example"),
        (None, "nobody@example.com"),
        (Some("other"), "alice@example.com"),
    ];
    let mut alone = Vec::new();
    for (site, email) in asks {
        let body = app
            .graphql(FIND_ID, json!({"site": site, "by": {"email": email}}))
            .await;
        alone.push(accounts(&body));
    }
    assert_eq!(
        alone[0].len(),
        2,
        "[{}] the fixture's address of two accounts",
        app.backend
    );
    let asked: Vec<usize> = (0..8).flat_map(|_| 0..asks.len()).collect();
    let together = futures::future::join_all(asked.iter().map(|&i| {
        let (site, email) = asks[i];
        app.graphql(FIND_ID, json!({"site": site, "by": {"email": email}}))
    }))
    .await;
    for (&i, body) in asked.iter().zip(together) {
        assert_eq!(accounts(&body), alone[i], "[{}] {:?}", app.backend, asks[i]);
    }
}

#[backend_test]
async fn by_email_lists_every_account_of_the_address_masked_without_names(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    // Case and surrounding spaces of the typed address do not matter.
    let body = app
        .graphql(FIND_ID, json!({"by": {"email": "  ALICE@example.COM "}}))
        .await;
    assert_eq!(
        accounts(&body),
        vec![
            json!({"maskedLoginId": "al***01", "memberType": "GENERAL", "joinedAt": "2023-05-01T09:00:00Z", "name": null}),
            json!({"maskedLoginId": "Al****iz", "memberType": "ENTERPRISE", "joinedAt": "2024-01-02T00:00:00Z", "name": null}),
        ],
        "[{}] {body}",
        app.backend
    );
    assert_eq!(body["data"]["findId"]["errors"], json!([]));

    let other = app
        .graphql(
            FIND_ID,
            json!({"site": "other", "by": {"email": "alice@other.example"}}),
        )
        .await;
    assert_eq!(accounts(&other).len(), 1, "[{}] other site", app.backend);
    let unknown = app
        .graphql(FIND_ID, json!({"by": {"email": "nobody@example.com"}}))
        .await;
    assert_eq!(accounts(&unknown), Vec::<Value>::new(), "[{}]", app.backend);
    let unknown_site = app
        .graphql(
            FIND_ID,
            json!({"site": "nosuchsite", "by": {"email": "alice@example.com"}}),
        )
        .await;
    assert_eq!(accounts(&unknown_site), Vec::<Value>::new(), "[{}]", app.backend);
}

#[backend_test]
async fn by_identity_returns_names_and_respects_join_type(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    let body = app
        .graphql(
            FIND_ID,
            json!({"by": {"identity": {"ci": "CI-ALICE", "joinType": "CITIZEN"}}}),
        )
        .await;
    let found = accounts(&body);
    assert_eq!(found.len(), 2, "[{}] {body}", app.backend);
    assert_eq!(found[0]["maskedLoginId"], "al***01");
    assert_eq!(found[0]["name"], "Alice Kim");
    assert_eq!(found[1]["memberType"], "ENTERPRISE");

    let wrong_join = app
        .graphql(
            FIND_ID,
            json!({"by": {"identity": {"ci": "CI-ALICE", "joinType": "FOREIGN"}}}),
        )
        .await;
    assert_eq!(accounts(&wrong_join), Vec::<Value>::new(), "[{}]", app.backend);
    let social = app
        .graphql(
            FIND_ID,
            json!({"by": {"identity": {"ci": "CI-BOB", "joinType": "FOREIGN"}}}),
        )
        .await;
    assert_eq!(accounts(&social)[0]["memberType"], "SOCIAL");
    assert_eq!(accounts(&social)[0]["maskedLoginId"], "so*****ob");
}

#[backend_test]
async fn bad_input_gets_typed_errors_never_a_crash(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    let huge = "a".repeat(10_000);
    let cases = [
        (
            json!({"by": {"email": ""}}),
            "INVALID_EMAIL",
            json!(["by", "email"]),
        ),
        (
            json!({"by": {"email": "not-an-address"}}),
            "INVALID_EMAIL",
            json!(["by", "email"]),
        ),
        (
            json!({"by": {"email": format!("{huge}@example.com")}}),
            "INVALID_EMAIL",
            json!(["by", "email"]),
        ),
        (
            json!({"by": {"identity": {"ci": "", "joinType": "CITIZEN"}}}),
            "INVALID_INPUT",
            json!(["by", "identity", "ci"]),
        ),
        (
            json!({"by": {"identity": {"ci": huge, "joinType": "CITIZEN"}}}),
            "INVALID_INPUT",
            json!(["by", "identity", "ci"]),
        ),
        (
            json!({"site": "", "by": {"email": "alice@example.com"}}),
            "INVALID_INPUT",
            json!(["siteId"]),
        ),
        (
            json!({"site": huge, "by": {"email": "alice@example.com"}}),
            "INVALID_INPUT",
            json!(["siteId"]),
        ),
    ];
    for (variables, code, field) in cases {
        let body = app.graphql(FIND_ID, variables.clone()).await;
        let payload = &body["data"]["findId"];
        assert_eq!(
            user_errors(payload),
            vec![(code.to_owned(), field)],
            "[{}] {variables}",
            app.backend
        );
        assert_eq!(payload["accounts"], json!([]));
    }
}

#[tokio::test]
async fn messages_follow_accept_language() {
    let app = spawn_app(&Backend::Sqlite).await;
    let vars = json!({"by": {"email": "nope"}});
    let en = app
        .graphql_lang(FIND_ID, vars.clone(), Some("en-US,en;q=0.9"))
        .await;
    let ko = app
        .graphql_lang(FIND_ID, vars.clone(), Some("ko-KR,ko;q=0.9,en;q=0.5"))
        .await;
    let default = app.graphql_lang(FIND_ID, vars, None).await;
    let message = |b: &Value| {
        b["data"]["findId"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(message(&en), "Enter a valid e-mail address.");
    assert_eq!(message(&ko), "올바른 이메일 주소를 입력해 주세요.");
    assert_eq!(message(&default), message(&en));
}

#[tokio::test]
async fn one_of_inputs_refuse_two_choices() {
    let app = spawn_app(&Backend::Sqlite).await;
    let body = app
        .graphql(
            FIND_ID,
            json!({"by": {"email": "alice@example.com", "identity": {"ci": "x", "joinType": "CITIZEN"}}}),
        )
        .await;
    assert!(body["data"].is_null(), "{body}");
    assert!(!body["errors"].as_array().unwrap().is_empty());
}
