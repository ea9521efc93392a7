//! Login IDs that differ only by an accent are two accounts on every backend: `alice01` and
//! `alicé01` both exist on one site, and no lookup, sign-in, reset or throttle budget of one
//! ever reaches the other. MariaDB runs on a database whose default collation folds accents.
use std::time::Duration;

use crate::{
    helpers::{
        Backend, TestApp, backend_test, fresh_database, mailed_grants, redis_url, spawn_app_with,
        test_settings, unique_name,
    },
    operations::{by, credential, find},
    smtp_server::SmtpServer,
};
use account_recovery::config::Settings;
use sea_orm::{ConnectionTrait, Database};

const MEMBERS: &str = r#"{"loginId":"alice01","email":"plain@example.com","name":"Plain","password":"Blue-Harbor-47","joinedAt":"2023-01-01T00:00:00Z"}
{"loginId":"alicé01","email":"accent@example.com","name":"Accent","password":"Amber-Falcon-36","joinedAt":"2024-02-02T00:00:00Z"}
"#;

/// A fresh database; on MariaDB/MySQL one whose default collation folds accents and case, as a
/// server left at its defaults would have (the shared helper makes byte-wise ones).
async fn folding_database(backend: &Backend) -> String {
    let Backend::MySql(admin) = backend else {
        return fresh_database(backend).await;
    };
    let name = unique_name();
    let db = Database::connect(admin.as_str())
        .await
        .expect("MariaDB reachable");
    db.execute_unprepared(&format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
    ))
    .await
    .expect("create database");
    // The premise: this collation says the two IDs are one.
    let folded = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT 'alicé01' = 'alice01' COLLATE utf8mb4_general_ci".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(folded, 1);
    db.close().await.ok();
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn settings_for(backend: &Backend, smtp: &SmtpServer) -> Settings {
    let url = folding_database(backend).await;
    let smtp_url = smtp.url();
    let prefix = unique_name();
    let redis = redis_url();
    let mut vars = vec![
        ("SMTP_URL", smtp_url.as_str()),
        ("SIGNIN_MAX_FAILURES", "3"),
        ("RESET_COOLDOWN_SECS", "1"),
    ];
    if let (Some(redis), false) = (&redis, matches!(backend, Backend::Sqlite)) {
        vars.push(("REDIS_URL", redis));
        vars.push(("REDIS_KEY_PREFIX", &prefix));
    }
    test_settings(&url, &vars)
}

async fn signs_in(app: &TestApp, id: &str, pw: &str) -> bool {
    app.sign_in(id, pw).await.access_token.is_some()
}

#[backend_test]
async fn accented_and_plain_login_ids_are_two_accounts_on_every_backend(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(&backend, settings_for(&backend, &smtp).await).await;
    let name = app.backend;
    // The unique index accepts both (a folding collation refused the second).
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("both members");
    assert_eq!(
        app.sql_strings("SELECT login_id FROM members WHERE login_id_key = 'alicé01'")
            .await,
        vec!["alicé01"],
        "[{name}] SQL equality on the key is byte-wise"
    );

    if matches!(backend, Backend::MySql(_)) {
        let collations = app
            .sql_strings(
                "SELECT collation_name FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name = 'members' AND column_name IN ('login_id_key', 'email')",
            )
            .await;
        assert_eq!(collations, vec!["utf8mb4_bin", "utf8mb4_bin"], "[{name}]");
        let indexed = app
            .sql_strings(
                "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() \
                 AND table_name = 'members' AND index_name IN ('ux_members_site_login', 'ix_members_site_email')",
            )
            .await;
        assert_eq!(indexed, vec!["4"], "[{name}] both indexes kept, two columns each");
    }

    // checkLoginId: each finds its own account.
    for (id, masked_start) in [("alice01", "pl"), ("alicé01", "ac"), ("ALICÉ01", "ac")] {
        let found = app.check_login_id(None, id).await;
        assert!(found.exists, "[{name}] {id}: {found}");
        assert!(
            found.masked_email.as_deref().unwrap().starts_with(masked_start),
            "[{name}] {id} reached another account: {found}"
        );
    }
    assert!(
        !app.check_login_id(None, "alíce01").await.exists,
        "[{name}] a third spelling names no one"
    );

    // findId by e-mail: one account each (told apart by their join dates).
    for (email, joined) in [
        ("plain@example.com", "2023-01-01"),
        ("accent@example.com", "2024-02-02"),
    ] {
        let found = app.find_id(None, find::email(email)).await;
        assert_eq!(found.accounts.len(), 1, "[{name}] {email}: {found}");
        assert!(
            found.accounts[0].joined_at.starts_with(joined),
            "[{name}] {email}: {found}"
        );
    }

    // signIn: each password opens only its own account.
    for (id, pw, opens) in [
        ("alice01", "Blue-Harbor-47", true),
        ("alicé01", "Amber-Falcon-36", true),
        ("alicé01", "Blue-Harbor-47", false),
        ("alice01", "Amber-Falcon-36", false),
    ] {
        assert_eq!(signs_in(&app, id, pw).await, opens, "[{name}] {id} {pw}");
    }

    // The throttle budget spent on alicé01 is alicé01's: after SIGNIN_MAX_FAILURES (3, one
    // already spent above) it is throttled, even with its right password, while alice01 is not.
    for _ in 0..2 {
        assert!(!signs_in(&app, "alicé01", "Wrong-Guess-11").await);
    }
    let throttled = app.sign_in("alicé01", "Amber-Falcon-36").await;
    assert_eq!(
        throttled.top_code(),
        Some("RATE_LIMITED"),
        "[{name}] alicé01 throttled: {throttled}"
    );
    assert!(
        signs_in(&app, "alice01", "Blue-Harbor-47").await,
        "[{name}] alice01 kept its own budget"
    );

    // Reset by account: the mail for alicé01 goes to its address and lists only it.
    for login_id in ["alicé01", "alice01"] {
        let issued = app.issue_reset(by::account(login_id, "accent@example.com")).await;
        assert!(issued.accepted, "[{name}] {issued}");
    }
    let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mails = if smtp.messages().len() > mails.len() {
        smtp.messages()
    } else {
        mails
    };
    assert_eq!(
        mails.len(),
        1,
        "[{name}] alice01 is not accent@example.com's account"
    );
    assert_eq!(mails[0].to, vec!["accent@example.com"], "[{name}]");
    let grants = mailed_grants(&mails[0]);
    assert_eq!(grants.len(), 1, "[{name}] {grants:?}");
    assert_eq!(grants[0].login_id, "alicé01", "[{name}]");

    // The reset changes alicé01's password and leaves alice01's alone.
    let reset = app
        .reset_password(credential::token(&grants[0].token), "Green-Valley-58", None)
        .await;
    assert_eq!(reset.profile().login_id, "alicé01", "[{name}] {reset}");
    assert!(reset.errors.is_empty(), "[{name}] {reset}");
    assert!(signs_in(&app, "alice01", "Blue-Harbor-47").await, "[{name}]");
    assert!(!signs_in(&app, "alice01", "Green-Valley-58").await, "[{name}]");
}
