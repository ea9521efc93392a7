//! The hashing cap over HTTP: sign-ins whose clients hang up while their hashes run never make
//! the service process run more than `HASH_CONCURRENCY` argon2 hashes at once (read from its
//! /metrics), while the clients that stay are still answered.
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::{
    helpers::{
        Backend, TEST_SECRET_KEY, backend_test, fresh_database, http_client, redis_url, scratch_dir,
        unique_name,
    },
    service_process::ServiceProcess,
};

const BINARY: &str = env!("CARGO_BIN_EXE_account-recovery");

/// The value of an unlabelled gauge or counter in Prometheus text (named without the
/// `account_recovery_` prefix), if present.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let family = line.strip_prefix("account_recovery_")?.strip_prefix(name)?;
        family.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// Sends one signIn over a raw connection and closes it 10 ms after `leave` fires; true when no
/// answer had come by then.
async fn sign_in_and_hang_up(port: u16, n: usize, mut leave: watch::Receiver<bool>) -> bool {
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
    let hang_up = async {
        let _ = leave.wait_for(|go| *go).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let answered = tokio::select! {
        _ = stream.read(&mut first) => true,
        () = hang_up => false,
    };
    drop(stream);
    !answered
}

async fn sign_in(base: String, id: String) -> serde_json::Value {
    http_client()
        .post(format!("{base}/graphql"))
        .json(&json!({
            "query": "mutation($id: String!) { signIn(loginId: $id, password: \"Some-Guess-1\") { errors { code } } }",
            "variables": {"id": id},
        }))
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

#[backend_test]
async fn clients_that_hang_up_never_lift_the_hashing_cap(backend: Backend) {
    let database_url = fresh_database(&backend).await;
    let outbox = scratch_dir().join("outbox").display().to_string();
    let prefix = unique_name();
    let mut env = vec![
        ("DATABASE_URL", database_url.as_str()),
        ("SECRET_KEY", TEST_SECRET_KEY),
        ("DEMO", "false"),
        ("OUTBOX_DIR", outbox.as_str()),
        ("HASH_CONCURRENCY", "2"),
        // Hashes ten times the default's work (about 0.1-0.2 s each here), so the hanging
        // clients' burst lasts far longer than one /metrics poll and the hashes seen running
        // are still running 10 ms later, when their clients leave.
        ("ARGON2_ITERATIONS", "20"),
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

    // Warm the connection pools.
    for n in 0..3 {
        assert_eq!(
            sign_in(base.clone(), format!("warm{n}")).await["data"]["signIn"]["errors"][0]["code"],
            "INVALID_CREDENTIALS"
        );
    }
    let before = gauge(&metrics(&base).await, "password_hash_total").unwrap_or(0.0);

    // Unknown login IDs: each sign-in runs the dummy verification, a full argon2 hash. Thirty
    // clients hang up 10 ms after both hashing threads are seen busy with their hashes (nothing
    // else asks for one until then, so the running hashes are theirs and are running when they
    // leave). Ten more clients, sent once the pool is busy, wait for their answers behind them
    // and must not start hashing beside the orphans.
    let port = service.port();
    let (leave, left) = watch::channel(false);
    let hanging: Vec<_> = (0..40)
        .filter(|n| n % 4 != 0)
        .map(|n| tokio::spawn(sign_in_and_hang_up(port, n, left.clone())))
        .collect();
    let busy_by = tokio::time::Instant::now() + Duration::from_secs(30);
    while gauge(&metrics(&base).await, "password_hash_in_flight") != Some(2.0)
        && tokio::time::Instant::now() < busy_by
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let staying: Vec<_> = (0..40)
        .filter(|n| n % 4 == 0)
        .map(|n| tokio::spawn(sign_in(base.clone(), format!("ghost{n:02}"))))
        .collect();
    leave.send(true).unwrap();
    let mut hung_up = 0;
    for call in hanging {
        hung_up += usize::from(call.await.unwrap());
    }
    for call in staying {
        let body = call.await.unwrap();
        assert_eq!(
            body["data"]["signIn"]["errors"][0]["code"],
            "INVALID_CREDENTIALS",
            "[{}] a client that stayed got: {body}",
            backend.name()
        );
    }

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
    let body = sign_in(base.clone(), "ghost99".into()).await;
    assert_eq!(
        body["data"]["signIn"]["errors"][0]["code"],
        "INVALID_CREDENTIALS",
        "[{}] {body}",
        backend.name()
    );
    drop(service);
}
