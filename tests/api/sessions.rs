//! Signed-in flows over HTTP: signIn, me, reauthenticate, signOut, changePassword in its three
//! modes, throttling, expiry and hash upgrades; sessions die after a reset.
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, backend_test, spawn_app},
    operations::{Answer, Caller, UserErrors, change, credential},
};

/// Members of these tests: one with a password past expiry, one imported from bcrypt.
const MEMBERS: &str = r#"{"loginId":"kim01","email":"kim@example.com","name":"Kim","password":"Blue-Harbor-47","ci":"CI-KIM"}
{"loginId":"old01","email":"old@example.com","name":"Old","password":"Quiet-Maple-82","passwordChangedAt":"2024-03-01T00:00:00Z"}
{"loginId":"legacy01","email":"legacy@example.com","name":"Legacy","passwordHash":"$2b$04$FLmqiNH6hQ5NjXJHVuGCRe7sGF2ZpkwzdsSUp4lNwrL/F/O.Bxfda"}
{"loginId":"locked01","email":"locked@example.com","name":"Locked","password":"Blue-Harbor-47","status":"LOCKED"}
{"loginId":"social01","email":"social@example.com","name":"Social","memberType":"SOCIAL"}
"#;

async fn app_for(backend: &Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("members");
    app
}

/// Whether `answer` is refused as unauthenticated (a bad or dead token is never anonymous).
fn unauthenticated<P>(answer: &Answer<P>) -> bool {
    answer.top_code() == Some("UNAUTHENTICATED")
}

/// kim01's password reset with a direct token; the reset's answer.
async fn reset_kim(app: &TestApp, password: &str) -> Answer<crate::operations::Reset> {
    let token = app.direct_reset_token("kim01", "CI-KIM").await;
    app.reset_password(credential::token(&token), password, None)
        .await
}

#[backend_test]
async fn sign_in_me_and_sign_out(backend: Backend) {
    let app = app_for(&backend).await;
    let signed_in = app.sign_in("KIM01", "Blue-Harbor-47").await;
    assert!(signed_in.errors.is_empty(), "[{}] {signed_in}", app.backend);
    assert!(!signed_in.password_expired);
    assert_eq!(signed_in.profile().login_id, "kim01");
    assert_eq!(signed_in.profile().active_sessions, 1);
    let token = signed_in.access_token.clone().unwrap();
    assert_eq!(token.len(), 43);

    let me = app.me(&token).await;
    let member = me.member();
    assert_eq!(
        (member.login_id.as_str(), member.name.as_str()),
        ("kim01", "Kim"),
        "{me}"
    );
    assert_eq!(member.masked_email, "ki*@ex*****.com");
    assert_eq!(member.active_sessions, 1);
    let second = app.access_token("kim01", "Blue-Harbor-47").await;
    assert_eq!(app.me(&second).await.member().active_sessions, 2);
    // No token: null. A bad one: UNAUTHENTICATED, never anonymous.
    assert_eq!(
        app.me(Caller::ANONYMOUS).await.body,
        json!({"data": {"me": null}})
    );
    for bad in ["nonsense", &"A".repeat(43)] {
        let me = app.me(bad).await;
        assert!(unauthenticated(&me), "[{}] {me}", app.backend);
    }
    let out = app.sign_out(&token).await;
    assert!(*out, "{out}");
    assert!(unauthenticated(&app.me(&token).await));
    assert!(unauthenticated(&app.sign_out(Caller::ANONYMOUS).await));
    assert_eq!(app.me(&second).await.member().active_sessions, 1);
}

#[backend_test]
async fn the_same_refusal_for_unknown_ids_wrong_passwords_and_inactive_accounts(backend: Backend) {
    let app = app_for(&backend).await;
    let refusals = [
        app.sign_in("nobody01", "Blue-Harbor-47").await,
        app.sign_in("kim01", "Wrong-Harbor-47").await,
        app.sign_in("locked01", "Blue-Harbor-47").await,
        app.sign_in("social01", "anything-at-all").await,
    ];
    for r in &refusals {
        assert_eq!(
            r.user_errors(),
            vec![("INVALID_CREDENTIALS".to_owned(), Value::Null)],
            "[{}] {r}",
            app.backend
        );
        assert!(r.access_token.is_none() && r.member.is_none());
        assert_eq!(r.body, refusals[0].body);
    }
}

