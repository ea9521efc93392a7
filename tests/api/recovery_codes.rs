//! Saved recovery codes over HTTP, on every backend, reading the real mail: generated only in an
//! elevated session, ten distinct grouped codes, a new set replaces the old, each code resets the
//! password once (directly or through verify's reset-only token), every use and generation is
//! mailed and audited, wrong codes tell no login ID apart and share the mailed codes' budget, and of
//! two concurrent spends exactly one wins.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, answer_codes, backend_test, spawn_app_with_smtp, user_errors},
    smtp_server::{ReceivedMail, SmtpServer},
};

const SIGN_IN: &str = r#"mutation($id: String!, $pw: String!) {
  signIn(loginId: $id, password: $pw) { accessToken member { recoveryCodesLeft } errors { code } }
}"#;

const REAUTH: &str =
    r#"mutation($pw: String!) { reauthenticate(password: $pw) { elevatedUntil errors { code } } }"#;

const GENERATE: &str = r#"mutation { generateRecoveryCodes { codes errors { code field message } } }"#;

const LEFT: &str = r#"query { me { recoveryCodesLeft } }"#;

const ACTIVITY: &str = r#"query { me { recoveryActivity(first: 100) { edges { node { kind outcome } } } } }"#;

const VERIFY: &str = r#"mutation($credential: ResetCredential!) {
  verifyResetToken(credential: $credential) { valid token maskedLoginId errors { code field } }
}"#;

const RESET: &str = r#"mutation($input: ResetPasswordInput!) {
  resetPassword(input: $input) { member { loginId recoveryCodesLeft } errors { code field } }
}"#;

const PASSWORD: &str = "Blue-Harbor-47";

async fn setup(backend: &Backend, extra: &[(&str, &str)]) -> (TestApp, SmtpServer) {
    let (app, smtp) = spawn_app_with_smtp(backend, extra).await;
    (app.with_fixture().await, smtp)
}

async fn sign_in(app: &TestApp, login_id: &str, password: &str) -> Value {
    app.graphql(SIGN_IN, json!({"id": login_id, "pw": password}))
        .await
}

