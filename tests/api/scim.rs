//! SCIM provisioning end to end: a host creates, changes and withdraws members over `/scim/v2`,
//! and those members then reset by the mail the service really sends, sign in, or cannot.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, MailedGrant, TestApp, backend_settings, backend_test, mailed_grants, spawn_app_with,
        spawn_app_with_smtp,
    },
    operations::{by, credential},
    smtp_server::SmtpServer,
};

pub const TOKEN: &str = "main-scim-token-0123456789abcdef0123456789";
pub const OTHER_TOKEN: &str = "other-scim-token-0123456789abcdef012345678";
pub const EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:account-recovery:2.0:User";
pub const TOKENS: &str =
    "main:main-scim-token-0123456789abcdef0123456789,other:other-scim-token-0123456789abcdef012345678";
const WAIT: Duration = Duration::from_secs(10);

/// A SCIM answer: status, ETag and body.
#[derive(Debug)]
pub struct Scim {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Value,
}

impl TestApp {
    /// A SCIM request with `token` (none: no Authorization header).
    pub async fn scim_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Scim {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}/scim/v2{path}", self.address))
            .header("content-type", "application/scim+json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("SCIM request");
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Scim { status, etag, body }
    }

    pub async fn scim(&self, method: &str, path: &str, body: Option<Value>) -> Scim {
        self.scim_as(Some(TOKEN), method, path, body, None).await
    }

    /// Creates a member through SCIM; fails the test unless it is created. Its id.
    pub async fn provision(&self, user: Value) -> String {
        let created = self.scim("POST", "/Users", Some(user)).await;
        assert_eq!(created.status, 201, "[{}] {:?}", self.backend, created);
        created.body["id"].as_str().expect("id").to_owned()
    }
}

/// A User body with the given login ID, address and extra attributes.
pub fn user(login_id: &str, email: &str, extra: Value) -> Value {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", EXTENSION],
        "userName": login_id,
        "emails": [{"value": email, "primary": true}],
        "name": {"formatted": "Provisioned Member"},
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

pub async fn scim_app(backend: &Backend) -> TestApp {
    spawn_app_with(
        backend,
        backend_settings(backend, &[("SCIM_TOKENS", TOKENS)]).await,
    )
    .await
}

/// Issues an e-mail reset to `email` and returns the grants of the one new mail.
async fn mailed(app: &TestApp, smtp: &SmtpServer, email: &str, already: usize) -> Vec<MailedGrant> {
    let issued = app.issue_reset(by::email(email)).await;
    assert!(issued.accepted, "[{}] {issued}", app.backend);
    let mails = smtp.wait_for_messages(already + 1, WAIT).await;
    assert_eq!(mails.len(), already + 1, "[{}] one new mail", app.backend);
    assert_eq!(mails[already].to, vec![email.to_owned()]);
    mailed_grants(&mails[already])
}

#[backend_test]
async fn a_provisioned_member_resets_by_mail_and_a_changed_address_takes_over(backend: Backend) {
    let (app, smtp) = spawn_app_with_smtp(&backend, &[("SCIM_TOKENS", TOKENS)]).await;
    app.provision(user(
        "hana01",
        "hana@example.com",
        json!({"password": "Blue-Harbor-47"}),
    ))
    .await;
    let grants = mailed(&app, &smtp, "hana@example.com", 0).await;
    assert_eq!(grants.len(), 1, "[{}] {grants:?}", app.backend);
    assert_eq!(grants[0].login_id, "hana01");
    let done = app
        .reset_password(credential::token(&grants[0].token), "Green-Valley-58", None)
        .await;
    assert!(done.errors.is_empty(), "[{}] {done}", app.backend);
    app.access_token("hana01", "Green-Valley-58").await;

    // The host changes another member's address: the reset goes to the new one, and the old one
    // owns nothing any more (a second member: one member's resets have a cooldown).
    let id = app
        .provision(user(
            "jun02",
            "jun@example.com",
            json!({"password": "Quiet-Maple-82"}),
        ))
        .await;
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "emails[primary eq true].value", "value": "Jun.New@Example.com"}]});
    let changed = app.scim("PATCH", &format!("/Users/{id}"), Some(patch)).await;
    assert_eq!(changed.status, 200, "[{}] {changed:?}", app.backend);
    assert_eq!(changed.body["emails"][0]["value"], "jun.new@example.com");
    let sent = smtp.wait_for_messages(2, WAIT).await.len(); // the reset's "password changed" notice
    let grants = mailed(&app, &smtp, "jun.new@example.com", sent).await;
    assert_eq!(grants[0].login_id, "jun02");
    let done = app
        .reset_password(credential::token(&grants[0].token), "Amber-Falcon-36", None)
        .await;
    assert!(done.errors.is_empty(), "[{}] {done}", app.backend);
    app.access_token("jun02", "Amber-Falcon-36").await;
    let before = smtp.wait_for_messages(sent + 2, WAIT).await.len();
    let old = app.issue_reset(by::email("jun@example.com")).await;
    assert!(
        old.accepted,
        "[{}] the same answer for an address with no account",
        app.backend
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        smtp.messages()[before..]
            .iter()
            .all(|m| m.to != ["jun@example.com"]),
        "[{}] the old address got a reset mail",
        app.backend
    );
}

