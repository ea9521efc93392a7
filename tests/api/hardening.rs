//! Holding under abuse: rate limits (per client, per target, aliases counted one by one, unknown
//! identifiers alike), client addresses behind trusted proxies, GraphQL shape limits, production
//! switches, CORS, and /metrics.
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_settings, backend_test, spawn_app_with};

async fn app_with(backend: &Backend, extra: &[(&str, &str)]) -> TestApp {
    let app = spawn_app_with(backend, backend_settings(backend, extra).await).await;
    app.with_fixture().await
}

async fn post(app: &TestApp, query: &str, variables: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({"query": query, "variables": variables}));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

const CHECK: &str = "query($id: String!) { checkLoginId(loginId: $id) { exists } }";

/// A checkLoginId of alice01 with `X-Forwarded-For: ip`; the response body.
async fn check_from(app: &TestApp, ip: &str) -> Value {
    post(app, CHECK, json!({"id": "alice01"}), &[("x-forwarded-for", ip)])
        .await
        .1
}
const FIND: &str = "query($e: String!) { findId(by: {email: $e}) { accounts { maskedLoginId } } }";

#[backend_test]
async fn per_client_limits_count_every_resolver_call_including_aliases(backend: Backend) {
    let app = app_with(&backend, &[("RATE_LIMITS", "checkLoginId.client=3/600")]).await;
    // Three aliases in one request use up the quota one by one...
    let three = r#"{ a: checkLoginId(loginId: "alice01") { exists } b: checkLoginId(loginId: "x1234") { exists }
                    c: checkLoginId(loginId: "y1234") { exists } }"#;
    let (_, body) = post(&app, three, json!({}), &[]).await;
    assert!(body["errors"].is_null(), "[{}] {body}", app.backend);
    // ...so a fourth call, in a new request, is refused.
    let (status, body) = post(&app, CHECK, json!({"id": "alice01"}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "RATE_LIMITED", "[{}] {body}", app.backend);
    let retry = body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((590..=600).contains(&retry), "{retry}");
    assert!(body["data"].is_null());
}

