//! Slow clients: a connection that never finishes its headers is closed at the header-read
//! deadline, stalled connections do not slow anyone else, and over the connection cap newcomers
//! wait for a slot instead of being refused.
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{Backend, TestApp, backend_settings, backend_test, spawn_app_with};

const CHECK: &str = "query($id: String!) { checkLoginId(loginId: $id) { exists } }";

/// A connection that sends the start of a request and then nothing.
async fn stalled(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: appl")
        .await
        .expect("write");
    stream
}

/// Waits until the server closes `stream` (end of file or reset), up to `limit`; the time it took.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                // hyper may answer 408 before closing.
                Ok(_) => continue,
            }
        }
    })
    .await
    .ok()
}

/// One ordinary request; its latency.
async fn timed_check(app: &TestApp) -> Duration {
    let start = Instant::now();
    let body = app.graphql(CHECK, json!({"id": "alice01"})).await;
    let took = start.elapsed();
    assert_eq!(
        body["data"]["checkLoginId"]["exists"], true,
        "[{}] {body}",
        app.backend
    );
    took
}

#[backend_test]
async fn stalled_headers_are_cut_off_and_do_not_slow_a_normal_request(backend: Backend) {
    let settings = backend_settings(&backend, &[("HEADER_READ_TIMEOUT_MS", "2000")]).await;
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    let idle = timed_check(&app).await;

    let opened = Instant::now();
    let mut stalls = Vec::new();
    for _ in 0..200 {
        stalls.push(stalled(&app).await);
    }
    let loaded = timed_check(&app).await;
    assert!(
        opened.elapsed() < Duration::from_millis(1500),
        "[{}] the normal request was not made while all 200 were still stalled",
        app.backend
    );
    eprintln!(
        "[{}] checkLoginId latency: {idle:?} idle, {loaded:?} beside 200 stalled connections",
        app.backend
    );
    assert!(loaded < Duration::from_secs(1), "[{}] {loaded:?}", app.backend);

    // Every stalled connection is closed at the 2 s deadline (counted from its opening).
    let closes = futures::future::join_all(
        stalls
            .into_iter()
            .map(|s| closed_within(s, Duration::from_secs(10))),
    )
    .await;
    let after = opened.elapsed();
    assert!(
        closes.iter().all(Option::is_some),
        "[{}] {} of 200 stalled connections still open after 10 s",
        app.backend,
        closes.iter().filter(|c| c.is_none()).count()
    );
    assert!(
        after >= Duration::from_millis(1900) && after < Duration::from_secs(8),
        "[{}] closed after {after:?}, not at the 2 s deadline",
        app.backend
    );
    // The service is none the worse for it. A new connection: the client's kept-alive one
    // has idled past the deadline too, and the server may be closing it just as it is reused.
    let mut fresh = app;
    fresh.api.client = crate::helpers::http_client();
    timed_check(&fresh).await;
}

#[tokio::test]
async fn over_the_connection_cap_a_newcomer_waits_for_a_slot() {
    let backend = &Backend::Sqlite;
    let settings = backend_settings(
        backend,
        &[("HEADER_READ_TIMEOUT_MS", "1500"), ("MAX_CONNECTIONS", "3")],
    )
    .await;
    let app = spawn_app_with(backend, settings).await.with_fixture().await;
    let mut stalls = Vec::new();
    for _ in 0..3 {
        stalls.push(stalled(&app).await);
    }
    let start = Instant::now();
    let fresh = crate::helpers::http_client();
    let response = fresh
        .post(format!("{}/graphql", app.address))
        .header("connection", "close")
        .json(&json!({"query": CHECK, "variables": {"id": "alice01"}}))
        .send()
        .await
        .expect("the newcomer is served, not refused");
    let waited = start.elapsed();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["checkLoginId"]["exists"], true, "{body}");
    // Served once the stalled connections hit their deadline, not before.
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(8),
        "newcomer waited {waited:?}"
    );
    drop(stalls);
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_stops_accepting() {
    let backend = &Backend::Sqlite;
    // The reply floor holds this request in flight for half a second.
    let settings = backend_settings(backend, &[("EMAIL_REPLY_FLOOR_MS", "500")]).await;
    let app = account_recovery::app::Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = crate::helpers::http_client();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let address = address.clone();
        async move {
            client
                .post(format!("{address}/graphql"))
                .json(&json!({"query": r#"mutation { issueResetToken(by: {email: "nobody@example.com"}) { accepted } }"#}))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    let response = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["issueResetToken"]["accepted"], true, "{body}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops once the request is answered")
        .unwrap()
        .unwrap();
    let port = address.rsplit(':').next().unwrap();
    assert!(
        TcpStream::connect(format!("127.0.0.1:{port}")).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_at_the_same_deadline() {
    let backend = &Backend::Sqlite;
    let settings = backend_settings(backend, &[("HEADER_READ_TIMEOUT_MS", "1000")]).await;
    let app = spawn_app_with(backend, settings).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&answer).ends_with("ok") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    // Kept alive after the answer, then cut off once no next request comes within the deadline.
    let took = closed_within(stream, Duration::from_secs(10)).await;
    assert!(
        took.is_some_and(|t| t >= Duration::from_millis(800)),
        "idle connection: {took:?}"
    );
}
