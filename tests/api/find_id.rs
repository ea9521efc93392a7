//! `findId` by e-mail and by identity, and its refusals of bad input.
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, backend_test, spawn_app},
    operations::{Answer, Caller, FoundIds, UserErrors, find},
};

/// The accounts found, as JSON (to compare whole); fails the test on a top-level error.
fn accounts(answer: &Answer<FoundIds>) -> Vec<Value> {
    let accounts = &answer.body["data"]["findId"]["accounts"];
    accounts
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no accounts in {answer}"))
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
        alone.push(accounts(&app.find_id(site, find::email(email)).await));
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
        app.find_id(site, find::email(email))
    }))
    .await;
    for (&i, answer) in asked.iter().zip(together) {
        assert_eq!(accounts(&answer), alone[i], "[{}] {:?}", app.backend, asks[i]);
    }
}

#[backend_test]
async fn by_email_lists_every_account_of_the_address_masked_without_names(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    // Case and surrounding spaces of the typed address do not matter.
    let found = app.find_id(None, find::email("  ALICE@example.COM ")).await;
    assert_eq!(
        accounts(&found),
        vec![
            json!({"maskedLoginId": "al***01", "memberType": "GENERAL", "joinedAt": "2023-05-01T09:00:00Z", "name": null}),
            json!({"maskedLoginId": "Al****iz", "memberType": "ENTERPRISE", "joinedAt": "2024-01-02T00:00:00Z", "name": null}),
        ],
        "[{}] {found}",
        app.backend
    );
    assert!(found.errors.is_empty(), "{found}");

    let other = app
        .find_id(Some("other"), find::email("alice@other.example"))
        .await;
    assert_eq!(other.accounts.len(), 1, "[{}] other site", app.backend);
    let unknown = app.find_id(None, find::email("nobody@example.com")).await;
    assert_eq!(accounts(&unknown), Vec::<Value>::new(), "[{}]", app.backend);
    let unknown_site = app
        .find_id(Some("nosuchsite"), find::email("alice@example.com"))
        .await;
    assert_eq!(accounts(&unknown_site), Vec::<Value>::new(), "[{}]", app.backend);
}

#[backend_test]
async fn by_identity_returns_names_and_respects_join_type(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    let found = app.find_id(None, find::identity("CI-ALICE", "CITIZEN")).await;
    assert_eq!(found.accounts.len(), 2, "[{}] {found}", app.backend);
    assert_eq!(found.accounts[0].masked_login_id, "al***01");
    assert_eq!(found.accounts[0].name.as_deref(), Some("Alice Kim"));
    assert_eq!(found.accounts[1].member_type, "ENTERPRISE");

    let wrong_join = app.find_id(None, find::identity("CI-ALICE", "FOREIGN")).await;
    assert_eq!(accounts(&wrong_join), Vec::<Value>::new(), "[{}]", app.backend);
    let social = app.find_id(None, find::identity("CI-BOB", "FOREIGN")).await;
    assert_eq!(social.accounts[0].member_type, "SOCIAL");
    assert_eq!(social.accounts[0].masked_login_id, "so*****ob");
}

#[backend_test]
async fn bad_input_gets_typed_errors_never_a_crash(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    let huge = "a".repeat(10_000);
    let huge_email = format!("{huge}@example.com");
    let cases = [
        (None, find::email(""), "INVALID_EMAIL", json!(["by", "email"])),
        (
            None,
            find::email("not-an-address"),
            "INVALID_EMAIL",
            json!(["by", "email"]),
        ),
        (
            None,
            find::email(&huge_email),
            "INVALID_EMAIL",
            json!(["by", "email"]),
        ),
        (
            None,
            find::identity("", "CITIZEN"),
            "INVALID_INPUT",
            json!(["by", "identity", "ci"]),
        ),
        (
            None,
            find::identity(&huge, "CITIZEN"),
            "INVALID_INPUT",
            json!(["by", "identity", "ci"]),
        ),
        (
            Some(""),
            find::email("alice@example.com"),
            "INVALID_INPUT",
            json!(["siteId"]),
        ),
        (
            Some(huge.as_str()),
            find::email("alice@example.com"),
            "INVALID_INPUT",
            json!(["siteId"]),
        ),
    ];
    for (site, by, code, field) in cases {
        let refused = app.find_id(site, by.clone()).await;
        assert_eq!(
            refused.user_errors(),
            vec![(code.to_owned(), field)],
            "[{}] site of {:?} bytes, {by:.60}",
            app.backend,
            site.map(str::len)
        );
        assert!(refused.accounts.is_empty(), "{refused}");
    }
}

#[tokio::test]
async fn messages_follow_accept_language() {
    let app = spawn_app(&Backend::Sqlite).await;
    let message = |answer: Answer<FoundIds>| answer.errors[0].message.clone();
    let nope = || find::email("nope");
    let en = app.find_id_as(Caller::lang("en-US,en;q=0.9"), None, nope()).await;
    let ko = app
        .find_id_as(Caller::lang("ko-KR,ko;q=0.9,en;q=0.5"), None, nope())
        .await;
    let default = app.find_id(None, nope()).await;
    let (en, ko, default) = (message(en), message(ko), message(default));
    assert_eq!(en, "Enter a valid e-mail address.");
    assert_eq!(ko, "올바른 이메일 주소를 입력해 주세요.");
    assert_eq!(default, en);
}

#[tokio::test]
async fn one_of_inputs_refuse_two_choices() {
    let app = spawn_app(&Backend::Sqlite).await;
    let mut both = find::email("alice@example.com");
    both["identity"] = find::identity("x", "CITIZEN")["identity"].clone();
    let refused = app.find_id(None, both).await;
    assert!(refused.body["data"].is_null(), "{refused}");
    assert!(!refused.body["errors"].as_array().unwrap().is_empty());
}
