//! The hashing cap over HTTP: sign-ins whose clients hang up after 10 ms never run more than
//! `HASH_CONCURRENCY` argon2 hashes at once in the service process (read from its /metrics).
use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::{
        Backend, TEST_SECRET_KEY, backends, fresh_database, http_client, redis_url, scratch_dir, unique_name,
    },
    service_process::ServiceProcess,
};

const BINARY: &str = env!("CARGO_BIN_EXE_account-recovery");

/// The value of an unlabelled gauge in Prometheus text, if present.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Sends one signIn over a raw connection and closes it 10 + 10·n ms later; true when no answer
/// came by then.
async fn sign_in_and_hang_up(port: u16, n: usize) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = json!({
        "query": "mutation($id: String!) { signIn(loginId: $id, password: \"Some-Guess-1\") { errors { code } } }",
        "variables": {"id": format!("ghost{n:02}")},
    })
    .to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut first = [0u8; 1];
    let answered = tokio::time::timeout(Duration::from_millis(10 + 10 * n as u64), stream.read(&mut first))
        .await
        .is_ok();
    drop(stream);
    !answered
}

async fn sign_in(base: &str) -> serde_json::Value {
    http_client()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "mutation { signIn(loginId: \"ghost99\", password: \"Some-Guess-1\") { errors { code } } }"}))
        .send()
        .await
        .expect("signIn")
        .json()
        .await
        .expect("signIn body")
}

async fn metrics(base: &str) -> String {
    http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn clients_that_hang_up_never_lift_the_hashing_cap() {
    for backend in backends() {
        let database_url = fresh_database(&backend).await;
        let outbox = scratch_dir().join("outbox").display().to_string();
        let prefix = unique_name();
        let mut env = vec![
            ("DATABASE_URL", database_url.as_str()),
            ("SECRET_KEY", TEST_SECRET_KEY),
            ("DEMO", "false"),
            ("OUTBOX_DIR", outbox.as_str()),
            ("HASH_CONCURRENCY", "2"),
            ("RATE_LIMITS", crate::helpers::GENEROUS_LIMITS),
            ("NO_COLOR", "1"),
        ];
        let redis = redis_url();
        if let (Some(redis), false) = (&redis, matches!(backend, Backend::Sqlite)) {
            env.push(("REDIS_URL", redis));
            env.push(("REDIS_KEY_PREFIX", &prefix));
        }
        let service = ServiceProcess::start(BINARY, &["serve"], &env).await;
        let base = service.base_url();

        // Warm the connection pools so that requests reach hashing within their 10 ms.
        for _ in 0..3 {
            assert_eq!(
                sign_in(&base).await["data"]["signIn"]["errors"][0]["code"],
                "INVALID_CREDENTIALS"
            );
        }
        let before = gauge(&metrics(&base).await, "password_hash_total").unwrap_or(0.0);

        // Unknown login IDs: each sign-in runs the dummy verification, a full argon2 hash. Each
        // client writes its whole request and closes the connection 10 ms later, plus 10 ms per
        // client before it: on the server databases a debug build needs more than 10 ms to reach
        // hashing at all, and the spread makes clients leave while their hashes run.
        let port = service.port();
        let calls: Vec<_> = (0..40)
            .map(|n| tokio::spawn(sign_in_and_hang_up(port, n)))
            .collect();
        let mut hung_up = 0;
        for call in calls {
            hung_up += usize::from(call.await.unwrap());
        }
        // How many hang up depends on the machine's speed; what matters is asserted below: some
        // hashes outlived their clients, and still no more than two ran at once.

        // Hashes already started finish after their clients left; wait for the pool to go idle.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let text = loop {
            let text = metrics(&base).await;
            let idle = gauge(&text, "password_hash_in_flight") == Some(0.0);
            if idle || tokio::time::Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            gauge(&text, "password_hash_in_flight"),
            Some(0.0),
            "[{}] pool never went idle:\n{text}",
            backend.name()
        );
        let run = gauge(&text, "password_hash_total").unwrap_or(0.0) - before;
        let orphaned = gauge(&text, "password_hash_orphaned_total").unwrap_or(0.0);
        eprintln!(
            "[{}] {hung_up} of 40 clients hung up; hashes run: {run}, of which outlived their client: \
             {orphaned}, abandoned before starting: {:?}, most at once: {:?}",
            backend.name(),
            gauge(&text, "password_hash_abandoned_total"),
            gauge(&text, "password_hash_in_flight_max"),
        );
        // The case the cap must survive happened: hashes kept running after their client left.
        assert!(
            orphaned >= 1.0,
            "[{}] no hash outlived its client:\n{text}",
            backend.name()
        );
        assert!(
            gauge(&text, "password_hash_in_flight_max").is_some_and(|max| max <= 2.0),
            "[{}] more than two hashes ran at once:\n{text}",
            backend.name()
        );
        // The service still answers a sign-in normally afterwards.
        let body = sign_in(&base).await;
        assert_eq!(
            body["data"]["signIn"]["errors"][0]["code"],
            "INVALID_CREDENTIALS",
            "[{}] {body}",
            backend.name()
        );
        drop(service);
    }
}
