//! Saved recovery codes over HTTP, on every backend, reading the real mail: generated only in an
//! elevated session, ten distinct grouped codes, a new set replaces the old, each code resets the
//! password once (directly or through verify's reset-only token), every use and generation is
//! mailed and audited, wrong codes tell no login ID apart and share the mailed codes' budget, and of
//! two concurrent spends exactly one wins.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, backend_test, spawn_app_with_smtp},
    operations::{
        Answer, Caller, Reset, UserErrors, assert_alike,
        credential::{self, recovery_code},
    },
    smtp_server::{ReceivedMail, SmtpServer},
};

const PASSWORD: &str = "Blue-Harbor-47";

async fn setup(backend: &Backend, extra: &[(&str, &str)]) -> (TestApp, SmtpServer) {
    let (app, smtp) = spawn_app_with_smtp(backend, extra).await;
    (app.with_fixture().await, smtp)
}

/// Signs alice01 in, reauthenticates and generates a set; returns the session and the codes.
async fn alice_with_codes(app: &TestApp) -> (String, Vec<String>) {
    let session = app.access_token("alice01", PASSWORD).await;
    let elevated = app.reauthenticate(&session, PASSWORD).await;
    assert!(elevated.elevated_until.is_some(), "[{}] {elevated}", app.backend);
    let codes = generate(app, &session).await;
    (session, codes)
}

async fn generate(app: &TestApp, session: &str) -> Vec<String> {
    let generated = app.generate_recovery_codes(session).await;
    assert_eq!(generated.user_errors(), [], "[{}] {generated}", app.backend);
    generated
        .codes
        .clone()
        .unwrap_or_else(|| panic!("[{}] no codes: {generated}", app.backend))
}

async fn left(app: &TestApp, session: &str) -> i64 {
    app.me(session).await.member().recovery_codes_left
}

async fn activity(app: &TestApp, session: &str) -> Vec<(String, String)> {
    app.recovery_activity(session, Some(100), None)
        .await
        .page()
        .events()
}

/// Waits for `n` mails in all and returns those whose subject is `subject`.
async fn mails_titled(smtp: &SmtpServer, n: usize, subject: &str) -> Vec<ReceivedMail> {
    smtp.wait_for_messages(n, Duration::from_secs(10))
        .await
        .into_iter()
        .filter(|m| m.subject == subject)
        .collect()
}

/// `XXXX-XXXX-XXXX-XX` in Crockford's base32 (no I, L, O, U).
fn is_grouped_code(code: &str) -> bool {
    let groups: Vec<&str> = code.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [4, 4, 4, 2]
        && groups
            .iter()
            .flat_map(|g| g.chars())
            .all(|c| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c)))
}

/// A well-formed recovery code that is none of `codes`.
fn a_wrong_code(codes: &[String]) -> String {
    ["0000-0000-0000-00", "0000-0000-0000-01"]
        .into_iter()
        .find(|c| !codes.iter().any(|k| k == c))
        .expect("a free code")
        .to_owned()
}

