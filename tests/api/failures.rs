//! Backends failing under a running service: a TCP proxy of the test's own sits between the
//! service and Redis or the database and is cut, so the shared servers other tests use stay up.
use std::{
    future::Future,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    helpers::{
        Backend, TestApp, backend_test, fresh_database, redis_url, spawn_app_with, test_settings, unique_name,
    },
    operations::{Answer, by, credential},
    tcp_proxy::TcpProxy,
};

/// The answer must come within this, whatever the backend does.
const FAST: Duration = Duration::from_secs(2);

fn host_port(url: &str) -> String {
    let u = url::Url::parse(url).expect("url");
    format!(
        "{}:{}",
        u.host_str().expect("host"),
        u.port_or_known_default().expect("port")
    )
}

fn through(url: &str, proxy: &TcpProxy) -> String {
    let mut u = url::Url::parse(url).expect("url");
    u.set_host(Some("127.0.0.1")).unwrap();
    u.set_port(Some(proxy.port())).unwrap();
    u.to_string()
}

/// How long `answer` took, and its body.
async fn timed<P>(answer: impl Future<Output = Answer<P>>) -> (Duration, Value) {
    let started = Instant::now();
    let body = answer.await.body;
    (started.elapsed(), body)
}

async fn ready_status(app: &TestApp) -> (Duration, u16) {
    let started = Instant::now();
    let status = app.get("/readyz").await.status().as_u16();
    (started.elapsed(), status)
}

/// Polls until the service answers `ask` without errors again.
async fn recovers<P, A: Future<Output = Answer<P>>>(app: &TestApp, ask: impl Fn() -> A) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = ask().await;
        if answer.body["errors"].is_null() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] did not recover: {answer}",
            app.backend
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

/// The operations these tests send: a direct reset (database and token store), a code check
/// (attempt counters) and a rate-limited lookup.
fn issue(app: &TestApp) -> impl Future<Output = Answer<crate::operations::Issued>> + '_ {
    app.issue_reset(by::identity("alice01", "CI-ALICE"))
}

fn wrong_code(app: &TestApp) -> impl Future<Output = Answer<crate::operations::Verified>> + '_ {
    app.verify_reset(credential::code_by_login_id("alice01", "123456"))
}

fn check(app: &TestApp) -> impl Future<Output = Answer<crate::operations::LoginIdCheck>> + '_ {
    app.check_login_id(None, "alice01")
}

#[tokio::test]
async fn redis_cut_means_service_unavailable_fast_never_zero_attempts_and_it_comes_back() {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is unset: the Redis outage is not exercised");
        return;
    };
    for hang in [true, false] {
        let proxy = TcpProxy::start(&host_port(&redis)).await;
        let backend = Backend::Sqlite;
        let url = fresh_database(&backend).await;
        let prefix = unique_name();
        let redis_via_proxy = through(&redis, &proxy);
        let settings = test_settings(
            &url,
            &[("REDIS_URL", &redis_via_proxy), ("REDIS_KEY_PREFIX", &prefix)],
        );
        let app = spawn_app_with(&backend, settings).await.with_fixture().await;
        assert!(issue(&app).await.token.is_some());

        if hang {
            proxy.cut()
        } else {
            proxy.cut_refusing()
        }
        for (took, body) in [timed(issue(&app)).await, timed(wrong_code(&app)).await] {
            assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "hang={hang}: {body}");
            eprintln!("redis cut (hang={hang}): SERVICE_UNAVAILABLE after {took:?}");
            assert!(
                body["data"].is_null(),
                "no partial answer, and never 'zero attempts': {body}"
            );
            assert!(took < FAST, "hang={hang}: took {took:?}");
        }
        let (took, status) = ready_status(&app).await;
        assert_eq!(status, 503);
        assert!(took < FAST, "readyz took {took:?}");
        // Rate limits cannot be counted either, so limited operations fail closed...
        assert_eq!(check(&app).await.top_code(), Some("SERVICE_UNAVAILABLE"));
        // ...while what needs only the database still works.
        let policy = app.password_policy(None).await;
        assert_eq!(policy.min_length, 8, "{policy}");

        proxy.restore();
        recovers(&app, || issue(&app)).await;
        assert_eq!(ready_status(&app).await.1, 200);
    }
}

#[backend_test(servers)]
async fn database_cut_means_service_unavailable_fast_and_it_comes_back(backend: Backend) {
    let url = fresh_database(&backend).await;
    let proxy = TcpProxy::start(&host_port(&url)).await;
    let settings = test_settings(&through(&url, &proxy), &[]);
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    let checked = check(&app).await;
    assert!(checked.body["errors"].is_null(), "{checked}");

    proxy.cut();
    for (took, body) in [timed(check(&app)).await, timed(issue(&app)).await] {
        assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "[{}] {body}", app.backend);
        eprintln!(
            "[{}] database cut: SERVICE_UNAVAILABLE after {took:?}",
            app.backend
        );
        assert!(took < FAST, "[{}] took {took:?}", app.backend);
    }
    let (took, status) = ready_status(&app).await;
    assert_eq!(status, 503, "[{}]", app.backend);
    assert!(took < FAST, "[{}] readyz took {took:?}", app.backend);

    proxy.restore();
    recovers(&app, || check(&app)).await;
    assert_eq!(ready_status(&app).await.1, 200);
}
