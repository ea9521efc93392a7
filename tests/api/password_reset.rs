//! The reset flow end to end over HTTP, with mail crossing a real SMTP conversation: every seed
//! operation of SPEC §7 (000–004), no enumeration, cooldown, attempts, concurrency, outages.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    documents::{IssueReset, issue_reset},
    helpers::{Backend, MailedGrant, TestApp, backend_test, mailed_grants, spawn_app_with_smtp},
    operations::{Caller, UserErrors, by, credential, sendable},
    smtp_server::SmtpServer,
};

const WAIT: Duration = Duration::from_secs(10);

/// Issues an e-mail reset and returns the one mail's grants.
async fn mailed(app: &TestApp, smtp: &SmtpServer, by: Value, already: usize) -> Vec<MailedGrant> {
    let payload = app.issue_reset(by).await;
    assert!(payload.accepted, "[{}] {payload}", app.backend);
    let mails = smtp.wait_for_messages(already + 1, WAIT).await;
    assert_eq!(
        mails.len(),
        already + 1,
        "[{}] one new mail expected",
        app.backend
    );
    mailed_grants(&mails[already])
}

async fn setup(backend: &Backend) -> (TestApp, SmtpServer) {
    let (app, smtp) = spawn_app_with_smtp(backend, &[]).await;
    (app.with_fixture().await, smtp)
}

#[backend_test]
async fn seed_000_and_002_email_code_then_new_password_with_reuse_refused(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let grants = mailed(&app, &smtp, by::email("alice@example.com"), 0).await;
    let mail = &smtp.messages()[0];
    assert_eq!(mail.to, vec!["alice@example.com".to_owned()]);
    // One mail for both password accounts of the address, each with its own link and code.
    let ids: Vec<_> = grants.iter().map(|g| g.login_id.as_str()).collect();
    assert_eq!(ids, ["alice01", "AliceBiz"], "[{}]", app.backend);
    assert_ne!(grants[0].code, grants[1].code);
    assert!(mail.text.contains("https://app.example/reset#token="));
    assert!(mail.html.as_deref().unwrap_or_default().contains(&grants[0].code));

    // 000 authCodeCheck: a right code checks out...
    let alice = &grants[0];
    let code = credential::code_by_email("alice@example.com", &alice.code);
    // 000 editPwd with the current password: 409 → PASSWORD_REUSED, and the code stays usable.
    let reused = app.reset_password(code.clone(), "Blue-Harbor-47", None).await;
    assert_eq!(reused.codes(), ["PASSWORD_REUSED"], "[{}] {reused}", app.backend);
    assert!(reused.member.is_none());
    let done = app.reset_password(code.clone(), "Green-Valley-58", None).await;
    assert!(done.errors.is_empty(), "[{}] {done}", app.backend);
    assert_eq!(done.profile().login_id, "alice01");
    assert_eq!(done.profile().masked_email, "al***@ex*****.com");
    // The code worked once.
    assert_eq!(
        app.reset_password(code, "Other-Thing-93", None).await.codes(),
        ["INVALID_CODE"]
    );
    // The other account's code still works: grants are per account.
    let biz = app
        .verify_reset(credential::code_by_login_id("alicebiz", &grants[1].code))
        .await;
    assert!(biz.valid, "[{}] {biz}", app.backend);
    assert_eq!(biz.masked_login_id.as_deref(), Some("Al****iz"));
    // A "password changed" notice follows the reset.
    let all = smtp.wait_for_messages(2, WAIT).await;
    assert!(
        all.iter()
            .any(|m| m.subject == "Your password was changed" && m.text.contains("alice01"))
    );
}