#[backend_test]
async fn per_target_limits_apply_alike_to_known_and_unknown_identifiers(backend: Backend) {
    let limits = "findId.id=2/600";
    let app = app_with(
        &backend,
        &[("RATE_LIMITS", limits), ("TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let mut answers = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            let (_, body) = post(&app, FIND, json!({"e": email}), &from(ip)).await;
            answers.push(code(&body).to_owned());
        }
    }
    // Two calls about each address pass, from any client; the third is refused either way.
    assert_eq!(
        answers,
        ["", "", "RATE_LIMITED", "", "", "RATE_LIMITED"],
        "[{}]",
        app.backend
    );
}

#[tokio::test]
async fn client_addresses_come_from_forwarded_for_only_behind_trusted_proxies() {
    let backend = &Backend::Sqlite;
    let limits = ("RATE_LIMITS", "checkLoginId.client=2/600");
    // Trusted: each forwarded client has its own quota.
    let trusted = app_with(backend, &[limits, ("TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        for _ in 0..2 {
            let body = check_from(&trusted, ip).await;
            assert_eq!(code(&body), "", "{ip}: {body}");
        }
    }
    // Not trusted: the header is ignored, every call is the peer's.
    let untrusted = app_with(backend, &[limits]).await;
    let mut codes = Vec::new();
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        codes.push(code(&check_from(&untrusted, ip).await).to_owned());
    }
    assert_eq!(codes, ["", "", "RATE_LIMITED"]);
    // The audit sees the forwarded address when trusted.
    post(
        &trusted,
        "mutation { issueResetToken(by: {email: \"alice@example.com\"}) { accepted } }",
        json!({}),
        &[("x-forwarded-for", "203.0.113.7, 127.0.0.1")],
    )
    .await;
    trusted.wait_until_resolved().await;
    let addrs = trusted.sql_strings("SELECT client_addr FROM audit_events").await;
    assert!(addrs.iter().any(|a| a == "203.0.113.7"), "{addrs:?}");
}

#[backend_test]
async fn secret_guessing_operations_fit_one_per_request_and_a_refused_request_counts_nothing(
    backend: Backend,
) {
    let app = app_with(&backend, &[]).await;
    let (_, issued) = post(
        &app,
        "mutation { issueResetToken(by: {identity: {loginId: \"alice01\", ci: \"CI-ALICE\"}}) { token } }",
        json!({}),
        &[],
    )
    .await;
    let token = issued["data"]["issueResetToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let two = r#"mutation { a: verifyResetToken(credential: {code: {loginId: "alice01", code: "000000"}}) { valid }
                           b: verifyResetToken(credential: {code: {loginId: "alice01", code: "111111"}}) { valid } }"#;
    let (status, body) = post(&app, two, json!({}), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "[{}] {body}", app.backend);
    let one = "mutation($t: String!) { verifyResetToken(credential: {token: $t}) { valid } }";
    let (_, body) = post(&app, one, json!({"t": token}), &[]).await;
    assert_eq!(
        body["data"]["verifyResetToken"]["valid"], true,
        "[{}] {body}",
        app.backend
    );
    let sign_ins = r#"mutation { a: signIn(loginId: "alice01", password: "x") { accessToken } b: signIn(loginId: "alice01", password: "y") { accessToken } }"#;
    assert_eq!(
        code(&post(&app, sign_ins, json!({}), &[]).await.1),
        "QUERY_TOO_COMPLEX"
    );
}

#[tokio::test]
async fn shape_limits_aliases_depth_and_get_mutations() {
    let app = app_with(&Backend::Sqlite, &[]).await;
    let eleven: String = (0..11)
        .map(|i| format!("p{i}: passwordPolicy {{ minLength }} "))
        .collect();
    let (status, body) = post(&app, &format!("{{ {eleven} }}"), json!({}), &[]).await;
    assert_eq!((status, code(&body)), (200, "QUERY_TOO_COMPLEX"), "{body}");
    let ten: String = (0..10)
        .map(|i| format!("p{i}: passwordPolicy {{ minLength }} "))
        .collect();
    assert!(post(&app, &format!("{{ {ten} }}"), json!({}), &[]).await.1["errors"].is_null());
    // The API's own types are shallow; an API field beside deep introspection keeps every limit
    // (introspection alone is exempt, see http_edge).
    let deep = format!(
        "{{ passwordPolicy {{ minLength }} __schema {{ types {{ {}name{} }} }} }}",
        "fields { type { ofType { ".repeat(6),
        " } } }".repeat(6)
    );
    let (_, body) = post(&app, &deep, json!({}), &[]).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let url = url::Url::parse_with_params(
        &format!("{}/graphql", app.address),
        [("query", "mutation { signOut }")],
    )
    .unwrap();
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn production_turns_off_introspection_suggestions_and_graphiql() {
    let backend = &Backend::Sqlite;
    let key = ("SECRET_KEY", "production-secret-key-0123456789abcdef0123");
    // A production start needs a mail server.
    let smtp = crate::smtp_server::SmtpServer::start().await;
    let smtp_url = smtp.url();
    let app = app_with(
        backend,
        &[
            ("PRODUCTION", "true"),
            key,
            ("SMTP_URL", &smtp_url),
            ("METRICS_BIND", "127.0.0.1:0"),
        ],
    )
    .await;
    let (_, body) = post(&app, "{ __schema { types { name } } }", json!({}), &[]).await;
    assert!(
        body["data"]["__schema"]["types"].is_null(),
        "introspection answered: {body}"
    );
    let (_, body) = post(&app, "{ passwordPolicyy { minLength } }", json!({}), &[]).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    assert_eq!(app.get("/graphql").await.status(), 405);
    // Development keeps all three.
    let dev = app_with(backend, &[]).await;
    let (_, body) = post(&dev, "{ __schema { types { name } } }", json!({}), &[]).await;
    assert!(body["data"]["__schema"]["types"].is_array(), "{body}");
    let (_, body) = post(&dev, "{ passwordPolicyy { minLength } }", json!({}), &[]).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{body}"
    );
}

#[tokio::test]
async fn cors_allows_only_listed_origins_with_authorization_never_credentials() {
    let app = app_with(
        &Backend::Sqlite,
        &[("CORS_ORIGINS", "https://app.example, https://admin.example")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert!(h.get("access-control-allow-credentials").is_none(), "{h:?}");
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase()
            .contains("authorization")
    );
    assert_eq!(h["access-control-max-age"], "600");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn metrics_count_operations_mail_limits_and_hashing() {
    let backend = &Backend::Sqlite;
    let (app, smtp) =
        crate::helpers::spawn_app_with_smtp(backend, &[("RATE_LIMITS", "checkLoginId.client=1/600")]).await;
    let app = app.with_fixture().await;
    post(&app, CHECK, json!({"id": "alice01"}), &[]).await;
    post(&app, CHECK, json!({"id": "alice01"}), &[]).await;
    post(
        &app,
        "mutation { issueResetToken(by: {email: \"alice@example.com\"}) { accepted } }",
        json!({}),
        &[],
    )
    .await;
    smtp.wait_for_messages(1, std::time::Duration::from_secs(10))
        .await;
    post(
        &app,
        "mutation { signIn(loginId: \"alice01\", password: \"Blue-Harbor-47\") { accessToken } }",
        json!({}),
        &[],
    )
    .await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for needle in [
        "graphql_operations_total{operation=\"checkLoginId\"",
        "graphql_operation_duration_seconds",
        "mail_queued_total",
        "mail_sent_total",
        "rate_limited_total{operation=\"checkLoginId\",scope=\"client\"}",
        "password_hash_waiting",
        "password_hash_total",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
}

#[tokio::test]
async fn metrics_are_only_for_allowed_peers() {
    let app = app_with(&Backend::Sqlite, &[("METRICS_ALLOW", "10.0.0.0/8")]).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 404, "loopback is not in METRICS_ALLOW here");
}
