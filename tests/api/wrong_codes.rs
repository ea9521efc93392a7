//! Wrong codes over HTTP, on every backend, reading the real mail: counted per identifier as typed,
//! they tell no account apart (existence, or which e-mail is a login ID's address), verifying and
//! resetting spend one budget, and strangers' wrong codes never keep the owner from the link.
use serde_json::Value;

use crate::{
    helpers::{Backend, MailedGrant, TestApp, backend_test, mailed_grants, spawn_app_with_smtp},
    operations::{Answer, Verified, assert_alike, by, credential},
    smtp_server::SmtpServer,
};

/// One full answer (data and top-level errors, with `retryAfter`), as a stranger sees it: a code
/// typed with the e-mail address or the login ID `by`.
async fn verify_code(app: &TestApp, by: (&str, &str), code: &str) -> Answer<Verified> {
    let credential = match by {
        ("email", email) => credential::code_by_email(email, code),
        (_, login_id) => credential::code_by_login_id(login_id, code),
    };
    app.verify_reset(credential).await
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
    let issued = app.issue_reset(by).await;
    assert!(issued.accepted, "[{}] {issued}", app.backend);
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
    let mailed = issue_and_read(&app, &smtp, by::email("alice@example.com"), 1).await;
    assert_eq!(mailed.len(), 2, "[{}] alice01 and AliceBiz", app.backend);
    issue_and_read(&app, &smtp, by::email("nobody@example.com"), 0).await;
    let wrong = a_wrong_code(&mailed);
    let mut sequence = Vec::new();
    let mut last = None;
    for i in 0..12 {
        let known = verify_code(&app, ("email", "alice@example.com"), &wrong).await;
        let unknown = verify_code(&app, ("email", "nobody@example.com"), &wrong).await;
        assert_alike(&known, &unknown, format!("[{}] answer {}", app.backend, i + 1));
        sequence.push(known.codes()[0].clone());
        last = Some(known);
    }
    let mut expected = vec!["INVALID_CODE"; 4];
    expected.extend(["TOO_MANY_ATTEMPTS"; 6]);
    expected.extend(["RATE_LIMITED"; 2]);
    assert_eq!(sequence, expected, "[{}]", app.backend);
    let last = last.unwrap();
    assert!(last.retry_after().unwrap_or(0) > 500, "{last}");
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
        let mut issued = app.issue_reset(by::account("alice01", email)).await.body;
        // The masked form of the address the caller typed: differs by construction.
        issued["data"]["issueResetToken"]["maskedDestination"].take();
        let mailed = smtp.wait_for_messages(1, std::time::Duration::from_secs(2)).await;
        mails.push(mailed.len());
        let wrong = a_wrong_code(&mailed.iter().flat_map(mailed_grants).collect::<Vec<_>>());
        // Whole answers: the issue's, then twelve verifications'.
        let mut answers = vec![(issued, Vec::new())];
        for _ in 0..12 {
            let answer = verify_code(&app, ("loginId", "alice01"), &wrong).await;
            answers.push((answer.body.clone(), answer.codes()));
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
    let codes: Vec<&str> = sequences[0][1..]
        .iter()
        .map(|(_, codes)| codes[0].as_str())
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
    let mailed = issue_and_read(&app, &smtp, by::email("alice@example.com"), 1).await;
    let (alice, biz) = (&mailed[0], &mailed[1]);
    assert_eq!(
        (alice.login_id.as_str(), biz.login_id.as_str()),
        ("alice01", "AliceBiz")
    );
    for by in [("email", "alice@example.com"), ("loginId", "AliceBiz")] {
        let right = verify_code(&app, by, &biz.code).await;
        assert_eq!(
            right.codes(),
            ["TOO_MANY_ATTEMPTS"],
            "[{}] the right code by an exhausted identifier {by:?}",
            app.backend
        );
    }
    let link = app.verify_reset(credential::token(&biz.token)).await;
    assert!(link.valid, "[{}] {link}", app.backend);
    let done = app
        .reset_password(credential::token(&biz.token), "Green-Valley-58", None)
        .await;
    assert_eq!(done.profile().login_id, "AliceBiz", "[{}] {done}", app.backend);
    // The other identifier still takes alice01's code.
    let exchanged = verify_code(&app, ("loginId", "alice01"), &alice.code).await;
    assert!(exchanged.valid, "[{}] {exchanged}", app.backend);
    let done = app
        .reset_password(credential::token(&exchanged.token), "Green-Valley-58", None)
        .await;
    assert_eq!(done.profile().login_id, "alice01", "[{}] {done}", app.backend);
}

/// Six wrong codes by `by`; their error codes.
async fn six_wrong_codes(app: &TestApp, by: (&str, &str)) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..6 {
        out.push(verify_code(app, by, "000000").await.codes()[0].clone());
    }
    out
}

/// Verifying and resetting by code draw on one budget per identifier, and that budget answers the
/// same for a known and an unknown address; after it, the right code is refused by both mutations.
#[backend_test]
async fn reset_by_code_spends_the_same_budget_as_verify(backend: Backend) {
    let (app, smtp) = setup(&backend).await;
    let mailed = issue_and_read(&app, &smtp, by::email("alice@example.com"), 1).await;
    let wrong = a_wrong_code(&mailed);
    let mut sequences = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        let mut answers = Vec::new();
        for i in 0..6 {
            let credential = credential::code_by_email(email, &wrong);
            // Whole answers with their codes.
            answers.push(if i % 2 == 0 {
                let answer = app.verify_reset(credential).await;
                (answer.body.clone(), answer.codes()[0].clone())
            } else {
                let answer = app.reset_password(credential, "Green-Valley-58", None).await;
                (answer.body.clone(), answer.codes()[0].clone())
            });
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
    let right = credential::code_by_email("alice@example.com", &mailed[0].code);
    let refused = app.reset_password(right, "Green-Valley-58", None).await;
    assert_eq!(
        refused.codes(),
        ["TOO_MANY_ATTEMPTS"],
        "[{}] {refused}",
        app.backend
    );
}