#[backend_test]
async fn generating_needs_an_elevated_session_and_a_new_set_replaces_the_old(backend: Backend) {
    let (app, smtp) = setup(&backend, &[]).await;
    // A plain sign-in is not elevated: the same refusal as changePassword WITHOUT_CURRENT.
    let session = app.access_token("alice01", PASSWORD).await;
    let refused = app.generate_recovery_codes(&session).await;
    assert_eq!(
        refused.user_errors(),
        [("NOT_ELIGIBLE".to_owned(), Value::Null)],
        "[{}] {refused}",
        app.backend
    );
    assert!(refused.codes.is_none(), "{refused}");
    assert_eq!(left(&app, &session).await, 0);
    let anonymous = app.generate_recovery_codes(Caller::ANONYMOUS).await;
    assert_eq!(
        anonymous.top_code(),
        Some("UNAUTHENTICATED"),
        "[{}] {anonymous}",
        app.backend
    );

    let (session, first) = alice_with_codes(&app).await;
    assert_eq!(first.len(), 10, "[{}] {first:?}", app.backend);
    assert!(first.iter().all(|c| is_grouped_code(c)), "{first:?}");
    let distinct: std::collections::HashSet<&String> = first.iter().collect();
    assert_eq!(distinct.len(), 10, "{first:?}");
    assert_eq!(left(&app, &session).await, 10);
    // Stored only as keyed hashes: no code appears in the table, in any form.
    let stored = app
        .sql_strings("SELECT code_hash FROM recovery_codes ORDER BY id")
        .await;
    assert_eq!(stored.len(), 10, "[{}]", app.backend);
    for code in &first {
        let bare = code.replace('-', "");
        assert!(
            stored.iter().all(|h| !h.contains(&bare) && h.len() == 64),
            "[{}] {stored:?}",
            app.backend
        );
    }
    let notices = mails_titled(&smtp, 1, "Recovery codes generated").await;
    assert_eq!(notices.len(), 1, "[{}] the generation is mailed", app.backend);
    assert_eq!(notices[0].to, ["alice@example.com"]);
    assert!(notices[0].text.contains("alice01"), "{}", notices[0].text);
    for code in &first {
        assert!(
            !notices[0].raw.contains(code.as_str()),
            "the notice holds no code"
        );
    }

    // Generating again (still elevated) replaces the whole set.
    let second = generate(&app, &session).await;
    assert_eq!(second.len(), 10);
    assert!(second.iter().all(|c| !first.contains(c)), "{first:?} {second:?}");
    assert_eq!(left(&app, &session).await, 10);
    assert_eq!(mails_titled(&smtp, 2, "Recovery codes generated").await.len(), 2);
    let old = app.verify_reset(recovery_code("alice01", &first[0])).await;
    assert_eq!(
        old.user_errors(),
        [(
            "INVALID_CODE".to_owned(),
            json!(["credential", "recoveryCode", "code"])
        )],
        "[{}] an old code after regeneration: {old}",
        app.backend
    );
    assert_eq!(left(&app, &session).await, 10);
    let events = activity(&app, &session).await;
    assert_eq!(
        events
            .iter()
            .filter(|(k, _)| k == "RECOVERY_CODES_GENERATED")
            .count(),
        2,
        "[{}] {events:?}",
        app.backend
    );
}

#[backend_test]
async fn a_recovery_code_resets_the_password_once(backend: Backend) {
    let (app, smtp) = setup(&backend, &[]).await;
    let (old_session, codes) = alice_with_codes(&app).await;
    // Typed the forgiving way: lower case, spaces instead of hyphens.
    let typed = codes[3].to_lowercase().replace('-', " ");
    let done = app
        .reset_password(recovery_code("Alice01", &typed), "Green-Valley-58", None)
        .await;
    assert_eq!(done.profile().login_id, "alice01", "[{}] {done}", app.backend);
    assert_eq!(done.profile().recovery_codes_left, 9, "[{}] {done}", app.backend);
    // Spent: the same code again is refused, by verify and by reset.
    let again = app
        .reset_password(recovery_code("alice01", &codes[3]), "Other-River-93", None)
        .await;
    assert_eq!(
        again.user_errors(),
        [(
            "INVALID_CODE".to_owned(),
            json!(["input", "credential", "recoveryCode", "code"])
        )],
        "[{}] {again}",
        app.backend
    );
    let verified = app.verify_reset(recovery_code("alice01", &codes[3])).await;
    assert_eq!(verified.codes(), ["INVALID_CODE"], "[{}] {verified}", app.backend);
    // The reset behaves as any reset: sessions revoked, the new password signs in, the old not.
    let revoked = app.me(&old_session).await;
    assert_eq!(revoked.top_code(), Some("UNAUTHENTICATED"), "{revoked}");
    assert_eq!(
        app.sign_in("alice01", PASSWORD).await.codes(),
        ["INVALID_CREDENTIALS"]
    );
    // The mails: the codes' generation, the code's use, and the password-changed notice with
    // its "that wasn't me" link.
    let used = mails_titled(&smtp, 3, "A recovery code was used").await;
    assert_eq!(used.len(), 1, "[{}]", app.backend);
    assert!(used[0].text.contains("9"), "{}", used[0].text);
    assert!(!used[0].raw.contains(&codes[3]));
    let changed = mails_titled(&smtp, 3, "Your password was changed").await;
    assert_eq!(changed.len(), 1, "[{}]", app.backend);
    assert!(changed[0].text.contains("#report="), "{}", changed[0].text);

    // The first sign-in after a reset is elevated, which is not enough for new codes: whoever
    // reset the password has it too. The password typed again is.
    let session = app.access_token("alice01", "Green-Valley-58").await;
    let refused = app.generate_recovery_codes(&session).await;
    assert_eq!(refused.codes(), ["NOT_ELIGIBLE"], "[{}] {refused}", app.backend);
    let elevated = app.reauthenticate(&session, "Green-Valley-58").await;
    assert!(elevated.elevated_until.is_some(), "[{}] {elevated}", app.backend);
    assert_eq!(left(&app, &session).await, 9);
    let events = activity(&app, &session).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    for kind in ["RECOVERY_CODE_USED", "PASSWORD_RESET", "RECOVERY_CODES_GENERATED"] {
        assert!(kinds.contains(&kind), "[{}] {kinds:?}", app.backend);
    }
    let used_at = kinds.iter().position(|k| *k == "RECOVERY_CODE_USED").unwrap();
    let reset_at = kinds.iter().position(|k| *k == "PASSWORD_RESET").unwrap();
    assert!(
        reset_at < used_at,
        "newest first: the reset after the use, {kinds:?}"
    );
    // The spent code's failed replays were audited as attempts against the login ID.
    assert!(kinds.contains(&"FAILED_ATTEMPT"), "{kinds:?}");
    let fresh = generate(&app, &session).await;
    assert_eq!(fresh.len(), 10);
    assert_eq!(left(&app, &session).await, 10);
}