#[backend_test]
async fn seed_000_auth_code_check_exchanges_the_code_for_a_reset_only_token(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let grants = mailed(&app, &smtp, by::account("ALICE01", "alice@example.com"), 0).await;
    assert_eq!(grants.len(), 1, "the account path mails that account only");
    let code = credential::code_by_email("alice@example.com", &grants[0].code);
    let verified = app.verify_reset(code.clone()).await;
    assert!(verified.valid, "[{}] {verified}", app.backend);
    let token = verified.token.clone().unwrap();
    assert_ne!(token, grants[0].token, "a new reset-only token");
    // The code is spent by the exchange, and the mailed link died with it.
    assert_eq!(app.verify_reset(code).await.codes(), ["INVALID_CODE"]);
    assert_eq!(
        app.verify_reset(credential::token(&grants[0].token))
            .await
            .codes(),
        ["INVALID_TOKEN"]
    );
    let done = app
        .reset_password(credential::token(&token), "Green-Valley-58", None)
        .await;
    assert_eq!(done.profile().login_id, "alice01", "[{}] {done}", app.backend);
}

#[backend_test]
async fn seed_001_find_id_then_account_token_verify_and_reset(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let grants = mailed(&app, &smtp, by::account("alice01", "ALICE@example.com"), 0).await;
    let token = credential::token(&grants[0].token);
    // GET /auth/password/token: verifying does not spend.
    for _ in 0..2 {
        let v = app.verify_reset(token.clone()).await;
        assert!(v.valid, "[{}] {v}", app.backend);
        assert_eq!(v.masked_login_id.as_deref(), Some("al***01"));
        assert_eq!(v.token.as_deref(), Some(grants[0].token.as_str()));
    }
    // PUT /auth/password
    let done = app.reset_password(token.clone(), "Green-Valley-58", None).await;
    assert_eq!(done.profile().login_id, "alice01", "[{}] {done}", app.backend);
    assert_eq!(app.verify_reset(token.clone()).await.codes(), ["INVALID_TOKEN"]);
    assert_eq!(
        app.reset_password(token, "Other-Thing-93", None).await.codes(),
        ["INVALID_TOKEN"]
    );
    // Malformed tokens are refused the same way.
    assert_eq!(
        app.verify_reset(credential::token("x")).await.codes(),
        ["INVALID_TOKEN"]
    );
}

#[backend_test]
async fn seed_003_identity_path_returns_the_token_directly(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let ok = app.issue_reset(by::identity("alice01", "CI-ALICE")).await;
    assert_eq!(ok.channel.as_deref(), Some("DIRECT"), "[{}] {ok}", app.backend);
    assert_eq!(ok.member_type.as_deref(), Some("GENERAL"));
    assert!(ok.expires_at.as_deref().unwrap().ends_with('Z'));
    let token = ok.token.clone().unwrap();
    for (by, code) in [
        (by::identity("alice01", "CI-WRONG"), "IDENTITY_MISMATCH"),
        (by::identity("nobody", "CI-ALICE"), "IDENTITY_MISMATCH"),
        (by::identity("socialbob", "CI-BOB"), "SOCIAL_ACCOUNT"),
    ] {
        let refused = app.issue_reset(by.clone()).await;
        assert_eq!(refused.codes(), [code], "[{}] {by}", app.backend);
        assert!(!refused.accepted);
        assert!(refused.token.is_none());
    }
    // A newer grant replaces the older one.
    let newer = app.issue_reset(by::identity("alice01", "CI-ALICE")).await;
    assert_eq!(
        app.verify_reset(credential::token(&token)).await.codes(),
        ["INVALID_TOKEN"]
    );
    let done = app
        .reset_password(credential::token(&newer.token), "Green-Valley-58", None)
        .await;
    assert_eq!(done.profile().member_type, "GENERAL", "[{}] {done}", app.backend);
    assert!(
        smtp.wait_for_messages(1, WAIT)
            .await
            .iter()
            .all(|m| !m.text.contains("token="))
    );
}