#[backend_test]
async fn repeated_failures_are_throttled_but_recovery_still_works_and_clears_it(backend: Backend) {
    let app = app_for(&backend).await;
    for _ in 0..5 {
        assert_eq!(
            app.sign_in("kim01", "Wrong-Harbor-47").await.codes(),
            ["INVALID_CREDENTIALS"]
        );
    }
    let limited = app.sign_in("kim01", "Blue-Harbor-47").await;
    assert_eq!(
        limited.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {limited}",
        app.backend
    );
    let retry = limited.retry_after().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Unknown IDs are throttled the same way.
    for _ in 0..5 {
        app.sign_in("ghost01", "Wrong-Harbor-47").await;
    }
    let ghost = app.sign_in("ghost01", "x").await;
    assert_eq!(ghost.top_code(), Some("RATE_LIMITED"));
    // Recovery is untouched by the throttle, and a reset lifts it.
    let reset = reset_kim(&app, "Green-Valley-58").await;
    assert_eq!(reset.profile().login_id, "kim01", "[{}] {reset}", app.backend);
    assert!(app.sign_in("kim01", "Green-Valley-58").await.errors.is_empty());
}

#[backend_test]
async fn an_expired_password_is_extended_once_it_has_expired(backend: Backend) {
    let app = app_for(&backend).await;
    let first = app.sign_in("old01", "Quiet-Maple-82").await;
    assert!(first.password_expired, "[{}] {first}", app.backend);
    let token = first.access_token.clone().unwrap();
    let extended = app.change_password(&token, change::extend()).await;
    assert!(extended.errors.is_empty(), "[{}] {extended}", app.backend);
    let expires = extended.password_expires_at.as_deref().unwrap();
    assert!(expires > "2027-02-01", "about 90 days ahead: {expires}");
    assert!(!app.sign_in("old01", "Quiet-Maple-82").await.password_expired);
    // Not expired any more: a second EXTEND is not allowed.
    let again = app.change_password(&token, change::extend()).await;
    assert_eq!(
        again.user_errors(),
        vec![("NOT_ELIGIBLE".to_owned(), json!(["input", "mode"]))]
    );
    // The password itself did not change: no history entry.
    assert!(
        app.sql_strings("SELECT password_hash FROM password_history")
            .await
            .is_empty()
    );
}

async fn hash(app: &TestApp) -> String {
    app.sql_strings("SELECT password_hash FROM members WHERE login_id = 'legacy01'")
        .await
        .remove(0)
}

#[backend_test]
async fn a_bcrypt_import_is_upgraded_to_argon2id_at_sign_in(backend: Backend) {
    let app = app_for(&backend).await;
    assert!(hash(&app).await.starts_with("$2b$"));
    assert_eq!(
        app.sign_in("legacy01", "Wrong-Pass-99").await.codes(),
        ["INVALID_CREDENTIALS"]
    );
    assert!(
        hash(&app).await.starts_with("$2b$"),
        "a wrong password changes nothing"
    );
    let ok = app.sign_in("legacy01", "Legacy-Pass-42").await;
    assert!(ok.errors.is_empty(), "[{}] {ok}", app.backend);
    let upgraded = hash(&app).await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "[{}] {upgraded}",
        app.backend
    );
    assert!(app.sign_in("legacy01", "Legacy-Pass-42").await.errors.is_empty());
}