#[backend_test]
async fn a_withdrawn_member_cannot_sign_in_or_reset_and_sessions_end(backend: Backend) {
    let (app, smtp) = spawn_app_with_smtp(&backend, &[("SCIM_TOKENS", TOKENS)]).await;
    let id = app
        .provision(user(
            "gone02",
            "gone@example.com",
            json!({"password": "Blue-Harbor-47"}),
        ))
        .await;
    let session = app.access_token("gone02", "Blue-Harbor-47").await;
    assert!(app.me(&session).await.payload.is_some());
    // A reset link mailed before the withdrawal.
    let link = mailed(&app, &smtp, "gone@example.com", 0).await.remove(0);

    let deleted = app.scim("DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(deleted.status, 204, "[{}] {deleted:?}", app.backend);
    assert_eq!(app.scim("GET", &format!("/Users/{id}"), None).await.status, 404);
    assert_eq!(
        app.scim("DELETE", &format!("/Users/{id}"), None).await.status,
        404
    );
    let listed = app
        .scim("GET", "/Users?filter=userName%20eq%20%22gone02%22", None)
        .await;
    assert_eq!(listed.body["totalResults"], 0, "[{}] {listed:?}", app.backend);

    // The session the member held is over, and no new one starts.
    assert_eq!(app.me(&session).await.top_code(), Some("UNAUTHENTICATED"));
    let signed_in = app.sign_in("gone02", "Blue-Harbor-47").await;
    assert!(signed_in.access_token.is_none(), "[{}] {signed_in}", app.backend);
    assert!(!signed_in.codes().is_empty());
    // The link mailed before no longer works; a new request gets the usual answer and no mail.
    let old_link = app.verify_reset(credential::token(&link.token)).await;
    assert!(!old_link.valid, "[{}] {old_link}", app.backend);
    let reset = app
        .reset_password(credential::token(&link.token), "Green-Valley-58", None)
        .await;
    assert!(
        reset.member.is_none() && !reset.errors.is_empty(),
        "[{}] {reset}",
        app.backend
    );
    let issued = app.issue_reset(by::email("gone@example.com")).await;
    assert!(issued.accepted);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "[{}] a withdrawn member got mail",
        app.backend
    );
    let audit = app
        .sql_strings(&format!(
            "SELECT kind FROM audit_events WHERE member_id = '{id}' ORDER BY id"
        ))
        .await;
    assert!(
        audit.contains(&"MEMBER_PROVISIONED".to_owned()) && audit.contains(&"MEMBER_WITHDRAWN".to_owned()),
        "[{}] {audit:?}",
        app.backend
    );
}

