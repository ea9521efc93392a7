//! `MemberProfile.recoveryActivity` over HTTP: the signed-in member's own events, newest first,
//! strangers' attempts included, paged by opaque cursors, addresses masked, nobody else's.
use account_recovery::infra::db::audit::activity_statement;
use sea_orm::DbBackend;
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

/// Every read of the audit table is an index range scan on PostgreSQL and MariaDB however many
/// rows others left (retention's too). A burst of 5,000 wrong codes under one key, then 45,000
/// newer rows of others: asked with `identifier_key = ?` and `ORDER BY id DESC`, PostgreSQL walked
/// the primary key back through all 45,000 newer rows and filtered (14.6 ms here, seconds at 20M
/// rows); the statements the service builds read the (column, id) index, each page of each source.
#[backend_test(servers)]
async fn activity_pages_read_their_own_index(backend: Backend) {
    let app = spawn_app(&backend).await;
    let series = |n: u32| match backend {
        Backend::MySql(_) => format!("(SELECT seq AS g FROM seq_1_to_{n}) AS s"),
        _ => format!("generate_series(1, {n}) AS s(g)"),
    };
    let rows = |member: &str, key: &str, n: u32| {
        format!(
            "INSERT INTO audit_events (site_id, member_id, kind, outcome, occurred_at, identifier_key) \
             SELECT 'main', {member}, 'FAILED_ATTEMPT', 'wrong_code', CURRENT_TIMESTAMP, {key} FROM {}",
            series(n)
        )
    };
    app.sql_strings(&rows("NULL", "'quiet-member-key'", 5)).await;
    app.sql_strings(&rows("NULL", "'attacked-key'", 5_000)).await;
    let noise = rows(
        "CASE WHEN g % 900 = 0 THEN 'm-quiet' END",
        "concat('noise-', g % 50)",
        45_000,
    );
    app.sql_strings(&noise).await;
    let analyze = match backend {
        Backend::MySql(_) => "ANALYZE TABLE audit_events",
        _ => "ANALYZE audit_events",
    };
    app.sql_strings(analyze).await;
    let db_backend = match backend {
        Backend::MySql(_) => DbBackend::MySql,
        _ => DbBackend::Postgres,
    };
    // One statement a page, one arm per source: each arm reads its own index, every page.
    let (member, identifier) = ("ix_audit_events_member_id", "ix_audit_events_identifier_id");
    for (owner, keys) in [
        ("m-1", &["quiet-member-key", "attacked-key"][..]),
        ("m-quiet", &["attacked-key"][..]),
        (
            "m-quiet",
            &["quiet-member-key", "attacked-key", "noise-7", "noise-8"][..],
        ),
    ] {
        for before in [None, Some(3_000), Some(1_000_000)] {
            let statement = activity_statement(db_backend, owner, keys, before, 21).to_string();
            let plan = explain(&app, &backend, &statement).await;
            assert!(
                plan.reads(&[member, identifier]),
                "{owner} {keys:?} below {before:?}: {statement}\n{plan:?}"
            );
        }
    }
    // Retention reads the start of the primary key and deletes an id range of it.
    for prune in [
        "SELECT id, occurred_at FROM audit_events ORDER BY id ASC LIMIT 1000",
        "DELETE FROM audit_events WHERE id <= 1000 AND occurred_at < CURRENT_TIMESTAMP",
    ] {
        let plan = explain(&app, &backend, prune).await;
        assert!(
            plan.reads(&["PRIMARY"]) || plan.reads(&["audit_events_pkey"]),
            "{prune}: {plan:?}"
        );
    }
}

/// What a plan reads: PostgreSQL's text, or MariaDB's tables of `audit_events` (index, access
/// type) and whether anything was sorted as a whole (filesort).
#[derive(Debug)]
enum Explained {
    Text(String),
    Tables(Vec<(String, String)>, bool),
}

impl Explained {
    /// Through each of `indexes` and nothing else: no other index, no full scan (nor, on MariaDB, a
    /// sort of all an index range found). Derived tables of a few rows each may be read whole.
    fn reads(&self, indexes: &[&str]) -> bool {
        match self {
            Explained::Text(plan) => {
                indexes.iter().all(|index| plan.contains(index))
                    && !plan.contains("Seq Scan")
                    && (indexes.iter().any(|i| i.ends_with("pkey")) || !plan.contains("audit_events_pkey"))
            }
            Explained::Tables(tables, filesort) => {
                !filesort
                    && indexes
                        .iter()
                        .all(|index| tables.iter().any(|(key, _)| key == index))
                    && tables.iter().all(|(key, access)| {
                        indexes.contains(&key.as_str())
                            && matches!(access.as_str(), "ref" | "range" | "index")
                    })
            }
        }
    }
}

async fn explain(app: &TestApp, backend: &Backend, statement: &str) -> Explained {
    match backend {
        Backend::MySql(_) => {
            let json = app
                .sql_strings(&format!("EXPLAIN FORMAT=JSON {statement}"))
                .await
                .join("");
            let plan: serde_json::Value = serde_json::from_str(&json).expect("JSON plan");
            let mut tables = Vec::new();
            tables_of(&plan, &mut tables);
            Explained::Tables(tables, json.contains("filesort"))
        }
        _ => Explained::Text(app.sql_strings(&format!("EXPLAIN {statement}")).await.join("\n")),
    }
}

/// Every `audit_events` table of a MariaDB JSON plan, as (key, access type).
fn tables_of(plan: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match plan {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let text = |f: &str| v[f].as_str().unwrap_or("none").to_owned();
                if k == "table" && text("table_name") == "audit_events" {
                    out.push((text("key"), text("access_type")));
                }
                tables_of(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| tables_of(v, out)),
        _ => {}
    }
}
