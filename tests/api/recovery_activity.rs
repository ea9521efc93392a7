//! `MemberProfile.recoveryActivity` over HTTP: the signed-in member's own events, newest first,
//! strangers' attempts included, paged by opaque cursors, addresses masked, nobody else's.
use serde_json::json;

use crate::{
    helpers::{Backend, TestApp, backend_test, spawn_app},
    operations::{by, credential},
};

const MEMBERS: &str = r#"{"loginId":"kim01","email":"kim@example.com","name":"Kim","password":"Blue-Harbor-47","ci":"CI-KIM"}
{"loginId":"lee01","email":"lee@example.com","name":"Lee","password":"Quiet-Maple-82","ci":"CI-LEE"}
"#;

async fn app_for(backend: &Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("members");
    app
}

fn event(kind: &str, outcome: &str) -> (String, String) {
    (kind.to_owned(), outcome.to_owned())
}

#[backend_test]
async fn the_owner_sees_strangers_attempts_newest_first_in_pages(backend: Backend) {
    let app = app_for(&backend).await;
    // A stranger asks for a reset of kim01 and guesses a code; lee01 signs in (not kim's business).
    let issued = app.issue_reset(by::identity("kim01", "CI-KIM")).await;
    assert_eq!(issued.channel.as_deref(), Some("DIRECT"), "{issued}");
    // Strangers guess codes with kim01's login ID (typed in another case) and e-mail address.
    // Wrong codes are judged per identifier without looking the account up (issue 10), and
    // audited under the identifier's keyed hash, so the owner sees them.
    for credential in [
        credential::code_by_login_id("KIM01", "000000"),
        credential::code_by_email("Kim@Example.com", "000000"),
    ] {
        let guess = app.verify_reset(credential).await;
        assert!(!guess.valid, "{guess}");
    }
    let again = app.issue_reset(by::identity("kim01", "CI-KIM")).await;
    assert_eq!(again.channel.as_deref(), Some("DIRECT"), "{again}");
    let lee = app.access_token("lee01", "Quiet-Maple-82").await;
    let kim = app.access_token("kim01", "Blue-Harbor-47").await;

    let answer = app.recovery_activity(&kim, None, None).await;
    assert!(answer.body["errors"].is_null(), "[{}] {answer}", app.backend);
    let all = answer.page();
    assert_eq!(
        all.events(),
        [
            event("SIGNED_IN", "ok"),
            event("RESET_REQUESTED", "direct"),
            event("FAILED_ATTEMPT", "wrong_code"),
            event("FAILED_ATTEMPT", "wrong_code"),
            event("RESET_REQUESTED", "direct"),
        ],
        "[{}] {answer}",
        app.backend
    );
    for edge in &all.edges {
        // The tests speak from 127.0.0.1: only its /24 is shown.
        assert_eq!(edge.node.client_address.as_deref(), Some("127.0.0.0/24"));
        assert!(!edge.cursor.contains(char::is_whitespace));
    }
    assert!(!all.page_info.has_next_page);

    // Page by page, the same events in the same order.
    let first = app.recovery_activity(&kim, Some(2), None).await;
    let first = first.page();
    assert_eq!(first.events(), all.events()[..2]);
    assert!(first.page_info.has_next_page);
    assert_eq!(first.page_info.end_cursor.as_ref(), Some(&first.edges[1].cursor));
    let after = first.page_info.end_cursor.as_deref();
    let rest = app.recovery_activity(&kim, Some(3), after).await;
    let rest = rest.page();
    assert_eq!(rest.events(), all.events()[2..]);
    assert!(!rest.page_info.has_next_page);

    // lee01 sees only lee01's sign-in, nothing of kim's (strangers' attempts included).
    let theirs = app.recovery_activity(&lee, None, None).await;
    assert_eq!(theirs.page().events(), [event("SIGNED_IN", "ok")]);
}

#[backend_test]
async fn page_sizes_and_cursors_are_checked_and_only_the_owner_may_read(backend: Backend) {
    let app = app_for(&backend).await;
    let kim = app.access_token("kim01", "Blue-Harbor-47").await;
    for (first, after, field) in [
        (Some(0), None, "first"),
        (Some(101), None, "first"),
        (Some(-5), None, "first"),
        (None, Some("bm90LWEtY3Vyc29y"), "after"),
        (None, Some("!!"), "after"),
    ] {
        let refused = app.recovery_activity(&kim, first, after).await;
        assert_eq!(
            refused.top_code(),
            Some("INVALID_INPUT"),
            "[{}] {first:?} {after:?} {refused}",
            app.backend
        );
        assert_eq!(
            refused.body["errors"][0]["extensions"]["field"],
            json!([field]),
            "{refused}"
        );
    }
    let most = app.recovery_activity(&kim, Some(100), None).await;
    assert!(most.body["errors"].is_null(), "{most}");
    // A profile reached without the member's session (signIn's payload) does not show it: a
    // selection the shared documents do not make, written out here.
    let body = app
        .graphql(
            r#"mutation { signIn(loginId: "kim01", password: "Blue-Harbor-47") { member { recoveryActivity { edges { cursor } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "[{}] {body}",
        app.backend
    );
}

/// Every read of the audit table is an index range scan on PostgreSQL however many rows others
/// left (retention's too): a
/// member's few old rows under 50,000 newer rows of other identifiers are read through the
/// (column, id) index, instead of by walking the primary key backwards through everyone's rows
/// and filtering (the plan before the index, for the identifier).
#[backend_test(postgres)]
async fn activity_pages_read_their_own_index(backend: Backend) {
    let app = spawn_app(&backend).await;
    let rows = |key: &str, n: u32| {
        format!(
            "INSERT INTO audit_events (site_id, member_id, kind, outcome, occurred_at, identifier_key) \
             SELECT 'main', NULL, 'FAILED_ATTEMPT', 'invalid_code', now(), {key} FROM generate_series(1, {n}) g"
        )
    };
    app.sql_strings(&rows("'quiet-member-key'", 5)).await;
    app.sql_strings(&rows("'noise-' || (g % 50)", 50_000)).await;
    app.sql_strings("ANALYZE audit_events").await;
    for (source, index) in [
        ("member_id = 'm-1'", "ix_audit_events_member_id"),
        (
            "identifier_key = 'quiet-member-key'",
            "ix_audit_events_identifier_id",
        ),
    ] {
        let plan = app
            .sql_strings(&format!(
                "EXPLAIN SELECT * FROM audit_events WHERE {source} AND id < 1000000 ORDER BY id DESC LIMIT 21"
            ))
            .await
            .join("\n");
        assert!(plan.contains(index), "{source}: {plan}");
        assert!(
            !plan.contains("audit_events_pkey"),
            "{source}: not a walk of everyone's rows: {plan}"
        );
    }
    // Retention reads the start of the primary key and deletes an id range of it.
    for prune in [
        "SELECT id, occurred_at FROM audit_events ORDER BY id ASC LIMIT 1000",
        "DELETE FROM audit_events WHERE id <= 1000 AND occurred_at < now()",
    ] {
        let plan = app.sql_strings(&format!("EXPLAIN {prune}")).await.join("\n");
        assert!(
            plan.contains("audit_events_pkey") && !plan.contains("Seq Scan"),
            "{prune}: {plan}"
        );
    }
}
