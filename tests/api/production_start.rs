//! `PRODUCTION=true` means production, for the real binary: no start without SMTP_URL, never
//! demo members, no raw `ci` (IDENTITY_RAW_CI), and a loud warning when it runs without Redis (one
//! instance only).
use std::time::Duration;

use crate::{
    helpers::{Backend, backend_test, fresh_database, redis_url, scratch_dir, unique_name},
    service_process::ServiceProcess,
    smtp_server::SmtpServer,
};

const BINARY: &str = env!("CARGO_BIN_EXE_account-recovery");
const PRODUCTION_KEY: &str = "production-secret-key-0123456789abcdef0123";
const SINGLE_INSTANCE: &str = "CANNOT BE SCALED OUT";

#[tokio::test]
async fn production_refuses_to_start_without_smtp() {
    let database_url = fresh_database(&Backend::Sqlite).await;
    let outbox = scratch_dir().join("outbox");
    let mut child = tokio::process::Command::new(BINARY)
        .arg("serve")
        .env_clear()
        .envs([
            ("PRODUCTION", "true"),
            ("SECRET_KEY", PRODUCTION_KEY),
            ("DATABASE_URL", database_url.as_str()),
            ("OUTBOX_DIR", outbox.to_str().unwrap()),
            ("BIND", "127.0.0.1:0"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the service");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the service kept running without SMTP_URL")
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains("SMTP_URL") && stderr.contains("PRODUCTION=true"),
        "unclear refusal: {stderr}"
    );
    assert!(
        !outbox.exists(),
        "the refused start still set up the outbox folder"
    );
}

#[backend_test]
async fn production_never_adds_demo_members_and_warns_when_it_cannot_scale_out(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let smtp_url = smtp.url();
    let database_url = fresh_database(&backend).await;
    let prefix = unique_name();
    let mut env = vec![
        ("PRODUCTION", "true"),
        ("SECRET_KEY", PRODUCTION_KEY),
        ("DATABASE_URL", database_url.as_str()),
        ("SMTP_URL", smtp_url.as_str()),
        ("METRICS_BIND", "127.0.0.1:0"),
        // Asked for explicitly, on an empty database: still none.
        ("DEMO", "true"),
    ];
    let redis = redis_url().filter(|_| !matches!(backend, Backend::Sqlite));
    if let Some(redis) = &redis {
        env.push(("REDIS_URL", redis));
        env.push(("REDIS_KEY_PREFIX", &prefix));
    }
    let mut service = ServiceProcess::start(BINARY, &["serve"], &env).await;
    let output = service.output_plain();
    assert!(!output.contains("Demo members"), "[{}] {output}", backend.name());
    assert_eq!(
        redis.is_none(),
        output.contains(SINGLE_INSTANCE),
        "[{}] warning shown exactly when Redis is missing: {output}",
        backend.name()
    );
    service.stop(Duration::from_secs(10)).await;

    let listed = std::process::Command::new(BINARY)
        .args(["member", "list"])
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    // Production logs are JSON lines on the same stream; the table is the rest.
    assert_eq!(
        listed.lines().filter(|l| !l.starts_with('{')).count(),
        1,
        "[{}] only the header, no member: {listed}",
        backend.name()
    );
}

/// A raw `ci` from the browser is a permanent master key: production refuses to start with
/// IDENTITY_RAW_CI=true, naming the variable, before it touches the database.
#[tokio::test]
async fn production_refuses_to_start_with_raw_ci() {
    let database_url = fresh_database(&Backend::Sqlite).await;
    let smtp = SmtpServer::start().await;
    let smtp_url = smtp.url();
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(BINARY)
            .arg("serve")
            .env_clear()
            .envs([
                ("PRODUCTION", "true"),
                ("SECRET_KEY", PRODUCTION_KEY),
                ("DATABASE_URL", database_url.as_str()),
                ("SMTP_URL", smtp_url.as_str()),
                ("IDENTITY_RAW_CI", "true"),
                ("BIND", "127.0.0.1:0"),
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the service kept running with IDENTITY_RAW_CI=true")
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("IDENTITY_RAW_CI") && stderr.contains("PRODUCTION=true"),
        "unclear refusal: {stderr}"
    );
}
