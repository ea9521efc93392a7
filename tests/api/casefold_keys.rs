//! Login-ID keys are NFKC_Casefold on every backend: `STRASSE` and `straße` are one account for
//! lookups; migration 000013 recomputes old NFKC + lowercase keys, fills the skeletons, and
//! reports members whose new keys would collide instead of merging them.
use account_recovery::domain::{confusables::LoginIdSkeleton, login_id::LoginId};
use migration::{Migrator, MigratorTrait};
use proptest::prelude::*;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::helpers::{Backend, backend_test, fresh_database, spawn_app_with, test_settings};

#[backend_test]
async fn strasse_and_strasse_with_sharp_s_are_one_account(backend: Backend) {
    let url = fresh_database(&backend).await;
    let app = spawn_app_with(&backend, test_settings(&url, &[])).await;
    let name = app.backend;
    app.recovery
        .members
        .import(
            r#"{"loginId":"straße","email":"strasse@example.com","password":"Blue-Harbor-47"}
{"loginId":"οδυσσευς","email":"odysseus@example.com","password":"Blue-Harbor-47"}
"#,
            chrono::Utc::now(),
        )
        .await
        .expect("members");
    for typed in [
        "straße",
        "STRASSE",
        "Strasse",
        "STRAẞE",
        "ＳＴＲＡＳＳＥ",
        "ΟΔΥΣΣΕΥΣ",
        "οδυσσευσ",
    ] {
        let found = app.check_login_id(None, typed).await;
        assert!(found.exists, "[{name}] {typed}: {found}");
    }
    assert!(!app.check_login_id(None, "strase").await.exists, "[{name}]");
    let again = app
        .recovery
        .members
        .import(
            r#"{"loginId":"STRASSE","email":"x@example.com","password":"Blue-Harbor-47"}"#,
            chrono::Utc::now(),
        )
        .await
        .expect_err("one account");
    assert!(again.to_string().contains("already exists"), "[{name}] {again}");
}

/// The migrations before 000013.
const BEFORE: u32 = 11;

async fn migrated_up_to_000012(backend: &Backend) -> (String, DatabaseConnection) {
    let url = fresh_database(backend).await;
    let db = Database::connect(url.as_str()).await.expect("database");
    Migrator::up(&db, Some(BEFORE))
        .await
        .expect("migrations up to 000012");
    let applied = Migrator::get_applied_migrations(&db).await.unwrap();
    assert_eq!(
        applied.last().map(|m| m.name().to_owned()).as_deref(),
        Some("m20261206_000012_audit_activity_indexes")
    );
    (url, db)
}

/// A member as the code before migration 000013 stored it: key = NFKC, then lowercase.
async fn insert_old_style(db: &DatabaseConnection, id: &str, site: &str, login_id: &str) {
    use unicode_normalization::UnicodeNormalization;
    let key = login_id.nfkc().collect::<String>().to_lowercase();
    let site_row = format!(
        "INSERT INTO sites (id, name, created_at) SELECT '{site}', '{site}', '2024-01-01 00:00:00' \
         WHERE NOT EXISTS (SELECT 1 FROM sites WHERE id = '{site}')"
    );
    db.execute_unprepared(&site_row).await.expect("site");
    let member = format!(
        "INSERT INTO members (id, site_id, login_id, login_id_key, email, name, member_type, \
         join_type, joined_at, status, created_at, updated_at) VALUES ('{id}', '{site}', \
         '{login_id}', '{key}', 'm@example.com', '', 'GENERAL', 'CITIZEN', '2024-01-01 00:00:00', \
         'ACTIVE', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    );
    db.execute_unprepared(&member).await.expect("member");
}

async fn column(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("query");
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("text"))
        .collect()
}

