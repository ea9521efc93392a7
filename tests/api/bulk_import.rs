//! `member import` of a long file through the binary, on every backend: the whole file is checked
//! before anything is written, so a bad line near its end imports nothing and is the line named;
//! plain passwords are hashed on the hashing pool and their members sign in; an import's new sites
//! are written in its transaction, so one rolled back leaves none.
use std::time::Duration;

use account_recovery::{
    domain::{
        email::Email,
        keyring::Keyring,
        login_id::LoginId,
        member::{JoinType, MemberStatus, MemberType},
        site::SiteId,
    },
    infra::{
        db::{self, members::SeaMemberStore},
        sealer::Sealer,
    },
    recovery::ports::{MemberAdminStore, NewMember},
};

use crate::{
    cli::{run, text},
    helpers::{
        Backend, TEST_SECRET_KEY, backend_test, fresh_database, scratch_dir, spawn_app_with, sql_rows,
        test_settings,
    },
};

/// A bcrypt hash (cost 4) for the lines that bring their own.
const HASH: &str = "$2b$04$KM2WBkWlJ6cHQrBkHkkkAuL6Ygs/eTbbHvUfb4/gR/wTr.T5sPeTC";

/// Line `n` (from 1) of a long file: member `bulk{n}`, with a plain password when `plain`.
fn line(n: usize, plain: bool) -> String {
    let secret = if plain {
        format!(r#""password":"Plain-Harbor-{n}""#)
    } else {
        format!(r#""passwordHash":"{HASH}""#)
    };
    format!(r#"{{"loginId":"bulk{n:05}","email":"bulk{n:05}@example.com",{secret}}}"#)
}

fn write(lines: &[String]) -> String {
    let file = scratch_dir().join("members.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    file.to_str().unwrap().to_owned()
}

/// The one value `sql` counts.
async fn count(url: &str, sql: &str) -> String {
    sql_rows(url, sql).await[0][0].clone()
}

async fn members(url: &str) -> String {
    count(url, "SELECT count(*) FROM members").await
}

#[backend_test]
async fn a_bad_line_near_the_end_of_a_long_file_imports_nothing_and_is_named(backend: Backend) {
    let url = fresh_database(&backend).await;
    let name = backend.name();
    let mut lines: Vec<String> = (1..=5001).map(|n| line(n, n % 100 == 0)).collect();
    // Line 5,000 has the login ID of line 3 in capitals.
    lines[4999] = line(3, false).replace("bulk00003", "BULK00003");
    let out = run(&url, &["member", "import", &write(&lines)]);
    assert!(
        !out.status.success()
            && text(&out)
                .contains("line 5000: login ID BULK00003 appears twice in the file (first on line 3)"),
        "[{name}] {}",
        text(&out)
    );
    assert_eq!(members(&url).await, "0", "[{name}] nothing may be imported");

    // Line 5,000 is taken by a stored member and line 5,001 is broken: the taken one is first.
    let added = run(
        &url,
        &[
            "member",
            "add",
            "--login-id",
            "bulk05000",
            "--email",
            "x@example.com",
            "--social",
        ],
    );
    assert!(added.status.success(), "[{name}] {}", text(&added));
    lines[4999] = line(5000, false);
    lines[5000] = "{not json".into();
    let out = run(&url, &["member", "import", &write(&lines)]);
    assert!(
        !out.status.success() && text(&out).contains("line 5000: loginId: login ID bulk05000 already exists"),
        "[{name}] {}",
        text(&out)
    );
    assert_eq!(members(&url).await, "1", "[{name}] nothing may be imported");
}

#[backend_test]
async fn plain_passwords_are_hashed_on_import_and_sign_in(backend: Backend) {
    let url = fresh_database(&backend).await;
    let name = backend.name();
    let lines: Vec<String> = (1..=3000).map(|n| line(n, n % 100 == 0)).collect();
    let out = run(&url, &["member", "import", &write(&lines)]);
    assert!(out.status.success(), "[{name}] {}", text(&out));
    assert!(
        text(&out).contains("imported 3000 members"),
        "[{name}] {}",
        text(&out)
    );
    let hashes = sql_rows(
        &url,
        "SELECT password_hash FROM members WHERE password_hash LIKE '$argon2id$%' ORDER BY login_id",
    )
    .await;
    assert_eq!(hashes.len(), 30, "[{name}] one argon2id hash per plain password");
    let distinct: std::collections::HashSet<_> = hashes.iter().collect();
    assert_eq!(distinct.len(), 30, "[{name}] each with its own salt");
    let app = spawn_app_with(&backend, test_settings(&url, &[])).await;
    for n in [100, 1500, 3000] {
        let signed_in = app
            .sign_in(&format!("bulk{n:05}"), &format!("Plain-Harbor-{n}"))
            .await;
        assert!(signed_in.codes().is_empty(), "[{name}] bulk{n:05}: {signed_in}");
    }
    let wrong = app.sign_in("bulk00100", "Plain-Harbor-200").await;
    assert_eq!(wrong.codes(), ["INVALID_CREDENTIALS"], "[{name}]");
}

/// A member `n` of `site` for the store's own import writer.
fn new_member(site: &str, n: usize) -> NewMember {
    NewMember {
        site_id: SiteId::parse(site).unwrap(),
        login_id: LoginId::parse(&format!("fresh{n}")).unwrap(),
        email: Email::parse(&format!("fresh{n}@example.com")).unwrap(),
        name: format!("Fresh {n}"),
        member_type: MemberType::General,
        join_type: JoinType::Citizen,
        ci_hash: None,
        password_hash: None,
        password_changed_at: None,
        joined_at: chrono::Utc::now(),
        status: MemberStatus::Active,
    }
}

#[backend_test]
async fn an_import_rolled_back_leaves_neither_its_members_nor_their_new_sites(backend: Backend) {
    let url = fresh_database(&backend).await;
    let name = backend.name();
    let conn = db::connect(&url, 4, Duration::from_secs(5), db::StatementLimit::None)
        .await
        .unwrap();
    db::migrate(&conn).await.unwrap();
    let store = SeaMemberStore::new(conn, Sealer::new(&Keyring::single(TEST_SECRET_KEY.as_bytes())));
    let fresh_members = "SELECT count(*) FROM members WHERE site_id = 'fresh-site'";
    let fresh_site = "SELECT count(*) FROM sites WHERE id = 'fresh-site'";

    // Dropped without a commit, as when the second pass finds the file changed.
    let mut writer = store.begin_import().await.unwrap();
    writer.insert(&[new_member("fresh-site", 1)]).await.unwrap();
    drop(writer);
    assert_eq!(count(&url, fresh_members).await, "0", "[{name}] no member");
    assert_eq!(
        count(&url, fresh_site).await,
        "0",
        "[{name}] the new site went with them"
    );

    let mut writer = store.begin_import().await.unwrap();
    writer.insert(&[new_member("fresh-site", 1)]).await.unwrap();
    writer.insert(&[new_member("fresh-site", 2)]).await.unwrap();
    writer.commit().await.unwrap();
    assert_eq!(count(&url, fresh_members).await, "2", "[{name}]");
    assert_eq!(count(&url, fresh_site).await, "1", "[{name}] the site, once");

    // The same through `insert_members` (`member add`): a failed insert leaves no site.
    let taken = store
        .insert_members(&[new_member("other-site", 3), new_member("fresh-site", 1)])
        .await;
    assert!(taken.is_err(), "[{name}] fresh1 is taken on fresh-site");
    let other = count(&url, "SELECT count(*) FROM sites WHERE id = 'other-site'").await;
    assert_eq!(other, "0", "[{name}] the failed insert's new site is not kept");
}