/// A withdrawal whose revocations failed half-way (the token store down after the database write)
/// leaves a session; the host's retry of the DELETE ends it, and still answers 404.
#[backend_test]
async fn a_retried_withdrawal_ends_what_the_first_left(backend: Backend) {
    use account_recovery::domain::{
        grant::GrantOwner,
        member::MemberId,
        session::{AccessToken, NewSession},
        site::SiteId,
    };
    let app = scim_app(&backend).await;
    let id = app
        .provision(user(
            "half01",
            "half@example.com",
            json!({"password": "Blue-Harbor-47"}),
        ))
        .await;
    assert_eq!(
        app.scim("DELETE", &format!("/Users/{id}"), None).await.status,
        204
    );
    // A session the first DELETE did not reach, as if its revocation had failed.
    let token = AccessToken::generate();
    let owner = GrantOwner {
        site: SiteId::parse("main").unwrap(),
        member: MemberId(id.clone()),
    };
    let session = NewSession {
        token: token.hash(),
        ttl: Duration::from_secs(600),
        elevated_until: None,
    };
    app.recovery
        .ports
        .sessions
        .create_session(&owner, &session)
        .await
        .expect("session");
    assert!(
        app.me(token.expose()).await.payload.is_some(),
        "[{}] the left-over session",
        app.backend
    );
    assert_eq!(
        app.scim("DELETE", &format!("/Users/{id}"), None).await.status,
        404
    );
    assert_eq!(
        app.me(token.expose()).await.top_code(),
        Some("UNAUTHENTICATED"),
        "[{}]",
        app.backend
    );
}

#[backend_test]
async fn provisioned_password_hashes_sign_in(backend: Backend) {
    use argon2::password_hash::PasswordHasher as _;
    let app = scim_app(&backend).await;
    let argon = argon2::Argon2::default()
        .hash_password(b"Quiet-Maple-82")
        .expect("argon2 hash")
        .to_string();
    let bcrypt = bcrypt::hash("Amber-Falcon-36", 4).expect("bcrypt hash");
    for (login_id, hash, password) in [
        ("argon01", argon.as_str(), "Quiet-Maple-82"),
        ("bcrypt01", bcrypt.as_str(), "Amber-Falcon-36"),
    ] {
        let body = user(
            login_id,
            &format!("{login_id}@example.com"),
            json!({EXTENSION: {"passwordHash": hash, "memberType": "GENERAL"}}),
        );
        let created = app.scim("POST", "/Users", Some(body)).await;
        assert_eq!(created.status, 201, "[{}] {created:?}", app.backend);
        // Write-only: the hash never comes back.
        assert!(!created.body.to_string().contains(hash));
        app.access_token(login_id, password).await;
        let wrong = app.sign_in(login_id, "Other-Thing-93").await;
        assert!(wrong.access_token.is_none(), "[{}] {wrong}", app.backend);
    }
    // Neither PHC nor bcrypt: refused, naming the attribute, without echoing the value.
    let body = user(
        "plain01",
        "plain@example.com",
        json!({EXTENSION: {"passwordHash": "hunter2-not-a-hash"}}),
    );
    let refused = app.scim("POST", "/Users", Some(body)).await;
    assert_eq!(refused.status, 400, "[{}] {refused:?}", app.backend);
    assert_eq!(refused.body["scimType"], "invalidValue");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{EXTENSION}:passwordHash")),
        "{detail}"
    );
    assert!(!refused.body.to_string().contains("hunter2"));
}