#[backend_test]
async fn the_migration_recomputes_old_keys_and_fills_skeletons(backend: Backend) {
    let (url, db) = migrated_up_to_000012(&backend).await;
    let name = backend.name();
    let members = [
        ("m1", "straße", "strasse"),
        ("m2", "ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),
        ("m3", "Alice", "alice"),
        ("m4", "kim\u{3164}99", "kim99"),
        ("m5", "ﬁle", "file"),
    ];
    for (id, login_id, _) in members {
        insert_old_style(&db, id, "main", login_id).await;
    }
    assert_eq!(
        column(&db, "SELECT login_id_key FROM members WHERE id = 'm1'").await,
        ["straße"]
    );
    Migrator::up(&db, Some(1)).await.expect("migration 000013");
    for (id, login_id, key) in members {
        let stored = column(
            &db,
            &format!("SELECT login_id_key FROM members WHERE id = '{id}'"),
        )
        .await;
        assert_eq!(stored, [key], "[{name}] {login_id}");
        let parsed = LoginId::parse(login_id).unwrap();
        assert_eq!(parsed.normalized(), key, "[{name}] the domain agrees");
        let skeleton = column(
            &db,
            &format!("SELECT login_id_skeleton FROM members WHERE id = '{id}'"),
        )
        .await;
        assert_eq!(
            skeleton,
            [LoginIdSkeleton::of(&parsed).as_str()],
            "[{name}] {login_id}"
        );
    }
    // Down restores the old keys and drops the skeletons; up again redoes both.
    Migrator::down(&db, Some(1)).await.expect("migration 000013 down");
    let old = column(&db, "SELECT login_id_key FROM members WHERE id = 'm1'").await;
    assert_eq!(old, ["straße"], "[{name}]");
    let manager = migration::SchemaManager::new(&db);
    assert!(
        !manager.has_column("members", "login_id_skeleton").await.unwrap(),
        "[{name}]"
    );
    Migrator::up(&db, Some(1)).await.expect("migration 000013 again");
    let again = column(&db, "SELECT login_id_key FROM members WHERE id = 'm1'").await;
    assert_eq!(again, ["strasse"], "[{name}]");
    db.close().await.ok();
    // The service finds the migrated members by any spelling of their keys.
    let app = spawn_app_with(&backend, test_settings(&url, &[])).await;
    for typed in ["STRASSE", "οδυσσευς", "kim99"] {
        assert!(
            app.check_login_id(Some("main"), typed).await.exists,
            "[{name}] {typed}"
        );
    }
}

#[backend_test]
async fn the_migration_reports_members_whose_keys_would_collide(backend: Backend) {
    let (_, db) = migrated_up_to_000012(&backend).await;
    let name = backend.name();
    insert_old_style(&db, "sharp-s", "s1", "straße").await;
    insert_old_style(&db, "double-s", "s1", "STRASSE").await;
    insert_old_style(&db, "elsewhere", "s2", "straße").await;
    let error = Migrator::up(&db, Some(1))
        .await
        .expect_err("a collision")
        .to_string();
    for part in ["double-s", "sharp-s", "site s1", "nothing changed"] {
        assert!(error.contains(part), "[{name}] {part}: {error}");
    }
    assert!(!error.contains("elsewhere"), "[{name}] {error}");
    // Nothing changed, and the operator's fix lets the migration finish.
    let keys = column(&db, "SELECT login_id_key FROM members ORDER BY id").await;
    assert_eq!(keys, ["strasse", "straße", "straße"], "[{name}]");
    let manager = migration::SchemaManager::new(&db);
    assert!(
        !manager.has_column("members", "login_id_skeleton").await.unwrap(),
        "[{name}]"
    );
    db.execute_unprepared(
        "UPDATE members SET login_id = 'strasze', login_id_key = 'strasze' WHERE id = 'sharp-s'",
    )
    .await
    .unwrap();
    Migrator::up(&db, Some(1))
        .await
        .expect("migration 000013 after the rename");
    let keys = column(&db, "SELECT login_id_key FROM members ORDER BY id").await;
    assert_eq!(keys, ["strasse", "strasse", "strasze"], "[{name}]");
}

proptest! {
    /// The migration's frozen copy of the key rules is the domain's. Characters whose folding is
    /// not their lowercase are drawn as often as all others together.
    #[test]
    fn the_migration_computes_the_keys_the_domain_does(
        raw in "(\\PC|ß|ẞ|ς|Σ|ﬁ|İ|ı|Ꮿ|ꮿ|ㄱ|\u{3164}|Ｓ|ǅ|ΐ){1,20}"
    ) {
        if let Ok(id) = LoginId::parse(&raw) {
            prop_assert_eq!(migration::login_id_key(id.as_str()), id.normalized());
            let skeleton = LoginIdSkeleton::of(&id);
            prop_assert_eq!(migration::login_id_skeleton(&id.normalized()), skeleton.as_str());
        }
    }
}
