//! Nothing a stranger sends locks an owner out: a call the stranger's own budget refuses is not
//! counted against the account it is about. Strangers call from other loopback addresses
//! (127.0.0.2, 127.0.0.3), the owner from 127.0.0.1, over HTTP.
use std::time::Duration;

use crate::{
    helpers::{Backend, backend_test, mailed_grants, spawn_app_with_smtp},
    operations::{by, change, credential},
};

#[backend_test]
async fn strangers_past_their_own_budget_spend_nothing_more_of_the_owners(backend: Backend) {
    // Budgets small enough to spend in a test: 3 reset requests per client and 5 per account in
    // ten minutes; 3 wrong passwords per client and 5 per login ID.
    let limits = [
        (
            "RATE_LIMITS",
            "issueResetToken.client=3/600,issueResetToken.id=5/600",
        ),
        ("SIGNIN_CLIENT_MAX_FAILURES", "3"),
        ("SIGNIN_MAX_FAILURES", "5"),
    ];
    let (app, smtp) = spawn_app_with_smtp(&backend, &limits).await;
    let app = app.with_fixture().await;
    let (owner, stranger) = (app.calling_from("127.0.0.1"), app.calling_from("127.0.0.2"));

    // The stranger hammers the owner's account well past its own budgets.
    let mut answers = Vec::new();
    for _ in 0..10 {
        let asked = stranger.issue_reset(by::account("alice01", "x@x.io")).await;
        answers.push(asked.top_code().unwrap_or("accepted").to_owned());
    }
    assert_eq!(answers[..3], ["accepted"; 3], "[{}]", app.backend);
    assert_eq!(answers[3..], ["RATE_LIMITED"; 7], "[{}]", app.backend);
    let mut guesses = Vec::new();
    for _ in 0..20 {
        let guess = stranger.sign_in("alice01", "Wrong-Guess-0000").await;
        guesses.push(
            guess
                .top_code()
                .map(str::to_owned)
                .unwrap_or_else(|| guess.codes().join(",")),
        );
    }
    assert_eq!(guesses[..3], ["INVALID_CREDENTIALS"; 3], "[{}]", app.backend);
    assert_eq!(guesses[3..], ["RATE_LIMITED"; 17], "[{}]", app.backend);

    // Only the 3 + 3 calls the stranger's budgets admitted counted against alice01: the owner
    // still has 2 reset requests and 2 password failures before the account's own limits.
    let own = owner.sign_in("alice01", "Blue-Harbor-47").await;
    assert!(
        own.access_token.is_some(),
        "[{}] the owner signs in: {own}",
        app.backend
    );
    for _ in 0..2 {
        let own = owner
            .issue_reset(by::account("alice01", "alice@example.com"))
            .await;
        assert!(
            own.accepted,
            "[{}] the owner asks for a reset: {own}",
            app.backend
        );
    }
    let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "[{}] the owner's reset mail", app.backend);
    assert_eq!(mailed_grants(&mails[0])[0].login_id, "alice01");

    // The account's own limit still holds, for a second stranger as for anyone.
    let another = app.calling_from("127.0.0.3");
    let refused = another.issue_reset(by::account("alice01", "y@y.io")).await;
    assert_eq!(
        refused.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {refused}",
        app.backend
    );
}

/// One request with the same root field many times (no aliases, or through fragments) would run
/// each one and spend a victim's budget in one go: refused before anything runs.
#[backend_test]
async fn duplicate_root_fields_cannot_spend_a_budget_in_one_request(backend: Backend) {
    let (app, _smtp) = spawn_app_with_smtp(&backend, &[("RATE_LIMITS", "checkLoginId.id=5/600")]).await;
    let app = app.with_fixture().await;
    let stranger = app.calling_from("127.0.0.2");
    let once = r#"checkLoginId(loginId: "alice01") { exists }"#;
    for document in [
        format!("{{ {} }}", once.repeat(75)),
        format!(
            "{{ ...A ...A ...A }} fragment A on Query {{ {} }}",
            once.repeat(4)
        ),
        format!(
            "{{ ...A ...A ...A }} fragment A on Query {{ {} }}",
            (0..4).map(|i| format!("a{i}: {once} ")).collect::<String>()
        ),
    ] {
        let body = serde_json::json!({"query": document}).to_string();
        let answer: serde_json::Value = stranger
            .post_raw("application/json", body)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
            "[{}] {answer}",
            app.backend
        );
        assert!(answer["data"].is_null(), "nothing ran: {answer}");
    }
    let owner = app.calling_from("127.0.0.1");
    for _ in 0..5 {
        let checked = owner.check_login_id(None, "alice01").await;
        assert!(checked.exists, "[{}] the budget is whole: {checked}", app.backend);
    }
}