#[backend_test]
async fn tokens_act_on_their_own_site_and_no_tokens_means_no_endpoint(backend: Backend) {
    let app = scim_app(&backend).await;
    let id = app.provision(user("site01", "site@example.com", json!({}))).await;
    for token in [None, Some("main-scim-token-0123456789abcdef012345678X"), Some("")] {
        let refused = app.scim_as(token, "GET", "/Users", None, None).await;
        assert_eq!(refused.status, 401, "[{}] {token:?}", app.backend);
        assert_eq!(
            refused.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }
    // The other site's token sees none of this site's members, and creates its own.
    let other = app
        .scim_as(Some(OTHER_TOKEN), "GET", &format!("/Users/{id}"), None, None)
        .await;
    assert_eq!(other.status, 404);
    let theirs = app
        .scim_as(
            Some(OTHER_TOKEN),
            "POST",
            "/Users",
            Some(user("site01", "o@example.com", json!({}))),
            None,
        )
        .await;
    assert_eq!(
        theirs.status, 201,
        "[{}] the same login ID on another site: {theirs:?}",
        app.backend
    );
    let site = app
        .sql_strings(&format!(
            "SELECT site_id FROM members WHERE id = '{}'",
            theirs.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(site, ["other"]);

    let off = spawn_app_with(&backend, backend_settings(&backend, &[]).await).await;
    let response = off.get("/scim/v2/Users").await;
    assert_eq!(
        response.status(),
        404,
        "[{}] SCIM without SCIM_TOKENS",
        off.backend
    );
    let with_token = off.scim("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(with_token.status, 404);
}

#[backend_test]
async fn refusals_follow_rfc_7644_and_echo_no_secret(backend: Backend) {
    let app = scim_app(&backend).await;
    app.provision(user("taken01", "t@example.com", json!({}))).await;
    let cases = [
        // A 36-character random password breaks the policy (longer than 30): the attribute named.
        (
            user(
                "new01",
                "n@example.com",
                json!({"password": "5b7f3c1e-9d2a-4e8b-a6f0-2c4d8e1b3a7f"}),
            ),
            400,
            Some("invalidValue"),
            "password:",
        ),
        (
            user("TAKEN01", "x@example.com", json!({})),
            409,
            Some("uniqueness"),
            "userName:",
        ),
        (
            user("bad id!", "x@example.com", json!({})),
            400,
            Some("invalidValue"),
            "userName:",
        ),
        (
            user("new02", "not-an-address", json!({})),
            400,
            Some("invalidValue"),
            "emails:",
        ),
        (
            user(
                "new03",
                "n3@example.com",
                json!({EXTENSION: {"memberType": "ROBOT"}}),
            ),
            400,
            Some("invalidValue"),
            "urn:ietf:params:scim:schemas:extension:account-recovery:2.0:User:memberType:",
        ),
        (
            json!({"emails": [{"value": "a@example.com"}]}),
            400,
            Some("invalidValue"),
            "userName:",
        ),
    ];
    for (body, status, scim_type, detail) in cases {
        let answer = app.scim("POST", "/Users", Some(body.clone())).await;
        assert_eq!(answer.status, status, "[{}] {body} → {answer:?}", app.backend);
        assert_eq!(answer.body["scimType"].as_str(), scim_type, "{answer:?}");
        assert_eq!(answer.body["status"], status.to_string());
        let text = answer.body["detail"].as_str().unwrap();
        assert!(text.starts_with(detail), "{text}");
        assert!(
            !answer.body.to_string().contains("5b7f3c1e"),
            "a password echoed: {answer:?}"
        );
    }
    // Malformed and oversized bodies are refused, never a panic.
    let raw = app
        .client
        .post(format!("{}/scim/v2/Users", app.address))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let huge = app
        .client
        .post(format!("{}/scim/v2/Users", app.address))
        .bearer_auth(TOKEN)
        .body(format!("{{\"userName\":\"{}\"}}", "a".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    // No refusal wrote a member, and no audit row holds a secret.
    let rows = app.sql_strings("SELECT kind FROM audit_events").await;
    assert_eq!(rows, ["MEMBER_PROVISIONED"], "[{}]", app.backend);
}
