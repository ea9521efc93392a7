//! Audit retention over a running instance, on every backend: rows older than
//! AUDIT_RETENTION_DAYS are deleted in batches within a few rounds, recent ones stay.
use std::time::Duration;

use crate::helpers::{Backend, backend_test, spawn_app_with_smtp};

#[backend_test]
async fn rows_past_the_retention_are_deleted_and_recent_ones_kept(backend: Backend) {
    let (app, _smtp) = spawn_app_with_smtp(
        &backend,
        &[("AUDIT_RETENTION_DAYS", "30"), ("AUDIT_PRUNE_INTERVAL_SECS", "1")],
    )
    .await;
    let at = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let (old, recent) = (at(40), at(3));
    // 2,500 rows 40 days old (three batches of 1,000), then 3 of 3 days ago.
    for chunk in 0..25 {
        let values: Vec<String> = (0..100)
            .map(|i| format!("('main', 'FAILED_ATTEMPT', 'invalid_code', '{old}', 'old-{chunk}-{i}')"))
            .collect();
        app.sql_strings(&format!(
            "INSERT INTO audit_events (site_id, kind, outcome, occurred_at, identifier_key) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
    app.sql_strings(&format!(
        "INSERT INTO audit_events (site_id, kind, outcome, occurred_at, identifier_key) VALUES \
         ('main', 'SIGNED_IN', 'ok', '{recent}', 'recent-1'), ('main', 'SIGNED_IN', 'ok', '{recent}', 'recent-2'), \
         ('main', 'SIGNED_IN', 'ok', '{recent}', 'recent-3')"
    ))
    .await;
    let count = |prefix: &'static str| {
        let app = &app;
        async move {
            app.sql_strings(&format!(
                "SELECT count(*) FROM audit_events WHERE identifier_key LIKE '{prefix}%'"
            ))
            .await
        }
    };
    let mut left = Vec::new();
    for _ in 0..100 {
        left = count("old-").await;
        if left == ["0"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, ["0"], "[{}] the old rows went", app.backend);
    assert_eq!(
        count("recent-").await,
        ["3"],
        "[{}] the recent rows stay",
        app.backend
    );
}