#[backend_test]
async fn verify_spends_a_recovery_code_for_a_reset_only_token(backend: Backend) {
    let (app, smtp) = setup(&backend, &[]).await;
    let (session, codes) = alice_with_codes(&app).await;
    // A code is bound to its own account: alice01's code typed with AliceBiz is wrong.
    let other = app.verify_reset(recovery_code("AliceBiz", &codes[0])).await;
    assert_eq!(other.codes(), ["INVALID_CODE"], "{other}");
    let verified = app.verify_reset(recovery_code("alice01", &codes[0])).await;
    assert!(verified.valid, "[{}] {verified}", app.backend);
    assert_eq!(verified.masked_login_id.as_deref(), Some("al***01"), "{verified}");
    let token = verified.token.clone().expect("a reset-only token");
    // The code is spent by verify (the token is now the credential).
    assert_eq!(left(&app, &session).await, 9);
    let replay = app.verify_reset(recovery_code("alice01", &codes[0])).await;
    assert_eq!(replay.codes(), ["INVALID_CODE"]);
    assert_eq!(mails_titled(&smtp, 2, "A recovery code was used").await.len(), 1);
    let done = app
        .reset_password(credential::token(&token), "Green-Valley-58", None)
        .await;
    assert_eq!(done.profile().login_id, "alice01", "[{}] {done}", app.backend);
    assert_eq!(done.profile().recovery_codes_left, 9);
    let session = app.access_token("alice01", "Green-Valley-58").await;
    let events = activity(&app, &session).await;
    assert!(
        events.contains(&("RECOVERY_CODE_USED".to_owned(), "token".to_owned())),
        "[{}] {events:?}",
        app.backend
    );
    assert!(events.contains(&("RESET_VERIFIED".to_owned(), "recovery_code".to_owned())));
}

/// Twelve wrong recovery codes for a login ID with codes and for one that names nobody,
/// interleaved, past the code limit and the per-target rate limit: every answer the same.
#[backend_test]
async fn wrong_recovery_codes_answer_alike_for_known_and_unknown_login_ids(backend: Backend) {
    let (app, _smtp) = setup(&backend, &[("RATE_LIMITS", "verifyResetToken.id=10/600")]).await;
    let (_, codes) = alice_with_codes(&app).await;
    let wrong = a_wrong_code(&codes);
    let (known, unknown) = (
        recovery_code("alice01", &wrong),
        recovery_code("nobody01", &wrong),
    );
    let mut sequence = Vec::new();
    for i in 0..12 {
        let what = format!("[{}] answer {}", app.backend, i + 1);
        // Verifying and resetting in turn: whole answers, each pair alike.
        let code = if i % 2 == 0 {
            let known = app.verify_reset(known.clone()).await;
            let unknown = app.verify_reset(unknown.clone()).await;
            assert_alike(&known, &unknown, what);
            known.codes()[0].clone()
        } else {
            let known = app.reset_password(known.clone(), "Green-Valley-58", None).await;
            let unknown = app.reset_password(unknown.clone(), "Green-Valley-58", None).await;
            assert_alike(&known, &unknown, what);
            known.codes()[0].clone()
        };
        sequence.push(code);
    }
    let mut expected = vec!["INVALID_CODE"; 4];
    expected.extend(["TOO_MANY_ATTEMPTS"; 6]);
    expected.extend(["RATE_LIMITED"; 2]);
    assert_eq!(sequence, expected, "[{}]", app.backend);
}

