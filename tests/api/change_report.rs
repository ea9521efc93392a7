//! "That wasn't me" over HTTP with the real mail: every password-changed notice carries its own
//! report link, says when and from which network; reporting signs everyone out, kills reset links,
//! locks password sign-in until the next reset and mails a fresh link and code.
use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::{Backend, backend_test, mailed_grants, spawn_app_with_smtp},
    operations::{UserErrors, change, credential},
    smtp_server::{ReceivedMail, SmtpServer},
};

const MEMBERS: &str = r#"{"loginId":"kim01","email":"kim@example.com","name":"Kim","password":"Blue-Harbor-47","ci":"CI-KIM"}
"#;

/// The `n`-th message (waiting for it).
async fn mail(smtp: &SmtpServer, n: usize) -> ReceivedMail {
    let all = smtp.wait_for_messages(n, Duration::from_secs(10)).await;
    all.get(n - 1)
        .unwrap_or_else(|| panic!("mail {n} never came; got {all:?}"))
        .clone()
}

/// The report token of a password-changed notice's link.
fn report_token(notice: &ReceivedMail) -> String {
    let line = notice
        .text
        .lines()
        .find(|l| l.contains("#report="))
        .unwrap_or_else(|| panic!("no report link in {:?}", notice.text));
    line[line.find("#report=").unwrap() + 8..].trim().to_owned()
}

#[backend_test]
async fn a_reported_change_signs_everyone_out_locks_sign_in_and_mails_a_fresh_reset(backend: Backend) {
    let (app, smtp) = spawn_app_with_smtp(&backend, &[]).await;
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("members");
    // Someone with kim's password signs in, changes it, and keeps a reset token for later.
    let intruder = app.access_token("kim01", "Blue-Harbor-47").await;
    let changed = app
        .change_password(
            &intruder,
            change::with_current("Blue-Harbor-47", "Green-Valley-58"),
        )
        .await;
    assert!(changed.errors.is_empty(), "[{}] {changed}", app.backend);
    let second = app.access_token("kim01", "Green-Valley-58").await;
    let kept = app.direct_reset_token("kim01", "CI-KIM").await;

    let notice = mail(&smtp, 1).await;
    assert_eq!(notice.to, ["kim@example.com"]);
    assert!(notice.subject.contains("changed"), "{}", notice.subject);
    // When and from where (the tests speak from 127.0.0.1: its /24 only).
    assert!(
        notice.text.contains(" UTC") && notice.text.contains("127.0.0.0/24"),
        "{}",
        notice.text
    );
    assert!(!notice.text.contains("127.0.0.1"));
    assert!(notice.text.contains("https://app.example/reset#report="));
    let report = report_token(&notice);
    assert!(report.len() >= 22, "a token of at least 128 bits: {report}");
    // Stored only as a hash.
    let stored = app.sql_strings("SELECT token_hash FROM change_reports").await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&report));

    let done = app.report_unrecognized_change(&report).await;
    assert_eq!(
        done.body["data"]["reportUnrecognizedChange"],
        json!({"locked": true, "maskedDestination": "ki*@ex*****.com", "errors": []}),
        "[{}] {done}",
        app.backend
    );
    // Every session is gone, the kept reset token is dead, the password no longer signs in.
    for session in [&intruder, &second] {
        let me = app.me(session).await;
        assert_eq!(me.top_code(), Some("UNAUTHENTICATED"), "{me}");
    }
    let verify = app.verify_reset(credential::token(&kept)).await;
    assert!(!verify.valid, "{verify}");
    let locked = app.sign_in("kim01", "Green-Valley-58").await;
    assert_eq!(
        locked.codes()[0],
        "INVALID_CREDENTIALS",
        "[{}] {locked}",
        app.backend
    );
    // The token worked once.
    for again in [report.as_str(), "not-a-token"] {
        let refused = app.report_unrecognized_change(again).await;
        assert!(!refused.locked, "{refused}");
        assert_eq!(
            refused.user_errors(),
            [("INVALID_TOKEN".to_owned(), json!(["token"]))]
        );
    }
    let audited = app
        .sql_strings("SELECT outcome FROM audit_events WHERE kind = 'CHANGE_REPORTED'")
        .await;
    assert_eq!(audited, ["mail_queued"]);

    // The fresh reset mail: the owner resets, which unlocks sign-in.
    let fresh = mail(&smtp, 2).await;
    let grants = mailed_grants(&fresh);
    assert_eq!(grants.len(), 1, "{}", fresh.text);
    assert_eq!(grants[0].login_id, "kim01");
    let reset = app
        .reset_password(credential::token(&grants[0].token), "Amber-Falcon-36", None)
        .await;
    assert!(reset.errors.is_empty(), "{reset}");
    app.access_token("kim01", "Amber-Falcon-36").await;
    // The reset's own notice carries a new report link of its own.
    let after_reset = mail(&smtp, 3).await;
    assert!(after_reset.subject.contains("changed"));
    let second_report = report_token(&after_reset);
    assert_ne!(second_report, report);
    assert_eq!(
        app.sql_strings("SELECT token_hash FROM change_reports")
            .await
            .len(),
        2
    );
}

#[backend_test]
async fn an_expired_report_link_does_nothing(backend: Backend) {
    let (app, smtp) = spawn_app_with_smtp(&backend, &[("REPORT_TOKEN_TTL_SECS", "1")]).await;
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("members");
    let session = app.access_token("kim01", "Blue-Harbor-47").await;
    app.change_password(
        &session,
        change::with_current("Blue-Harbor-47", "Green-Valley-58"),
    )
    .await;
    let report = report_token(&mail(&smtp, 1).await);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refused = app.report_unrecognized_change(&report).await;
    assert_eq!(
        refused.user_errors(),
        [("INVALID_TOKEN".to_owned(), json!(["token"]))],
        "[{}] {refused}",
        app.backend
    );
    // Nothing happened: the session lives and the password signs in.
    let me = app.me(&session).await;
    assert_eq!(me.member().login_id, "kim01", "{me}");
    app.access_token("kim01", "Green-Valley-58").await;
}
