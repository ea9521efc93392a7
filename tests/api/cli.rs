//! The binary's subcommands: member import (all or nothing, line numbers), add, list, migrate,
//! and `serve`'s demo members — run as a real process against each backend.
use std::process::{Command, Output};

use serde_json::json;

use crate::helpers::{
    Backend, TEST_SECRET_KEY, backend_test, fresh_database, scratch_dir, spawn_app_with, test_settings,
};

pub(crate) fn run(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_account-recovery"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("SECRET_KEY", TEST_SECRET_KEY)
        .env("RUST_LOG", "warn")
        .env("DEMO", "false")
        .output()
        .expect("run account-recovery")
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[backend_test]
async fn import_checks_the_whole_file_first_then_adds_everything(backend: Backend) {
    let url = fresh_database(&backend).await;
    let dir = scratch_dir();
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        concat!(
            r#"{"siteId":"s1","loginId":"first","email":"first@example.com","password":"Blue-Harbor-47"}"#, "\n",
            r#"{"siteId":"s1","loginId":"second","email":"second@example.com","passwordHash":"$2b$04$KM2WBkWlJ6cHQrBkHkkkAuL6Ygs/eTbbHvUfb4/gR/wTr.T5sPeTC"}"#, "\n",
            r#"{"siteId":"s1","loginId":"third","email":"not-an-email","password":"Blue-Harbor-47"}"#, "\n",
        ),
    )
    .unwrap();
    let out = run(&url, &["member", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success(), "[{}] {}", backend.name(), text(&out));
    assert!(
        text(&out).contains("line 3"),
        "[{}] {}",
        backend.name(),
        text(&out)
    );
    let listed = run(&url, &["member", "list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        !text(&listed).contains("first"),
        "nothing may be imported: {}",
        text(&listed)
    );

    let good = dir.join("good.jsonl");
    std::fs::write(
        &good,
        concat!(
            r#"{"siteId":"s1","loginId":"first","email":"first@example.com","password":"Blue-Harbor-47","joinedAt":"2020-01-01T00:00:00Z"}"#, "\n",
            "\n",
            r#"{"siteId":"s2","loginId":"second","email":"second@example.com","passwordHash":"$2b$04$KM2WBkWlJ6cHQrBkHkkkAuL6Ygs/eTbbHvUfb4/gR/wTr.T5sPeTC","memberType":"UNION","joinType":"FOREIGN","ci":"CI-2"}"#, "\n",
            r#"{"siteId":"s2","loginId":"third","email":"third@example.com","passwordHash":"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Sx6zC3lLWtn9Zp2hYb0hKRlFq0J7G3LeZxqL1H3pZ2Q","status":"DORMANT"}"#, "\n",
            r#"{"siteId":"s2","loginId":"fourth","email":"fourth@example.com","memberType":"SOCIAL"}"#, "\n",
        ),
    )
    .unwrap();
    let out = run(&url, &["member", "import", good.to_str().unwrap()]);
    assert!(out.status.success(), "[{}] {}", backend.name(), text(&out));
    assert!(text(&out).contains("imported 4 members"), "{}", text(&out));
    let listed = text(&run(&url, &["member", "list", "--site", "s2"]));
    for want in ["second", "UNION", "third", "DORMANT", "fourth", "SOCIAL"] {
        assert!(
            listed.contains(want),
            "[{}] list lacks {want}: {listed}",
            backend.name()
        );
    }
    assert!(!listed.contains("first@example.com"), "--site filters: {listed}");

    // Importing the same login ID again is refused with its line, case-insensitively.
    let again = dir.join("again.jsonl");
    std::fs::write(
        &again,
        r#"{"siteId":"s1","loginId":"FIRST","email":"x@example.com","password":"Blue-Harbor-47"}"#,
    )
    .unwrap();
    let out = run(&url, &["member", "import", again.to_str().unwrap()]);
    assert!(
        !out.status.success() && text(&out).contains("line 1"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn import_reports_each_kind_of_bad_line() {
    let backend = &Backend::Sqlite;
    let url = fresh_database(backend).await;
    let dir = scratch_dir();
    let cases = [
        // A value of the wrong type is reported without echoing it.
        (
            r#"{"loginId":"a1234","email":"a@example.com","password":987654321}"#,
            "wrong type",
        ),
        ("{not json", "line 1"),
        (
            r#"{"loginId":"a1234","email":"a@example.com","password":"x","unknownField":1}"#,
            "line 1",
        ),
        (
            r#"{"loginId":"a1234","email":"a@example.com","passwordHash":"$1$md5$nope"}"#,
            "passwordHash",
        ),
        (r#"{"loginId":"a1234","email":"a@example.com"}"#, "password"),
        (
            r#"{"loginId":"a1234","email":"a@example.com","memberType":"SOCIAL","password":"Blue-Harbor-47"}"#,
            "SOCIAL",
        ),
        (
            r#"{"loginId":"a1234","email":"a@example.com","password":"Blue-Harbor-47","memberType":"ALIEN"}"#,
            "memberType",
        ),
        (
            r#"{"loginId":"a1234","email":"a@example.com","password":"Blue-Harbor-47","status":"ASLEEP"}"#,
            "status",
        ),
        (
            r#"{"siteId":"bad site","loginId":"a1234","email":"a@example.com","password":"Blue-Harbor-47"}"#,
            "siteId",
        ),
    ];
    for (i, (line, expect)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.jsonl"));
        std::fs::write(&file, line).unwrap();
        let out = run(&url, &["member", "import", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{line}");
        assert!(text(&out).contains(expect), "{line}: {}", text(&out));
        assert!(
            !text(&out).contains("987654321"),
            "a value was echoed: {}",
            text(&out)
        );
    }
    let dup = dir.join("dup.jsonl");
    std::fs::write(
        &dup,
        "{\"loginId\":\"twice\",\"email\":\"a@example.com\",\"password\":\"Blue-Harbor-47\"}\n{\"loginId\":\"Twice\",\"email\":\"b@example.com\",\"password\":\"Blue-Harbor-47\"}\n",
    )
    .unwrap();
    let out = run(&url, &["member", "import", dup.to_str().unwrap()]);
    assert!(
        !out.status.success() && text(&out).contains("line 2"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn member_add_applies_the_policy_and_migrate_is_idempotent() {
    let backend = &Backend::Sqlite;
    let url = fresh_database(backend).await;
    assert!(run(&url, &["migrate"]).status.success());
    assert!(run(&url, &["migrate"]).status.success());
    let weak = run(
        &url,
        &[
            "member",
            "add",
            "--login-id",
            "carol",
            "--email",
            "carol@example.com",
            "--password",
            "abc123",
        ],
    );
    assert!(!weak.status.success(), "{}", text(&weak));
    let ok = run(
        &url,
        &[
            "member",
            "add",
            "--login-id",
            "carol",
            "--email",
            "carol@example.com",
            "--password",
            "Blue-Harbor-47",
            "--name",
            "Carol",
            "--type",
            "ENTERPRISE",
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let social = run(
        &url,
        &[
            "member",
            "add",
            "--login-id",
            "dave",
            "--email",
            "dave@example.com",
            "--social",
        ],
    );
    assert!(social.status.success(), "{}", text(&social));
    let twice = run(
        &url,
        &[
            "member",
            "add",
            "--login-id",
            "CAROL",
            "--email",
            "c2@example.com",
            "--password",
            "Blue-Harbor-47",
        ],
    );
    assert!(
        !twice.status.success() && text(&twice).contains("already exists"),
        "{}",
        text(&twice)
    );
    let listed = text(&run(&url, &["member", "list"]));
    assert!(
        listed.contains("carol")
            && listed.contains("ENTERPRISE")
            && listed.contains("dave")
            && listed.contains("SOCIAL"),
        "{listed}"
    );
}

#[tokio::test]
async fn serve_adds_demo_members_once_on_an_empty_database() {
    let backend = &Backend::Sqlite;
    let url = fresh_database(backend).await;
    let app = spawn_app_with(backend, test_settings(&url, &[("DEMO", "true")])).await;
    let body = app
        .graphql(
            "query($id: String!) { checkLoginId(loginId: $id) { exists canResetPassword } }",
            json!({"id": "demo.alice"}),
        )
        .await;
    assert_eq!(
        body["data"]["checkLoginId"],
        json!({"exists": true, "canResetPassword": true})
    );
    let again = account_recovery::app::Application::build(test_settings(&url, &[("DEMO", "true")]))
        .await
        .unwrap();
    assert!(
        again.demo_members().is_empty(),
        "demo members are added only to an empty database"
    );
}

/// A large import leaves the planner statistics of `members` fresh, so the first look-ups after it
/// use the login-ID index instead of filtering the site's members (PostgreSQL and SQLite keep no
/// statistics until ANALYZE; InnoDB recomputes its own once a tenth of a table has changed).
#[backend_test]
async fn a_large_import_refreshes_the_planner_statistics(backend: Backend) {
    let url = fresh_database(&backend).await;
    let dir = scratch_dir();
    let file = dir.join("many.jsonl");
    let lines: String = (0..150)
        .map(|i| {
            json!({"loginId": format!("many{i:03}"), "email": format!("many{i:03}@example.com"),
                   "passwordHash": "$2b$04$KM2WBkWlJ6cHQrBkHkkkAuL6Ygs/eTbbHvUfb4/gR/wTr.T5sPeTC"})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&file, lines).unwrap();
    let out = run(&url, &["member", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "[{}] {}", backend.name(), text(&out));
    let rows = match &backend {
        Backend::Sqlite => "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'members'",
        Backend::Postgres(_) => "SELECT reltuples::bigint FROM pg_class WHERE relname = 'members'",
        Backend::MySql(_) => return,
    };
    let counted = crate::helpers::sql_rows(&url, rows).await;
    let n: i64 = counted[0][0].parse().unwrap_or(0);
    assert!(
        n > 0,
        "[{}] no statistics after the import: {counted:?}",
        backend.name()
    );
}

/// New login IDs are held to UTS #39 beside `alice`: `аlice` with a Cyrillic `а` is refused for
/// mixing scripts, an all-Cyrillic or digit look-alike for its skeleton; Hangul with Latin and
/// digits is allowed; an import naming a look-alike is refused whole, with the line.
#[backend_test]
async fn new_login_ids_may_not_mix_scripts_or_look_like_another(backend: Backend) {
    let url = fresh_database(&backend).await;
    let name = backend.name();
    let add = |login_id: &'static str| {
        let url = url.clone();
        move || {
            run(
                &url,
                &[
                    "member",
                    "add",
                    "--login-id",
                    login_id,
                    "--email",
                    "m@example.com",
                    "--password",
                    "Blue-Harbor-47",
                ],
            )
        }
    };
    let alice = add("alice")();
    assert!(alice.status.success(), "[{name}] {}", text(&alice));
    for (login_id, reason) in [
        // Cyrillic а (U+0430) among Latin letters: refused for its scripts before any look-up.
        ("\u{430}lice", "the login ID mixes scripts (Cyrillic, Latin)"),
        ("p\u{430}ypal", "the login ID mixes scripts (Latin, Cyrillic)"),
        // All Cyrillic (а ӏ і с е), so one script, but it looks like `alice`.
        (
            "\u{430}\u{4cf}\u{456}\u{441}\u{435}",
            "the login ID is confusable with an existing one",
        ),
        ("A1ICE", "the login ID is confusable with an existing one"),
    ] {
        let out = add(login_id)();
        assert!(
            !out.status.success() && text(&out).contains(reason),
            "[{name}] {login_id}: {}",
            text(&out)
        );
    }
    for login_id in ["홍길동99", "kim홍"] {
        let out = add(login_id)();
        assert!(out.status.success(), "[{name}] {login_id}: {}", text(&out));
    }

    let dir = scratch_dir();
    let file = dir.join("look-alike.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"loginId":"bob","email":"bob@example.com","password":"Blue-Harbor-47"}"#,
            "\n",
            r#"{"loginId":"аӏісе","email":"a2@example.com","password":"Blue-Harbor-47"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = run(&url, &["member", "import", file.to_str().unwrap()]);
    assert!(
        !out.status.success()
            && text(&out).contains("line 2")
            && text(&out).contains("confusable with an existing one"),
        "[{name}] {}",
        text(&out)
    );
    let listed = text(&run(&url, &["member", "list"]));
    assert!(
        !listed.contains("bob"),
        "[{name}] nothing may be imported: {listed}"
    );
}