#[backend_test]
async fn with_current_needs_the_right_password_and_revokes_other_sessions(backend: Backend) {
    let app = app_for(&backend).await;
    let token = app.access_token("kim01", "Blue-Harbor-47").await;
    let other = app.access_token("kim01", "Blue-Harbor-47").await;
    let wrong = app
        .change_password(&token, change::with_current("Nope-Harbor-47", "Green-Valley-58"))
        .await;
    assert_eq!(
        wrong.user_errors(),
        vec![(
            "INVALID_CREDENTIALS".to_owned(),
            json!(["input", "currentPassword"])
        )]
    );
    let reused = app
        .change_password(&token, change::with_current("Blue-Harbor-47", "Blue-Harbor-47"))
        .await;
    assert_eq!(reused.codes(), ["PASSWORD_REUSED"], "[{}] {reused}", app.backend);
    let weak = app
        .change_password(&token, change::with_current("Blue-Harbor-47", "kim01abc"))
        .await;
    assert_eq!(
        weak.codes(),
        ["PASSWORD_SEQUENTIAL", "PASSWORD_CONTAINS_LOGIN_ID"]
    );
    let missing = app
        .change_password(
            &token,
            json!({"mode": "WITH_CURRENT", "newPassword": "Green-Valley-58"}),
        )
        .await;
    assert_eq!(
        missing.user_errors(),
        vec![("INVALID_INPUT".to_owned(), json!(["input", "currentPassword"]))]
    );
    let done = app
        .change_password(&token, change::with_current("Blue-Harbor-47", "Green-Valley-58"))
        .await;
    assert!(done.errors.is_empty(), "[{}] {done}", app.backend);
    assert_eq!(done.profile().active_sessions, 1, "the other session is revoked");
    assert!(unauthenticated(&app.me(&other).await));
    assert_eq!(app.me(&token).await.member().login_id, "kim01");
    // The previous password is now history: reusing it is refused; keeping sessions on request.
    let third = app.access_token("kim01", "Green-Valley-58").await;
    let back = app
        .change_password(&token, change::with_current("Green-Valley-58", "Blue-Harbor-47"))
        .await;
    assert_eq!(back.codes(), ["PASSWORD_REUSED"]);
    let mut keep = change::with_current("Green-Valley-58", "Amber-Falcon-36");
    keep["revokeOtherSessions"] = false.into();
    let kept = app.change_password(&token, keep).await;
    assert_eq!(kept.profile().active_sessions, 2, "[{}] {kept}", app.backend);
    assert_eq!(app.me(&third).await.member().login_id, "kim01");
    assert_eq!(
        app.sign_in("kim01", "Green-Valley-58").await.codes(),
        ["INVALID_CREDENTIALS"]
    );
    assert!(app.sign_in("kim01", "Amber-Falcon-36").await.errors.is_empty());
}

#[backend_test]
async fn without_current_needs_an_elevated_session(backend: Backend) {
    let app = app_for(&backend).await;
    let token = app.access_token("kim01", "Blue-Harbor-47").await;
    let refused = app
        .change_password(&token, change::without_current("Green-Valley-58"))
        .await;
    assert_eq!(refused.codes(), ["NOT_ELIGIBLE"], "[{}] {refused}", app.backend);
    let wrong = app.reauthenticate(&token, "Nope-Harbor-47").await;
    assert_eq!(
        wrong.user_errors(),
        vec![("INVALID_CREDENTIALS".to_owned(), json!(["password"]))]
    );
    let right = app.reauthenticate(&token, "Blue-Harbor-47").await;
    let until = right
        .elevated_until
        .as_deref()
        .unwrap_or_else(|| panic!("{right}"));
    assert!(until.ends_with('Z'));
    let done = app
        .change_password(&token, change::without_current("Green-Valley-58"))
        .await;
    assert!(done.errors.is_empty(), "[{}] {done}", app.backend);
    assert!(unauthenticated(&app.reauthenticate("x", "y").await));
}

#[backend_test]
async fn a_reset_kills_every_session_and_elevates_the_first_sign_in_after_it(backend: Backend) {
    let app = app_for(&backend).await;
    let before = app.access_token("kim01", "Blue-Harbor-47").await;
    let reset = reset_kim(&app, "Green-Valley-58").await;
    assert_eq!(reset.profile().active_sessions, 0, "[{}] {reset}", app.backend);
    assert!(unauthenticated(&app.me(&before).await));
    // First sign-in after the reset: elevated, so the password can be set without the current one.
    let first = app.access_token("kim01", "Green-Valley-58").await;
    let done = app
        .change_password(&first, change::without_current("Amber-Falcon-36"))
        .await;
    assert!(done.errors.is_empty(), "[{}] {done}", app.backend);
    // Only the first one.
    let second = app.access_token("kim01", "Amber-Falcon-36").await;
    let refused = app
        .change_password(&second, change::without_current("Blue-Maple-63"))
        .await;
    assert_eq!(refused.codes(), ["NOT_ELIGIBLE"]);
}

#[backend_test]
async fn social_members_cannot_change_a_password(backend: Backend) {
    use account_recovery::domain::{
        grant::GrantOwner,
        member::MemberId,
        session::{AccessToken, NewSession},
        site::SiteId,
    };
    let app = app_for(&backend).await;
    // A session from the site's own social login (outside this service), minted directly.
    let id = app
        .sql_strings("SELECT id FROM members WHERE login_id = 'social01'")
        .await
        .remove(0);
    let owner = GrantOwner {
        site: SiteId::parse("main").unwrap(),
        member: MemberId(id),
    };
    let token = AccessToken::generate();
    let session = NewSession {
        token: token.hash(),
        ttl: std::time::Duration::from_secs(600),
        elevated_until: None,
    };
    app.recovery
        .ports
        .sessions
        .create_session(&owner, &session)
        .await
        .unwrap();
    for input in [change::with_current("x", "Green-Valley-58"), change::extend()] {
        let refused = app.change_password(token.expose(), input).await;
        assert_eq!(refused.codes(), ["SOCIAL_ACCOUNT"], "[{}] {refused}", app.backend);
    }
}

