//! Signed-in flows over HTTP: signIn, me, reauthenticate, signOut, changePassword in its three
//! modes, throttling, expiry and hash upgrades; sessions die after a reset.
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_test, spawn_app, user_errors};

const SIGN_IN: &str = r#"mutation($site: String, $id: String!, $pw: String!) {
  signIn(siteId: $site, loginId: $id, password: $pw) {
    accessToken expiresAt passwordExpired
    member { id loginId memberType status activeSessions passwordChangedAt }
    errors { code field message }
  }
}"#;

const ME: &str = "query { me { loginId name maskedEmail activeSessions } }";

const CHANGE: &str = r#"mutation($input: ChangePasswordInput!) {
  changePassword(input: $input) {
    member { loginId activeSessions passwordChangedAt } passwordExpiresAt
    errors { code field message }
  }
}"#;

const REAUTH: &str =
    "mutation($pw: String!) { reauthenticate(password: $pw) { elevatedUntil errors { code field } } }";

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

async fn sign_in(app: &TestApp, id: &str, pw: &str) -> Value {
    app.graphql(SIGN_IN, json!({"id": id, "pw": pw})).await["data"]["signIn"].clone()
}

async fn token_of(app: &TestApp, id: &str, pw: &str) -> String {
    let payload = sign_in(app, id, pw).await;
    payload["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("[{}] sign-in of {id} failed: {payload}", app.backend))
        .to_owned()
}

fn top_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn codes(payload: &Value) -> Vec<String> {
    user_errors(payload).into_iter().map(|(c, _)| c).collect()
}

async fn change(app: &TestApp, token: &str, input: Value) -> Value {
    let body = app.as_bearer(token, CHANGE, json!({"input": input})).await;
    assert!(body["errors"].is_null(), "[{}] {body}", app.backend);
    body["data"]["changePassword"].clone()
}

#[backend_test]
async fn sign_in_me_and_sign_out(backend: Backend) {
    let app = app_for(&backend).await;
    let payload = sign_in(&app, "KIM01", "Blue-Harbor-47").await;
    assert_eq!(payload["errors"], json!([]), "[{}] {payload}", app.backend);
    assert_eq!(payload["passwordExpired"], false);
    assert_eq!(payload["member"]["loginId"], "kim01");
    assert_eq!(payload["member"]["activeSessions"], 1);
    let token = payload["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43);

    let me = app.as_bearer(&token, ME, json!({})).await;
    assert_eq!(
        me["data"]["me"],
        json!({"loginId": "kim01", "name": "Kim", "maskedEmail": "ki*@ex*****.com", "activeSessions": 1})
    );
    let second = token_of(&app, "kim01", "Blue-Harbor-47").await;
    assert_eq!(
        app.as_bearer(&second, ME, json!({})).await["data"]["me"]["activeSessions"],
        2
    );
    // No token: null. A bad one: UNAUTHENTICATED, never anonymous.
    assert_eq!(app.graphql(ME, json!({})).await, json!({"data": {"me": null}}));
    for bad in ["nonsense", &"A".repeat(43)] {
        let body = app.as_bearer(bad, ME, json!({})).await;
        assert_eq!(top_code(&body), "UNAUTHENTICATED", "[{}] {body}", app.backend);
    }
    let out = app.as_bearer(&token, "mutation { signOut }", json!({})).await;
    assert_eq!(out["data"]["signOut"], true);
    assert_eq!(
        top_code(&app.as_bearer(&token, ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        top_code(&app.graphql("mutation { signOut }", json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.as_bearer(&second, ME, json!({})).await["data"]["me"]["activeSessions"],
        1
    );
}

#[backend_test]
async fn the_same_refusal_for_unknown_ids_wrong_passwords_and_inactive_accounts(backend: Backend) {
    let app = app_for(&backend).await;
    let refusals = [
        sign_in(&app, "nobody01", "Blue-Harbor-47").await,
        sign_in(&app, "kim01", "Wrong-Harbor-47").await,
        sign_in(&app, "locked01", "Blue-Harbor-47").await,
        sign_in(&app, "social01", "anything-at-all").await,
    ];
    for r in &refusals {
        assert_eq!(
            user_errors(r),
            vec![("INVALID_CREDENTIALS".to_owned(), Value::Null)],
            "[{}] {r}",
            app.backend
        );
        assert!(r["accessToken"].is_null() && r["member"].is_null());
        assert_eq!(r, &refusals[0]);
    }
}

#[backend_test]
async fn repeated_failures_are_throttled_but_recovery_still_works_and_clears_it(backend: Backend) {
    let app = app_for(&backend).await;
    for _ in 0..5 {
        assert_eq!(
            codes(&sign_in(&app, "kim01", "Wrong-Harbor-47").await),
            ["INVALID_CREDENTIALS"]
        );
    }
    let body = app
        .graphql(SIGN_IN, json!({"id": "kim01", "pw": "Blue-Harbor-47"}))
        .await;
    assert_eq!(top_code(&body), "RATE_LIMITED", "[{}] {body}", app.backend);
    let retry = body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Unknown IDs are throttled the same way.
    for _ in 0..5 {
        sign_in(&app, "ghost01", "Wrong-Harbor-47").await;
    }
    let ghost = app.graphql(SIGN_IN, json!({"id": "ghost01", "pw": "x"})).await;
    assert_eq!(top_code(&ghost), "RATE_LIMITED");
    // Recovery is untouched by the throttle, and a reset lifts it.
    let issued = app
        .graphql(
            "mutation { issueResetToken(by: {identity: {loginId: \"kim01\", ci: \"CI-KIM\"}}) { token } }",
            json!({}),
        )
        .await;
    let token = issued["data"]["issueResetToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reset = app
        .graphql(
            "mutation($t: String!) { resetPassword(input: {credential: {token: $t}, newPassword: \"Green-Valley-58\"}) { member { loginId } errors { code } } }",
            json!({"t": token}),
        )
        .await;
    assert_eq!(
        reset["data"]["resetPassword"]["member"]["loginId"], "kim01",
        "[{}] {reset}",
        app.backend
    );
    assert_eq!(
        sign_in(&app, "kim01", "Green-Valley-58").await["errors"],
        json!([])
    );
}

#[backend_test]
async fn an_expired_password_is_extended_once_it_has_expired(backend: Backend) {
    let app = app_for(&backend).await;
    let first = sign_in(&app, "old01", "Quiet-Maple-82").await;
    assert_eq!(first["passwordExpired"], true, "[{}] {first}", app.backend);
    let token = first["accessToken"].as_str().unwrap().to_owned();
    let extended = change(&app, &token, json!({"mode": "EXTEND"})).await;
    assert_eq!(extended["errors"], json!([]), "[{}] {extended}", app.backend);
    let expires = extended["passwordExpiresAt"].as_str().unwrap();
    assert!(expires > "2027-02-01", "about 90 days ahead: {expires}");
    assert_eq!(
        sign_in(&app, "old01", "Quiet-Maple-82").await["passwordExpired"],
        false
    );
    // Not expired any more: a second EXTEND is not allowed.
    let again = change(&app, &token, json!({"mode": "EXTEND"})).await;
    assert_eq!(
        user_errors(&again),
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
        sign_in(&app, "legacy01", "Wrong-Pass-99").await["errors"][0]["code"],
        "INVALID_CREDENTIALS"
    );
    assert!(
        hash(&app).await.starts_with("$2b$"),
        "a wrong password changes nothing"
    );
    let ok = sign_in(&app, "legacy01", "Legacy-Pass-42").await;
    assert_eq!(ok["errors"], json!([]), "[{}] {ok}", app.backend);
    let upgraded = hash(&app).await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "[{}] {upgraded}",
        app.backend
    );
    assert_eq!(
        sign_in(&app, "legacy01", "Legacy-Pass-42").await["errors"],
        json!([])
    );
}

#[backend_test]
async fn with_current_needs_the_right_password_and_revokes_other_sessions(backend: Backend) {
    let app = app_for(&backend).await;
    let token = token_of(&app, "kim01", "Blue-Harbor-47").await;
    let other = token_of(&app, "kim01", "Blue-Harbor-47").await;
    let wrong = change(&app, &token, json!({"mode": "WITH_CURRENT", "currentPassword": "Nope-Harbor-47", "newPassword": "Green-Valley-58"})).await;
    assert_eq!(
        user_errors(&wrong),
        vec![(
            "INVALID_CREDENTIALS".to_owned(),
            json!(["input", "currentPassword"])
        )]
    );
    let reused = change(
        &app,
        &token,
        json!({"mode": "WITH_CURRENT", "currentPassword": "Blue-Harbor-47", "newPassword": "Blue-Harbor-47"}),
    )
    .await;
    assert_eq!(codes(&reused), ["PASSWORD_REUSED"], "[{}] {reused}", app.backend);
    let weak = change(
        &app,
        &token,
        json!({"mode": "WITH_CURRENT", "currentPassword": "Blue-Harbor-47", "newPassword": "kim01abc"}),
    )
    .await;
    assert_eq!(
        codes(&weak),
        ["PASSWORD_SEQUENTIAL", "PASSWORD_CONTAINS_LOGIN_ID"]
    );
    let missing = change(
        &app,
        &token,
        json!({"mode": "WITH_CURRENT", "newPassword": "Green-Valley-58"}),
    )
    .await;
    assert_eq!(
        user_errors(&missing),
        vec![("INVALID_INPUT".to_owned(), json!(["input", "currentPassword"]))]
    );
    let done = change(&app, &token, json!({"mode": "WITH_CURRENT", "currentPassword": "Blue-Harbor-47", "newPassword": "Green-Valley-58"})).await;
    assert_eq!(done["errors"], json!([]), "[{}] {done}", app.backend);
    assert_eq!(
        done["member"]["activeSessions"], 1,
        "the other session is revoked"
    );
    assert_eq!(
        top_code(&app.as_bearer(&other, ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.as_bearer(&token, ME, json!({})).await["data"]["me"]["loginId"],
        "kim01"
    );
    // The previous password is now history: reusing it is refused; keeping sessions on request.
    let third = token_of(&app, "kim01", "Green-Valley-58").await;
    let back = change(&app, &token, json!({"mode": "WITH_CURRENT", "currentPassword": "Green-Valley-58", "newPassword": "Blue-Harbor-47"})).await;
    assert_eq!(codes(&back), ["PASSWORD_REUSED"]);
    let kept = change(&app, &token, json!({"mode": "WITH_CURRENT", "currentPassword": "Green-Valley-58", "newPassword": "Amber-Falcon-36", "revokeOtherSessions": false})).await;
    assert_eq!(kept["member"]["activeSessions"], 2, "[{}] {kept}", app.backend);
    assert_eq!(
        app.as_bearer(&third, ME, json!({})).await["data"]["me"]["loginId"],
        "kim01"
    );
    assert_eq!(
        codes(&sign_in(&app, "kim01", "Green-Valley-58").await),
        ["INVALID_CREDENTIALS"]
    );
    assert_eq!(
        sign_in(&app, "kim01", "Amber-Falcon-36").await["errors"],
        json!([])
    );
}

#[backend_test]
async fn without_current_needs_an_elevated_session(backend: Backend) {
    let app = app_for(&backend).await;
    let token = token_of(&app, "kim01", "Blue-Harbor-47").await;
    let refused = change(
        &app,
        &token,
        json!({"mode": "WITHOUT_CURRENT", "newPassword": "Green-Valley-58"}),
    )
    .await;
    assert_eq!(codes(&refused), ["NOT_ELIGIBLE"], "[{}] {refused}", app.backend);
    let wrong = app
        .as_bearer(&token, REAUTH, json!({"pw": "Nope-Harbor-47"}))
        .await;
    assert_eq!(
        user_errors(&wrong["data"]["reauthenticate"]),
        vec![("INVALID_CREDENTIALS".to_owned(), json!(["password"]))]
    );
    let right = app
        .as_bearer(&token, REAUTH, json!({"pw": "Blue-Harbor-47"}))
        .await;
    let until = right["data"]["reauthenticate"]["elevatedUntil"]
        .as_str()
        .unwrap_or_else(|| panic!("{right}"));
    assert!(until.ends_with('Z'));
    let done = change(
        &app,
        &token,
        json!({"mode": "WITHOUT_CURRENT", "newPassword": "Green-Valley-58"}),
    )
    .await;
    assert_eq!(done["errors"], json!([]), "[{}] {done}", app.backend);
    assert_eq!(
        top_code(&app.as_bearer("x", REAUTH, json!({"pw": "y"})).await),
        "UNAUTHENTICATED"
    );
}

#[backend_test]
async fn a_reset_kills_every_session_and_elevates_the_first_sign_in_after_it(backend: Backend) {
    let app = app_for(&backend).await;
    let before = token_of(&app, "kim01", "Blue-Harbor-47").await;
    let issued = app
        .graphql(
            "mutation { issueResetToken(by: {identity: {loginId: \"kim01\", ci: \"CI-KIM\"}}) { token } }",
            json!({}),
        )
        .await;
    let reset = app
        .graphql(
            "mutation($t: String!) { resetPassword(input: {credential: {token: $t}, newPassword: \"Green-Valley-58\"}) { member { activeSessions } errors { code } } }",
            json!({"t": issued["data"]["issueResetToken"]["token"]}),
        )
        .await;
    assert_eq!(
        reset["data"]["resetPassword"]["member"]["activeSessions"], 0,
        "[{}] {reset}",
        app.backend
    );
    assert_eq!(
        top_code(&app.as_bearer(&before, ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    // First sign-in after the reset: elevated, so the password can be set without the current one.
    let first = token_of(&app, "kim01", "Green-Valley-58").await;
    let done = change(
        &app,
        &first,
        json!({"mode": "WITHOUT_CURRENT", "newPassword": "Amber-Falcon-36"}),
    )
    .await;
    assert_eq!(done["errors"], json!([]), "[{}] {done}", app.backend);
    // Only the first one.
    let second = token_of(&app, "kim01", "Amber-Falcon-36").await;
    let refused = change(
        &app,
        &second,
        json!({"mode": "WITHOUT_CURRENT", "newPassword": "Blue-Maple-63"}),
    )
    .await;
    assert_eq!(codes(&refused), ["NOT_ELIGIBLE"]);
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
    for input in [
        json!({"mode": "WITH_CURRENT", "currentPassword": "x", "newPassword": "Green-Valley-58"}),
        json!({"mode": "EXTEND"}),
    ] {
        let refused = change(&app, token.expose(), input).await;
        assert_eq!(codes(&refused), ["SOCIAL_ACCOUNT"], "[{}] {refused}", app.backend);
    }
}

#[backend_test]
async fn a_burst_of_parallel_guesses_is_cut_at_the_failure_limit(backend: Backend) {
    let app = app_for(&backend).await;
    let guesses = (0..20).map(|i| {
        let app = &app;
        async move {
            app.graphql(
                SIGN_IN,
                json!({"id": "kim01", "pw": format!("Guess-{i:02}-Harbor")}),
            )
            .await
        }
    });
    let bodies = futures::future::join_all(guesses).await;
    let checked = bodies
        .iter()
        .filter(|b| b["data"]["signIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS")
        .count();
    let throttled = bodies.iter().filter(|b| top_code(b) == "RATE_LIMITED").count();
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
    let token = token_of(&app, "kim01", "Blue-Harbor-47").await;
    let other = token_of(&app, "kim01", "Blue-Harbor-47").await;
    let done = change(&app, &token, json!({"mode": "WITH_CURRENT", "currentPassword": "Blue-Harbor-47", "newPassword": "Green-Valley-58", "revokeOtherSessions": null})).await;
    assert_eq!(done["member"]["activeSessions"], 1, "{done}");
    assert_eq!(
        top_code(&app.as_bearer(&other, ME, json!({})).await),
        "UNAUTHENTICATED"
    );
}

#[backend_test]
async fn a_change_kills_reset_links_still_out_there(backend: Backend) {
    let app = app_for(&backend).await;
    let issued = app
        .graphql(
            "mutation { issueResetToken(by: {identity: {loginId: \"kim01\", ci: \"CI-KIM\"}}) { token } }",
            json!({}),
        )
        .await;
    let reset_token = issued["data"]["issueResetToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = token_of(&app, "kim01", "Blue-Harbor-47").await;
    let done = change(&app, &token, json!({"mode": "WITH_CURRENT", "currentPassword": "Blue-Harbor-47", "newPassword": "Green-Valley-58"})).await;
    assert_eq!(done["errors"], json!([]), "[{}] {done}", app.backend);
    let verify = app
        .graphql(
            "mutation($t: String!) { verifyResetToken(credential: {token: $t}) { valid errors { code } } }",
            json!({"t": reset_token}),
        )
        .await;
    assert_eq!(
        verify["data"]["verifyResetToken"]["errors"][0]["code"], "INVALID_TOKEN",
        "[{}] {verify}",
        app.backend
    );
}

/// Signed-in operations that verify or hash a password are rate-limited per session (10 in 10
/// minutes by default) and per client (30), every call counted, before any hashing: a member
/// who knows the password cannot keep the hashing threads busy, session after session.
#[backend_test]
async fn signed_in_password_checks_are_rate_limited(backend: Backend) {
    let app = app_for(&backend).await;
    let reused = json!({"input": {"mode": "WITH_CURRENT", "currentPassword": "Blue-Harbor-47", "newPassword": "Blue-Harbor-47"}});
    // Calls a session gets through before RATE_LIMITED (checking retryAfter on the refusal).
    let accepted_until_limited = |token: String| {
        let (app, reused) = (&app, reused.clone());
        async move {
            for accepted in 0..40 {
                let body = app.as_bearer(&token, CHANGE, reused.clone()).await;
                if top_code(&body) == "RATE_LIMITED" {
                    let retry = body["errors"][0]["extensions"]["retryAfter"].as_u64();
                    assert!(
                        retry.is_some_and(|s| s > 0 && s <= 600),
                        "[{}] {body}",
                        app.backend
                    );
                    return accepted;
                }
                assert_eq!(
                    codes(&body["data"]["changePassword"]),
                    ["PASSWORD_REUSED"],
                    "[{}] {body}",
                    app.backend
                );
            }
            panic!(
                "[{}] 40 password checks in one session, none refused",
                app.backend
            );
        }
    };
    let first = token_of(&app, "kim01", "Blue-Harbor-47").await;
    assert_eq!(
        accepted_until_limited(first.clone()).await,
        10,
        "[{}] per session",
        app.backend
    );
    // The session's budget covers reauthenticate too.
    let body = app
        .as_bearer(&first, REAUTH, json!({"pw": "Blue-Harbor-47"}))
        .await;
    assert_eq!(top_code(&body), "RATE_LIMITED", "[{}] {body}", app.backend);
    // New sessions from the same address share its budget: 30 calls, refused ones included.
    // So far 12 (11 changes and the reauthentication); the next session counts 11 more.
    let second = token_of(&app, "kim01", "Blue-Harbor-47").await;
    assert_eq!(accepted_until_limited(second).await, 10);
    let third = token_of(&app, "kim01", "Blue-Harbor-47").await;
    assert_eq!(
        accepted_until_limited(third).await,
        7,
        "[{}] per client",
        app.backend
    );
    // Signing in is not such a check: the member still gets in, and the password is unchanged.
    assert_eq!(
        codes(&sign_in(&app, "kim01", "Blue-Harbor-47").await),
        Vec::<String>::new()
    );
}
