//! `member import` of a long file through the binary, on every backend: the whole file is checked
//! before anything is written, so a bad line near its end imports nothing and is the line named;
//! plain passwords are hashed on the hashing pool and their members sign in.
use crate::{
    cli::{run, text},
    helpers::{Backend, backend_test, fresh_database, scratch_dir, spawn_app_with, sql_rows, test_settings},
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

async fn members(url: &str) -> String {
    sql_rows(url, "SELECT count(*) FROM members").await[0][0].clone()
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