#[backend_test]
async fn a_burst_of_parallel_guesses_is_cut_at_the_failure_limit(backend: Backend) {
    let app = app_for(&backend).await;
    let guesses = (0..20).map(|i| {
        let app = &app;
        async move { app.sign_in("kim01", &format!("Guess-{i:02}-Harbor")).await }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|a| {
            a.payload
                .as_ref()
                .is_some_and(|p| p.codes() == ["INVALID_CREDENTIALS"])
        })
        .count();
    let throttled = answers
        .iter()
        .filter(|a| a.top_code() == Some("RATE_LIMITED"))
        .count();
    assert_eq!(
        (checked, throttled),
        (5, 15),
        "[{}] only five passwords are ever checked",
        app.backend
    );
}

#[tokio::test]
async fn a_null_revoke_other_sessions_means_true() {
    let app = app_for(&Backend::Sqlite).await;
    let token = app.access_token("kim01", "Blue-Harbor-47").await;
    let other = app.access_token("kim01", "Blue-Harbor-47").await;
    let mut input = change::with_current("Blue-Harbor-47", "Green-Valley-58");
    input["revokeOtherSessions"] = Value::Null;
    let done = app.change_password(&token, input).await;
    assert_eq!(done.profile().active_sessions, 1, "{done}");
    assert!(unauthenticated(&app.me(&other).await));
}

#[backend_test]
async fn a_change_kills_reset_links_still_out_there(backend: Backend) {
    let app = app_for(&backend).await;
    let reset_token = app.direct_reset_token("kim01", "CI-KIM").await;
    let token = app.access_token("kim01", "Blue-Harbor-47").await;
    let done = app
        .change_password(&token, change::with_current("Blue-Harbor-47", "Green-Valley-58"))
        .await;
    assert!(done.errors.is_empty(), "[{}] {done}", app.backend);
    let verify = app.verify_reset(credential::token(&reset_token)).await;
    assert_eq!(verify.codes()[0], "INVALID_TOKEN", "[{}] {verify}", app.backend);
}

/// Signed-in operations that verify or hash a password are rate-limited per session (10 in 10
/// minutes by default) and per client (30), every call counted, before any hashing: a member
/// who knows the password cannot keep the hashing threads busy, session after session.
#[backend_test]
async fn signed_in_password_checks_are_rate_limited(backend: Backend) {
    let app = app_for(&backend).await;
    // Calls a session gets through before RATE_LIMITED (checking retryAfter on the refusal).
    let accepted_until_limited = |token: String| {
        let app = &app;
        async move {
            for accepted in 0..40 {
                let reused = change::with_current("Blue-Harbor-47", "Blue-Harbor-47");
                let answer = app.change_password(&token, reused).await;
                if answer.top_code() == Some("RATE_LIMITED") {
                    let retry = answer.retry_after();
                    assert!(
                        retry.is_some_and(|s| s > 0 && s <= 600),
                        "[{}] {answer}",
                        app.backend
                    );
                    return accepted;
                }
                assert_eq!(answer.codes(), ["PASSWORD_REUSED"], "[{}] {answer}", app.backend);
            }
            panic!(
                "[{}] 40 password checks in one session, none refused",
                app.backend
            );
        }
    };
    let first = app.access_token("kim01", "Blue-Harbor-47").await;
    assert_eq!(
        accepted_until_limited(first.clone()).await,
        10,
        "[{}] per session",
        app.backend
    );
    // The session's budget covers reauthenticate too.
    let reauthenticated = app.reauthenticate(&first, "Blue-Harbor-47").await;
    assert_eq!(
        reauthenticated.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {reauthenticated}",
        app.backend
    );
    // New sessions from the same address share its budget: 30 calls, refused ones included.
    // So far 12 (11 changes and the reauthentication); the next session counts 11 more.
    let second = app.access_token("kim01", "Blue-Harbor-47").await;
    assert_eq!(accepted_until_limited(second).await, 10);
    let third = app.access_token("kim01", "Blue-Harbor-47").await;
    assert_eq!(
        accepted_until_limited(third).await,
        7,
        "[{}] per client",
        app.backend
    );
    // Signing in is not such a check: the member still gets in, and the password is unchanged.
    assert_eq!(
        app.sign_in("kim01", "Blue-Harbor-47").await.codes(),
        Vec::<String>::new()
    );
}
