//! Wrong codes over HTTP, on every backend, reading the real mail: counted per identifier as typed,
//! they tell no account apart (existence, or which e-mail is a login ID's address), verifying and
//! resetting spend one budget, and strangers' wrong codes never keep the owner from the link.
use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, MailedGrant, TestApp, answer_codes, backend_test, mailed_grants, spawn_app_with_smtp,
    },
    smtp_server::SmtpServer,
};

const ISSUE: &str = r#"mutation($by: ResetRequest!) {
  issueResetToken(by: $by) { accepted channel maskedDestination expiresInSeconds errors { code } }
}"#;

const VERIFY: &str = r#"mutation($credential: ResetCredential!) {
  verifyResetToken(credential: $credential) {
    valid token expiresAt maskedLoginId errors { code field message }
  }
}"#;

const RESET: &str = r#"mutation($input: ResetPasswordInput!) {
  resetPassword(input: $input) { member { loginId } errors { code field message } }
}"#;

/// One full answer (data and top-level errors, with `retryAfter`), as a stranger sees it.
async fn verify_code(app: &TestApp, by: (&str, &str), code: &str) -> Value {
    app.graphql(
        VERIFY,
        json!({"credential": {"code": {by.0: by.1, "code": code}}}),
    )
    .await
}

async fn reset_with(app: &TestApp, credential: Value) -> Value {
    let input = json!({"credential": credential, "newPassword": "Green-Valley-58"});
    app.graphql(RESET, json!({"input": input})).await
}

/// A 6-digit code that is none of `mailed`'s.
fn a_wrong_code(mailed: &[MailedGrant]) -> String {
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| mailed.iter().all(|g| &g.code != c))
        .expect("a free code")
}

async fn setup(backend: &Backend) -> (TestApp, SmtpServer) {
    let (app, smtp) = spawn_app_with_smtp(backend, &[]).await;
    (app.with_fixture().await, smtp)
}