/// An intruder who signed in with a stolen password made a set of recovery codes and changed the
/// password; the owner reports the change from the notice: the intruder's codes die with it.
#[backend_test]
async fn a_reported_change_revokes_the_intruders_recovery_codes(backend: Backend) {
    let (app, smtp) = spawn_app_with_smtp(&backend, &[]).await;
    let app = app.with_fixture().await;
    let intruder = app.access_token("alice01", "Blue-Harbor-47").await;
    let elevated = app.reauthenticate(&intruder, "Blue-Harbor-47").await;
    assert!(elevated.elevated_until.is_some(), "[{}] {elevated}", app.backend);
    let generated = app.generate_recovery_codes(&intruder).await;
    let codes = generated
        .codes
        .clone()
        .unwrap_or_else(|| panic!("[{}] {generated}", app.backend));
    let changed = app
        .change_password(
            &intruder,
            change::with_current("Blue-Harbor-47", "Green-Valley-58"),
        )
        .await;
    assert!(changed.errors.is_empty(), "[{}] {changed}", app.backend);

    let mails = smtp.wait_for_messages(2, Duration::from_secs(10)).await;
    let notice = mails
        .iter()
        .find(|m| m.subject.contains("changed"))
        .unwrap_or_else(|| panic!("no password-changed notice in {mails:?}"));
    let line = notice
        .text
        .lines()
        .find(|l| l.contains("#report="))
        .expect("a report link");
    let report = line[line.find("#report=").unwrap() + 8..].trim().to_owned();
    let done = app.report_unrecognized_change(&report).await;
    assert!(done.locked, "[{}] {done}", app.backend);

    let refused = app
        .reset_password(
            credential::recovery_code("alice01", &codes[0]),
            "Other-River-93",
            None,
        )
        .await;
    assert_eq!(
        refused.codes(),
        ["INVALID_CODE"],
        "[{}] the intruder's code: {refused}",
        app.backend
    );
    let stored = app.sql_strings("SELECT code_hash FROM recovery_codes").await;
    assert!(
        stored.is_empty(),
        "[{}] revoked in the report's step: {stored:?}",
        app.backend
    );
}

/// Recovery-code sets need the password typed again, at most 3 a day; each set's notice has a
/// "that wasn't me" link of its own, and using it revokes that set with everything else.
#[backend_test]
async fn recovery_code_sets_are_few_and_each_can_be_reported(backend: Backend) {
    let (app, smtp) = spawn_app_with_smtp(&backend, &[]).await;
    let app = app.with_fixture().await;
    let session = app.access_token("alice01", "Blue-Harbor-47").await;
    let refused = app.generate_recovery_codes(&session).await;
    assert_eq!(
        refused.codes(),
        ["NOT_ELIGIBLE"],
        "[{}] not reauthenticated: {refused}",
        app.backend
    );
    let elevated = app.reauthenticate(&session, "Blue-Harbor-47").await;
    assert!(elevated.elevated_until.is_some(), "[{}] {elevated}", app.backend);
    let mut sets = Vec::new();
    for _ in 0..3 {
        let generated = app.generate_recovery_codes(&session).await;
        sets.push(
            generated
                .codes
                .clone()
                .unwrap_or_else(|| panic!("[{}] {generated}", app.backend)),
        );
    }
    let fourth = app.generate_recovery_codes(&session).await;
    assert_eq!(
        fourth.top_code(),
        Some("RATE_LIMITED"),
        "[{}] a fourth set in a day: {fourth}",
        app.backend
    );

    let notices = smtp.wait_for_messages(3, Duration::from_secs(10)).await;
    let links: Vec<String> = notices
        .iter()
        .filter(|m| m.subject == "Recovery codes generated")
        .map(|m| {
            let line = m
                .text
                .lines()
                .find(|l| l.contains("#report="))
                .expect("a report link");
            line[line.find("#report=").unwrap() + 8..].trim().to_owned()
        })
        .collect();
    assert_eq!(links.len(), 3, "[{}] one link per set", app.backend);
    assert_ne!(links[0], links[2]);
    let done = app.report_unrecognized_change(&links[2]).await;
    assert!(done.locked, "[{}] {done}", app.backend);
    let dead = app
        .reset_password(
            credential::recovery_code("alice01", &sets[2][0]),
            "Other-River-93",
            None,
        )
        .await;
    assert_eq!(dead.codes(), ["INVALID_CODE"], "[{}] {dead}", app.backend);
    let me = app.me(&session).await;
    assert_eq!(
        me.top_code(),
        Some("UNAUTHENTICATED"),
        "[{}] the maker is signed out",
        app.backend
    );
}