/// One budget per identifier: wrong mailed codes and wrong recovery codes typed with one login ID
/// count together, and at the limit even a right recovery code is refused (and not spent).
#[backend_test]
async fn mailed_and_recovery_codes_share_the_login_ids_budget(backend: Backend) {
    let (app, _smtp) = setup(&backend, &[]).await;
    let (session, codes) = alice_with_codes(&app).await;
    let mut answers = Vec::new();
    for i in 0..5 {
        let credential = if i % 2 == 0 {
            credential::code_by_login_id("alice01", "000000")
        } else {
            recovery_code("alice01", &a_wrong_code(&codes))
        };
        answers.push(app.verify_reset(credential).await.codes()[0].clone());
    }
    assert_eq!(
        answers,
        [
            "INVALID_CODE",
            "INVALID_CODE",
            "INVALID_CODE",
            "INVALID_CODE",
            "TOO_MANY_ATTEMPTS"
        ],
        "[{}] mailed, recovery, mailed, recovery, mailed",
        app.backend
    );
    let right = app.verify_reset(recovery_code("alice01", &codes[0])).await;
    assert_eq!(right.codes(), ["TOO_MANY_ATTEMPTS"], "[{}] {right}", app.backend);
    assert_eq!(left(&app, &session).await, 10, "a refused code is not spent");
    // The owner's activity lists the strangers' attempts against the login ID.
    let failed = activity(&app, &session)
        .await
        .into_iter()
        .filter(|(k, o)| k == "FAILED_ATTEMPT" && o == "wrong_code")
        .count();
    assert_eq!(failed, 6, "[{}]", app.backend);
}

/// Two resets (and two verifies) with one code at the same moment: exactly one wins.
#[backend_test]
async fn concurrent_spends_of_one_code_exactly_one_wins(backend: Backend) {
    // A loser that comes after the winner finds no code and counts a failure: room for all.
    let (app, smtp) = setup(&backend, &[("CODE_MAX_ATTEMPTS", "100")]).await;
    let (session, codes) = alice_with_codes(&app).await;
    let rounds = [
        ("Green-Valley-58", "Amber-Canyon-71"),
        ("Quiet-Forest-29", "Brave-Ocean-64"),
        ("Silver-Moon-38", "Misty-River-95"),
    ];
    let mut password = PASSWORD;
    for (round, (code, (pa, pb))) in codes[..3].iter().zip(rounds).enumerate() {
        let (a, b) = tokio::join!(
            app.reset_password(recovery_code("alice01", code), pa, None),
            app.reset_password(recovery_code("alice01", code), pb, None),
        );
        let won = |answer: &Answer<Reset>| answer.member.is_some();
        assert!(won(&a) != won(&b), "[{}] round {round}: {a} / {b}", app.backend);
        let (loser, winner) = if won(&a) { (&b, pa) } else { (&a, pb) };
        password = winner;
        assert_eq!(loser.codes(), ["INVALID_CODE"], "[{}] {loser}", app.backend);
    }
    for code in &codes[3..5] {
        let (a, b) = tokio::join!(
            app.verify_reset(recovery_code("alice01", code)),
            app.verify_reset(recovery_code("alice01", code)),
        );
        let valid = [&a, &b].iter().filter(|answer| answer.valid).count();
        assert_eq!(valid, 1, "[{}] {a} / {b}", app.backend);
    }
    // Five codes spent, one notice each.
    assert_eq!(
        mails_titled(&smtp, 1 + 5 + 3, "A recovery code was used")
            .await
            .len(),
        5,
        "[{}]",
        app.backend
    );
    let fresh = app.access_token("alice01", password).await;
    assert_eq!(left(&app, &fresh).await, 5, "[{}]", app.backend);
    let revoked = app.me(&session).await;
    assert_eq!(revoked.top_code(), Some("UNAUTHENTICATED"), "{revoked}");
}