/// Issues a reset and returns the grants of the `n`-th mail (counting from 1); `n = 0`: no mail is
/// awaited.
async fn issue_and_read(app: &TestApp, smtp: &SmtpServer, by: Value, n: usize) -> Vec<MailedGrant> {
    let body = app.graphql(ISSUE, json!({"by": by})).await;
    assert_eq!(
        body["data"]["issueResetToken"]["accepted"], true,
        "[{}] {body}",
        app.backend
    );
    if n == 0 {
        return Vec::new();
    }
    let mails = smtp
        .wait_for_messages(n, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(mails.len(), n, "[{}] mail {n}", app.backend);
    mailed_grants(&mails[n - 1])
}

/// Twelve wrong codes (past the code limit and the per-target rate limit) by an address with two
/// active accounts and live grants, and by an address with none, interleaved: every answer the same.
#[backend_test]
async fn wrong_codes_by_email_answer_alike_for_known_and_unknown_addresses(backend: Backend) {
    // The default per-target limit of verifyResetToken, so that its answers are compared too.
    let (app, smtp) = spawn_app_with_smtp(&backend, &[("RATE_LIMITS", "verifyResetToken.id=10/600")]).await;
    let app = app.with_fixture().await;
    let mailed = issue_and_read(&app, &smtp, json!({"email": "alice@example.com"}), 1).await;
    assert_eq!(mailed.len(), 2, "[{}] alice01 and AliceBiz", app.backend);
    issue_and_read(&app, &smtp, json!({"email": "nobody@example.com"}), 0).await;
    let wrong = a_wrong_code(&mailed);
    let mut sequence = Vec::new();
    let mut last = Value::Null;
    for i in 0..12 {
        let mut known = verify_code(&app, ("email", "alice@example.com"), &wrong).await;
        let mut unknown = verify_code(&app, ("email", "nobody@example.com"), &wrong).await;
        // Each window starts with its own first attempt, which came one request apart: whole
        // seconds may round apart by one, and nothing else may differ.
        let retry = |body: &mut Value| {
            let error = body.get_mut("errors")?.get_mut(0)?;
            error["extensions"]["retryAfter"].take().as_i64()
        };
        let (k, u) = (retry(&mut known), retry(&mut unknown));
        assert_eq!(k.is_some(), u.is_some(), "[{}] answer {}", app.backend, i + 1);
        assert!((k.unwrap_or(0) - u.unwrap_or(0)).abs() <= 1, "{k:?} vs {u:?}");
        assert_eq!(known, unknown, "[{}] answer {}", app.backend, i + 1);
        if let Some(k) = k {
            known["errors"][0]["extensions"]["retryAfter"] = k.into();
        }
        sequence.push(answer_codes(&known, "verifyResetToken")[0].clone());
        last = known;
    }
    let mut expected = vec!["INVALID_CODE"; 4];
    expected.extend(["TOO_MANY_ATTEMPTS"; 6]);
    expected.extend(["RATE_LIMITED"; 2]);
    assert_eq!(sequence, expected, "[{}]", app.backend);
    assert!(
        last["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap_or(0)
            > 500,
        "{last}"
    );
    assert!(
        smtp.wait_for_messages(2, std::time::Duration::from_millis(300))
            .await
            .len()
            == 1,
        "[{}] wrong codes send no mail",
        app.backend
    );
}

/// `issueResetToken(account {L, E})` then wrong codes by L: the same answers whether E is L's
/// address (a mail is sent) or not (none is). A per-member count shared by E and L told them apart.
#[backend_test]
async fn wrong_codes_by_login_id_do_not_tell_whether_the_email_was_its_address(backend: Backend) {
    let mut sequences = Vec::new();
    let mut mails = Vec::new();
    for email in ["alice@example.com", "stranger@example.com"] {
        let (app, smtp) = setup(&backend).await;
        let by = json!({"account": {"loginId": "alice01", "email": email}});
        let mut issued = app.graphql(ISSUE, json!({"by": by})).await;
        // The masked form of the address the caller typed: differs by construction.
        issued["data"]["issueResetToken"]["maskedDestination"].take();
        let mailed = smtp.wait_for_messages(1, std::time::Duration::from_secs(2)).await;
        mails.push(mailed.len());
        let wrong = a_wrong_code(&mailed.iter().flat_map(mailed_grants).collect::<Vec<_>>());
        let mut answers = vec![issued];
        for _ in 0..12 {
            answers.push(verify_code(&app, ("loginId", "alice01"), &wrong).await);
        }
        sequences.push(answers);
    }
    assert_eq!(
        mails,
        [1, 0],
        "[{}] only the matching pair gets mail",
        backend.name()
    );
    assert_eq!(
        sequences[0],
        sequences[1],
        "[{}] the answers tell the pairing",
        backend.name()
    );
    let codes: Vec<String> = sequences[0][1..]
        .iter()
        .map(|a| answer_codes(a, "verifyResetToken")[0].clone())
        .collect();
    assert_eq!(codes[3], "INVALID_CODE", "[{}] {codes:?}", backend.name());
    assert_eq!(codes[4], "TOO_MANY_ATTEMPTS", "[{}] {codes:?}", backend.name());
}

/// Strangers exhaust the shared address and AliceBiz's login ID before the owner asks. The owner
/// resets AliceBiz with the link (codes of an exhausted identifier are refused until its window
/// ends), and alice01 with the code typed by her login ID, which no one has exhausted.
#[backend_test]
async fn after_strangers_wrong_codes_the_owner_resets_with_the_link(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    for by in [("email", "alice@example.com"), ("loginId", "AliceBiz")] {
        let answers: Vec<String> = six_wrong_codes(&app, by).await;
        assert_eq!(answers[5], "TOO_MANY_ATTEMPTS", "[{}] {by:?}", app.backend);
    }
    let mailed = issue_and_read(&app, &smtp, json!({"email": "alice@example.com"}), 1).await;
    let (alice, biz) = (&mailed[0], &mailed[1]);
    assert_eq!(
        (alice.login_id.as_str(), biz.login_id.as_str()),
        ("alice01", "AliceBiz")
    );
    for by in [("email", "alice@example.com"), ("loginId", "AliceBiz")] {
        let right = verify_code(&app, by, &biz.code).await;
        assert_eq!(
            answer_codes(&right, "verifyResetToken"),
            ["TOO_MANY_ATTEMPTS"],
            "[{}] the right code by an exhausted identifier {by:?}",
            app.backend
        );
    }
    let link = app
        .graphql(VERIFY, json!({"credential": {"token": biz.token}}))
        .await;
    assert_eq!(
        link["data"]["verifyResetToken"]["valid"], true,
        "[{}] {link}",
        app.backend
    );
    let done = reset_with(&app, json!({"token": biz.token})).await;
    assert_eq!(
        done["data"]["resetPassword"]["member"]["loginId"], "AliceBiz",
        "[{}] {done}",
        app.backend
    );
    // The other identifier still takes alice01's code.
    let by_login = verify_code(&app, ("loginId", "alice01"), &alice.code).await;
    let exchanged = &by_login["data"]["verifyResetToken"];
    assert_eq!(exchanged["valid"], true, "[{}] {by_login}", app.backend);
    let done = reset_with(&app, json!({"token": exchanged["token"]})).await;
    assert_eq!(
        done["data"]["resetPassword"]["member"]["loginId"], "alice01",
        "[{}] {done}",
        app.backend
    );
}

/// Six wrong codes by `by`; their error codes.
async fn six_wrong_codes(app: &TestApp, by: (&str, &str)) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..6 {
        let body = verify_code(app, by, "000000").await;
        out.push(answer_codes(&body, "verifyResetToken")[0].clone());
    }
    out
}

/// Verifying and resetting by code draw on one budget per identifier, and that budget answers the
/// same for a known and an unknown address; after it, the right code is refused by both mutations.
#[backend_test]
async fn reset_by_code_spends_the_same_budget_as_verify(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let mailed = issue_and_read(&app, &smtp, json!({"email": "alice@example.com"}), 1).await;
    let wrong = a_wrong_code(&mailed);
    let mut sequences = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        let mut answers = Vec::new();
        for i in 0..6 {
            let credential = json!({"code": {"email": email, "code": wrong}});
            let (body, field) = if i % 2 == 0 {
                (
                    app.graphql(VERIFY, json!({"credential": credential})).await,
                    "verifyResetToken",
                )
            } else {
                (reset_with(&app, credential).await, "resetPassword")
            };
            answers.push((body.clone(), answer_codes(&body, field)[0].clone()));
        }
        sequences.push(answers);
    }
    assert_eq!(sequences[0], sequences[1], "[{}]", app.backend);
    let codes: Vec<&str> = sequences[0].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "INVALID_CODE",
            "INVALID_CODE",
            "INVALID_CODE",
            "INVALID_CODE",
            "TOO_MANY_ATTEMPTS",
            "TOO_MANY_ATTEMPTS"
        ],
        "[{}] verify, reset, verify, reset, verify, reset",
        app.backend
    );
    let right = json!({"code": {"email": "alice@example.com", "code": mailed[0].code}});
    let refused = reset_with(&app, right).await;
    assert_eq!(
        answer_codes(&refused, "resetPassword"),
        ["TOO_MANY_ATTEMPTS"],
        "[{}] {refused}",
        app.backend
    );
}