async fn token_of(app: &TestApp, login_id: &str, password: &str) -> String {
    let body = sign_in(app, login_id, password).await;
    body["data"]["signIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("[{}] sign-in of {login_id}: {body}", app.backend))
        .to_owned()
}

/// Signs alice01 in, reauthenticates and generates a set; returns the session and the codes.
async fn alice_with_codes(app: &TestApp) -> (String, Vec<String>) {
    let session = token_of(app, "alice01", PASSWORD).await;
    let elevated = app.as_bearer(&session, REAUTH, json!({"pw": PASSWORD})).await;
    assert!(
        elevated["data"]["reauthenticate"]["elevatedUntil"].is_string(),
        "[{}] {elevated}",
        app.backend
    );
    let codes = generate(app, &session).await;
    (session, codes)
}

async fn generate(app: &TestApp, session: &str) -> Vec<String> {
    let body = app.as_bearer(session, GENERATE, json!({})).await;
    let payload = &body["data"]["generateRecoveryCodes"];
    assert_eq!(user_errors(payload), [], "[{}] {body}", app.backend);
    payload["codes"]
        .as_array()
        .unwrap_or_else(|| panic!("[{}] no codes: {body}", app.backend))
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect()
}

async fn left(app: &TestApp, session: &str) -> i64 {
    let body = app.as_bearer(session, LEFT, json!({})).await;
    body["data"]["me"]["recoveryCodesLeft"]
        .as_i64()
        .unwrap_or_else(|| panic!("[{}] {body}", app.backend))
}

async fn activity(app: &TestApp, session: &str) -> Vec<(String, String)> {
    let body = app.as_bearer(session, ACTIVITY, json!({})).await;
    body["data"]["me"]["recoveryActivity"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("[{}] {body}", app.backend))
        .iter()
        .map(|e| {
            (
                e["node"]["kind"].as_str().unwrap().to_owned(),
                e["node"]["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn recovery_code(login_id: &str, code: &str) -> Value {
    json!({"recoveryCode": {"loginId": login_id, "code": code}})
}

async fn verify(app: &TestApp, credential: Value) -> Value {
    app.graphql(VERIFY, json!({"credential": credential})).await
}

async fn reset(app: &TestApp, credential: Value, new_password: &str) -> Value {
    let input = json!({"credential": credential, "newPassword": new_password});
    app.graphql(RESET, json!({"input": input})).await
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
    let session = token_of(&app, "alice01", PASSWORD).await;
    let refused = app.as_bearer(&session, GENERATE, json!({})).await;
    let payload = &refused["data"]["generateRecoveryCodes"];
    assert_eq!(
        user_errors(payload),
        [("NOT_ELIGIBLE".to_owned(), Value::Null)],
        "[{}] {refused}",
        app.backend
    );
    assert!(payload["codes"].is_null(), "{refused}");
    assert_eq!(left(&app, &session).await, 0);
    let anonymous = app.graphql(GENERATE, json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
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
    let old = verify(&app, recovery_code("alice01", &first[0])).await;
    assert_eq!(
        user_errors(&old["data"]["verifyResetToken"]),
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
    let done = reset(&app, recovery_code("Alice01", &typed), "Green-Valley-58").await;
    let member = &done["data"]["resetPassword"]["member"];
    assert_eq!(member["loginId"], "alice01", "[{}] {done}", app.backend);
    assert_eq!(member["recoveryCodesLeft"], 9, "[{}] {done}", app.backend);
    // Spent: the same code again is refused, by verify and by reset.
    let again = reset(&app, recovery_code("alice01", &codes[3]), "Other-River-93").await;
    assert_eq!(
        user_errors(&again["data"]["resetPassword"]),
        [(
            "INVALID_CODE".to_owned(),
            json!(["input", "credential", "recoveryCode", "code"])
        )],
        "[{}] {again}",
        app.backend
    );
    let verified = verify(&app, recovery_code("alice01", &codes[3])).await;
    assert_eq!(
        answer_codes(&verified, "verifyResetToken"),
        ["INVALID_CODE"],
        "[{}] {verified}",
        app.backend
    );
    // The reset behaves as any reset: sessions revoked, the new password signs in, the old not.
    let revoked = app.as_bearer(&old_session, LEFT, json!({})).await;
    assert_eq!(
        revoked["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{revoked}"
    );
    assert_eq!(
        answer_codes(&sign_in(&app, "alice01", PASSWORD).await, "signIn"),
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
    assert!(changed[0].text.contains("?report="), "{}", changed[0].text);

    // The first sign-in after a reset is elevated: new codes without reauthenticating.
    let session = token_of(&app, "alice01", "Green-Valley-58").await;
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
    let other = verify(&app, recovery_code("AliceBiz", &codes[0])).await;
    assert_eq!(
        answer_codes(&other, "verifyResetToken"),
        ["INVALID_CODE"],
        "{other}"
    );
    let body = verify(&app, recovery_code("alice01", &codes[0])).await;
    let verified = &body["data"]["verifyResetToken"];
    assert_eq!(verified["valid"], true, "[{}] {body}", app.backend);
    assert_eq!(verified["maskedLoginId"], "al***01", "{body}");
    let token = verified["token"].as_str().expect("a reset-only token").to_owned();
    // The code is spent by verify (the token is now the credential).
    assert_eq!(left(&app, &session).await, 9);
    let replay = verify(&app, recovery_code("alice01", &codes[0])).await;
    assert_eq!(answer_codes(&replay, "verifyResetToken"), ["INVALID_CODE"]);
    assert_eq!(mails_titled(&smtp, 2, "A recovery code was used").await.len(), 1);
    let done = reset(&app, json!({"token": token}), "Green-Valley-58").await;
    assert_eq!(
        done["data"]["resetPassword"]["member"]["loginId"], "alice01",
        "[{}] {done}",
        app.backend
    );
    assert_eq!(done["data"]["resetPassword"]["member"]["recoveryCodesLeft"], 9);
    let session = token_of(&app, "alice01", "Green-Valley-58").await;
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
    let mut sequence = Vec::new();
    for i in 0..12 {
        let (credential_known, credential_unknown) = (
            recovery_code("alice01", &wrong),
            recovery_code("nobody01", &wrong),
        );
        let (mut known, mut unknown) = if i % 2 == 0 {
            (
                verify(&app, credential_known).await,
                verify(&app, credential_unknown).await,
            )
        } else {
            (
                reset(&app, credential_known, "Green-Valley-58").await,
                reset(&app, credential_unknown, "Green-Valley-58").await,
            )
        };
        // Each window starts with its own first attempt, one request apart: whole seconds may
        // round apart by one, and nothing else may differ.
        let retry = |body: &mut Value| {
            let error = body.get_mut("errors")?.get_mut(0)?;
            error["extensions"]["retryAfter"].take().as_i64()
        };
        let (k, u) = (retry(&mut known), retry(&mut unknown));
        assert_eq!(k.is_some(), u.is_some(), "[{}] answer {}", app.backend, i + 1);
        assert!((k.unwrap_or(0) - u.unwrap_or(0)).abs() <= 1, "{k:?} vs {u:?}");
        assert_eq!(known, unknown, "[{}] answer {}", app.backend, i + 1);
        let field = if i % 2 == 0 {
            "verifyResetToken"
        } else {
            "resetPassword"
        };
        sequence.push(answer_codes(&known, field)[0].clone());
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
            json!({"code": {"loginId": "alice01", "code": "000000"}})
        } else {
            recovery_code("alice01", &a_wrong_code(&codes))
        };
        answers.push(answer_codes(&verify(&app, credential).await, "verifyResetToken")[0].clone());
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
    let right = verify(&app, recovery_code("alice01", &codes[0])).await;
    assert_eq!(
        answer_codes(&right, "verifyResetToken"),
        ["TOO_MANY_ATTEMPTS"],
        "[{}] {right}",
        app.backend
    );
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
            reset(&app, recovery_code("alice01", code), pa),
            reset(&app, recovery_code("alice01", code), pb),
        );
        let won = |body: &Value| body["data"]["resetPassword"]["member"].is_object();
        assert!(won(&a) != won(&b), "[{}] round {round}: {a} / {b}", app.backend);
        let (loser, winner) = if won(&a) { (&b, pa) } else { (&a, pb) };
        password = winner;
        assert_eq!(
            answer_codes(loser, "resetPassword"),
            ["INVALID_CODE"],
            "[{}] {loser}",
            app.backend
        );
    }
    for code in &codes[3..5] {
        let (a, b) = tokio::join!(
            verify(&app, recovery_code("alice01", code)),
            verify(&app, recovery_code("alice01", code)),
        );
        let valid = [&a, &b]
            .iter()
            .filter(|body| body["data"]["verifyResetToken"]["valid"] == true)
            .count();
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
    let fresh = token_of(&app, "alice01", password).await;
    assert_eq!(left(&app, &fresh).await, 5, "[{}]", app.backend);
    let revoked = app.as_bearer(&session, LEFT, json!({})).await;
    assert_eq!(revoked["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}