#[backend_test]
async fn seed_004_confirmation_and_every_violated_rule_reported_grant_kept(backend: Backend) {
    let (app, _smtp) = setup(&backend).await;
    let token = app.direct_reset_token("alice01", "CI-ALICE").await;
    let credential = credential::token(&token);
    let bad = app
        .reset_password(credential.clone(), "abc 111", Some("abc 111"))
        .await;
    assert_eq!(
        bad.codes(),
        [
            "PASSWORD_TOO_SHORT",
            "PASSWORD_WHITESPACE",
            "PASSWORD_SEQUENTIAL",
            "PASSWORD_REPEATED"
        ],
        "[{}] {bad}",
        app.backend
    );
    assert_eq!(bad.user_errors()[0].1, json!(["input", "newPassword"]));
    let contains_id = app.reset_password(credential.clone(), "xAlice01-Zq", None).await;
    assert_eq!(contains_id.codes(), ["PASSWORD_CONTAINS_LOGIN_ID"]);
    let common = app.reset_password(credential.clone(), "password1", None).await;
    assert!(
        common.codes().contains(&"PASSWORD_TOO_COMMON".to_owned()),
        "{common}"
    );
    let mismatch = app
        .reset_password(credential.clone(), "Green-Valley-58", Some("Green-Valley-59"))
        .await;
    assert_eq!(
        mismatch.user_errors(),
        vec![(
            "PASSWORD_MISMATCH".to_owned(),
            json!(["input", "newPasswordConfirmation"])
        )]
    );
    // Still usable after every refusal.
    let done = app
        .reset_password(credential, "Green-Valley-58", Some("Green-Valley-58"))
        .await;
    let member = done.profile();
    assert_eq!(member.login_id, "alice01", "[{}] {done}", app.backend);
    assert_eq!(member.name, "Alice Kim");
    assert_eq!(member.status, "ACTIVE");
    assert!(member.password_changed_at.as_deref().unwrap() > "2026");
}

#[backend_test]
async fn replies_for_known_and_unknown_addresses_are_byte_identical_and_unknown_gets_no_mail(
    backend: Backend,
) {
    let (app, smtp) = setup(&backend).await;
    let send = |by: Value| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/graphql", app.address))
                .json(&sendable::<IssueReset>(issue_reset::Variables { by, site: None }))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    let a = send(by::email("alice@example.com")).await;
    let b = send(by::email("alicf@example.com")).await;
    // Same length address, so even the masked destination matches.
    assert_eq!(
        String::from_utf8_lossy(&a).replace("al***", "X"),
        String::from_utf8_lossy(&b).replace("al***", "X"),
        "[{}]",
        app.backend
    );
    let mismatched = send(by::account("alice01", "mallory@example.com")).await;
    let unknown_id = send(by::account("nobody99", "mallory@example.com")).await;
    assert_eq!(mismatched, unknown_id, "[{}]", app.backend);
    let locked = send(by::email("locked@example.com")).await;
    let nobody = send(by::email("lonely@example.com")).await;
    assert_eq!(
        locked, nobody,
        "[{}] inactive accounts look like none",
        app.backend
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "[{}] only the real account got mail", app.backend);
    assert_eq!(mails[0].to, vec!["alice@example.com".to_owned()]);
}

#[backend_test]
async fn a_repeated_request_within_the_cooldown_sends_no_second_mail(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let first = mailed(&app, &smtp, by::account("alice01", "alice@example.com"), 0).await;
    let again = app.issue_reset(by::email("alice@example.com")).await;
    assert!(again.accepted);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mails = smtp.messages();
    // alice01 is cooling down; AliceBiz was not asked for before, so only it gets a mail.
    assert_eq!(mails.len(), 2, "[{}]", app.backend);
    let second: Vec<_> = mailed_grants(&mails[1]).into_iter().map(|g| g.login_id).collect();
    assert_eq!(second, ["AliceBiz"]);
    // The first grant stays valid.
    assert!(app.verify_reset(credential::token(&first[0].token)).await.valid);
}

#[backend_test]
async fn forty_concurrent_resets_with_one_token_succeed_exactly_once(backend: Backend) {
    let (app, _smtp) = setup(&backend).await;
    let token = app.direct_reset_token("alice01", "CI-ALICE").await;
    let attempts = (0..40).map(|i| {
        let app = &app;
        let token = token.clone();
        async move {
            app.reset_password(
                credential::token(&token),
                &format!("Green-Valley-{}", 10 + i),
                None,
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let wins = results.iter().filter(|r| r.member.is_some()).count();
    let invalid = results.iter().filter(|r| r.codes() == ["INVALID_TOKEN"]).count();
    assert_eq!((wins, invalid), (1, 39), "[{}] {results:?}", app.backend);
    let resets = app
        .sql_strings("SELECT kind FROM audit_events WHERE kind = 'PASSWORD_RESET'")
        .await;
    assert_eq!(resets.len(), 1, "[{}]", app.backend);
    let history = app
        .sql_strings("SELECT password_hash FROM password_history")
        .await;
    assert_eq!(
        history.len(),
        1,
        "[{}] one change, one history entry",
        app.backend
    );
}

#[backend_test]
async fn thirty_aliased_wrong_codes_exhaust_the_identifier_before_the_right_one(backend: Backend) {
    // Relaxed GraphQL limits: by default such a request is refused whole (see the hardening tests).
    let extra = [
        ("GRAPHQL_MAX_ALIASES", "50"),
        ("GRAPHQL_MAX_ROOT_FIELDS", "50"),
        ("GRAPHQL_MAX_COMPLEXITY", "100000"),
    ];
    let (app, smtp) = spawn_app_with_smtp(&backend, &extra).await;
    let app = app.with_fixture().await;
    let grants = mailed(&app, &smtp, by::account("alice01", "alice@example.com"), 0).await;
    let right = &grants[0].code;
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let aliases: String = (0..30)
        .map(|i| {
            format!(
                "a{i}: verifyResetToken(credential: {{code: {{loginId: \"alice01\", code: \"{wrong}\"}}}}) {{ valid errors {{ code }} }}\n"
            )
        })
        .collect();
    let body = app.graphql(&format!("mutation {{ {aliases} }}"), json!({})).await;
    let data = body["data"].as_object().unwrap_or_else(|| panic!("{body}"));
    let refused: Vec<_> = (0..30)
        .map(|i| data[&format!("a{i}")]["errors"][0]["code"].clone())
        .collect();
    assert_eq!(
        refused.iter().filter(|c| *c == "INVALID_CODE").count(),
        4,
        "[{}] {refused:?}",
        app.backend
    );
    assert!(refused[4..].iter().all(|c| c == "TOO_MANY_ATTEMPTS"));
    let then = app
        .verify_reset(credential::code_by_login_id("alice01", right))
        .await;
    assert_eq!(then.codes(), ["TOO_MANY_ATTEMPTS"], "[{}] {then}", app.backend);
    assert!(
        app.verify_reset(credential::token(&grants[0].token)).await.valid,
        "[{}] code counters never burn the link",
        app.backend
    );
}

#[tokio::test]
async fn a_new_code_does_not_reset_the_identifier_failure_count() {
    let backend = &Backend::Sqlite;
    let (app, smtp) = spawn_app_with_smtp(
        backend,
        &[("RESET_COOLDOWN_SECS", "1"), ("CODE_MAX_ATTEMPTS", "7")],
    )
    .await;
    let app = app.with_fixture().await;
    let by = by::account("alice01", "alice@example.com");
    let first = mailed(&app, &smtp, by.clone(), 0).await;
    for _ in 0..4 {
        let wrong = if first[0].code == "999999" {
            "999998"
        } else {
            "999999"
        };
        assert_eq!(
            app.verify_reset(credential::code_by_login_id("alice01", wrong))
                .await
                .codes(),
            ["INVALID_CODE"]
        );
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = mailed(&app, &smtp, by, 1).await;
    let wrong = if second[0].code == "999999" {
        "999998"
    } else {
        "999999"
    };
    for want in ["INVALID_CODE", "INVALID_CODE", "TOO_MANY_ATTEMPTS"] {
        assert_eq!(
            app.verify_reset(credential::code_by_login_id("alice01", wrong))
                .await
                .codes(),
            [want]
        );
    }
    let right = app
        .verify_reset(credential::code_by_login_id("alice01", &second[0].code))
        .await;
    assert_eq!(right.codes(), ["TOO_MANY_ATTEMPTS"]);
}

#[backend_test]
async fn mail_queued_while_smtp_is_down_arrives_exactly_once_when_it_returns(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let port = smtp.port();
    smtp.stop().await;
    let payload = app.issue_reset(by::account("alice01", "alice@example.com")).await;
    assert!(
        payload.accepted,
        "[{}] SMTP down never fails a request",
        app.backend
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Queued, sealed: the stored body shows neither the code nor a link.
    let sealed = app.sql_strings("SELECT sealed FROM outbox").await;
    assert_eq!(sealed.len(), 1);
    assert!(
        !sealed[0].contains("token=") && !sealed[0].contains("alice01"),
        "[{}]",
        app.backend
    );
    let restarted = SmtpServer::start_on(port).await;
    let mails = restarted.wait_for_messages(1, Duration::from_secs(15)).await;
    assert_eq!(mails.len(), 1, "[{}]", app.backend);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(restarted.messages().len(), 1, "[{}] exactly one", app.backend);
    assert_eq!(mailed_grants(&mails[0])[0].login_id, "alice01");
    let rows = app.sql_strings("SELECT status FROM outbox").await;
    assert_eq!(rows, ["SENT"], "[{}]", app.backend);
    assert_eq!(
        app.sql_strings("SELECT sealed FROM outbox").await,
        ["NULL"],
        "body erased once sent"
    );
}

#[backend_test]
async fn mail_whose_grant_was_replaced_is_dropped_not_sent(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let port = smtp.port();
    smtp.stop().await;
    app.issue_reset(by::account("alice01", "alice@example.com")).await;
    app.wait_until_resolved().await;
    // The identity path replaces the mailed grant before the mail could go out.
    app.issue_reset(by::identity("alice01", "CI-ALICE")).await;
    let restarted = SmtpServer::start_on(port).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(restarted.messages().is_empty(), "[{}]", app.backend);
    assert_eq!(
        app.sql_strings("SELECT status FROM outbox").await,
        ["DROPPED"],
        "[{}]",
        app.backend
    );
}

#[tokio::test]
async fn korean_mail_for_korean_requests() {
    let backend = &Backend::Sqlite;
    let (app, smtp) = setup(backend).await;
    let korean = Caller::lang("ko-KR");
    let by = by::account("alice01", "alice@example.com");
    assert!(app.issue_reset_as(korean, by).await.accepted);
    let mails = smtp.wait_for_messages(1, WAIT).await;
    assert_eq!(mails[0].subject, "비밀번호 재설정 안내");
    assert!(mails[0].text.contains("아이디: alice01") && mails[0].text.contains("15분"));
    assert_eq!(mailed_grants(&mails[0]).len(), 1);
}

#[backend_test]
async fn bad_input_is_typed_and_the_audit_holds_no_secrets(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let cases = [
        (by::email("nope"), "INVALID_EMAIL", json!(["by", "email"])),
        (
            json!({"email": "a".repeat(10_000)}),
            "INVALID_EMAIL",
            json!(["by", "email"]),
        ),
        (
            by::account("", "a@example.com"),
            "INVALID_INPUT",
            json!(["by", "account", "loginId"]),
        ),
        (
            by::identity("alice01", ""),
            "INVALID_INPUT",
            json!(["by", "identity", "ci"]),
        ),
    ];
    for (by, code, field) in cases {
        let p = app.issue_reset(by.clone()).await;
        assert_eq!(
            p.user_errors(),
            vec![(code.to_owned(), field)],
            "[{}] {by:.60}",
            app.backend
        );
        assert!(!p.accepted);
    }
    let both = app
        .verify_reset(json!({"code": {"email": "a@example.com", "loginId": "x", "code": "123456"}}))
        .await;
    assert_eq!(
        both.user_errors(),
        vec![("INVALID_INPUT".to_owned(), json!(["credential", "code"]))]
    );
    let short = app
        .verify_reset(credential::code_by_login_id("alice01", "12ab"))
        .await;
    assert_eq!(short.codes(), ["INVALID_CODE"]);

    let grants = mailed(&app, &smtp, by::email("alice@example.com"), 0).await;
    app.reset_password(credential::token(&grants[0].token), "Green-Valley-58", None)
        .await;
    let audit = app
        .sql_strings("SELECT CONCAT(kind, ' ', outcome, ' ', COALESCE(member_id, '-'), ' ', COALESCE(client_addr, '-')) FROM audit_events")
        .await;
    assert!(
        audit.iter().any(|r| r.starts_with("RESET_REQUESTED mail_queued")),
        "[{}] {audit:?}",
        app.backend
    );
    assert!(
        audit
            .iter()
            .any(|r| r.starts_with("PASSWORD_RESET ok") && r.ends_with("127.0.0.1")),
        "{audit:?}"
    );
    let everything = audit.join("\n");
    for secret in [
        grants[0].token.as_str(),
        grants[0].code.as_str(),
        "Green-Valley-58",
        "CI-ALICE",
    ] {
        assert!(!everything.contains(secret));
    }
}

#[tokio::test]
async fn grants_expire_after_their_configured_lifetime() {
    let backend = &Backend::Sqlite;
    let (app, _smtp) = spawn_app_with_smtp(backend, &[("DIRECT_TOKEN_TTL_SECS", "1")]).await;
    let app = app.with_fixture().await;
    let issued = app.issue_reset(by::identity("alice01", "CI-ALICE")).await;
    let token = credential::token(&issued.token);
    assert!(app.verify_reset(token.clone()).await.valid);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(app.verify_reset(token).await.codes(), ["INVALID_TOKEN"]);
}

#[tokio::test]
async fn without_smtp_mail_lands_in_the_outbox_folder() {
    let backend = &Backend::Sqlite;
    let dir = crate::helpers::scratch_dir().join("outbox");
    let dir_text = dir.display().to_string();
    let settings = crate::helpers::backend_settings(backend, &[("OUTBOX_DIR", &dir_text)]).await;
    let app = crate::helpers::spawn_app_with(backend, settings)
        .await
        .with_fixture()
        .await;
    app.issue_reset(by::account("alice01", "alice@example.com")).await;
    let deadline = std::time::Instant::now() + WAIT;
    let eml = loop {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(file) = files.first() {
            break std::fs::read_to_string(file).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no .eml in {dir_text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let parsed = mail_parser::MessageParser::default()
        .parse(eml.as_bytes())
        .expect("a MIME message");
    assert_eq!(parsed.subject(), Some("Reset your password"));
    let text = parsed.body_text(0).unwrap_or_default();
    assert!(
        text.contains("alice01") && text.contains("https://app.example/reset#token="),
        "{text}"
    );
}

#[backend_test]
async fn a_right_code_for_one_account_is_no_wrong_code_for_its_sibling(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let grants = mailed(&app, &smtp, by::email("alice@example.com"), 0).await;
    let (first, sibling) = (&grants[0], &grants[1]);
    assert_eq!(
        (first.login_id.as_str(), sibling.login_id.as_str()),
        ("alice01", "AliceBiz")
    );
    // The sibling's code, given with the shared address, is judged against the sibling only.
    let v = app
        .verify_reset(credential::code_by_email("alice@example.com", &sibling.code))
        .await;
    assert_eq!(
        v.masked_login_id.as_deref(),
        Some("Al****iz"),
        "[{}] {v}",
        app.backend
    );
    // So alice01 still has all five attempts: four misses, then her code works.
    let wrong = if first.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..4 {
        let miss = app
            .verify_reset(credential::code_by_login_id("alice01", wrong))
            .await;
        assert_eq!(miss.codes(), ["INVALID_CODE"], "[{}]", app.backend);
    }
    let right = app
        .verify_reset(credential::code_by_login_id("alice01", &first.code))
        .await;
    assert!(right.valid, "[{}] {right}", app.backend);
}
