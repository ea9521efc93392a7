//! A call that gives up ends its statement too: while another session holds the audit table,
//! repeated `recoveryActivity` calls answer SERVICE_UNAVAILABLE after DB_TIMEOUT_MS, and none of
//! their statements is left waiting in the database (PostgreSQL `statement_timeout`, MariaDB
//! `max_statement_time` on every pooled connection), so a member repeating a slow call cannot
//! pile up work on the database.
use std::time::{Duration, Instant};

use account_recovery::infra::db::{self, StatementLimit};
use sea_orm::{ConnectionTrait, Database, DbBackend, TransactionTrait};

use crate::helpers::{Backend, backend_test, spawn_app, spawn_app_with_smtp};

/// Every statement of the service's pool ends at the deadline on the server, whatever keeps it
/// busy (here a sleep: on MariaDB a lock wait also ends when the abandoned connection closes, so
/// only a statement that works shows the limit there).
#[backend_test(servers)]
async fn every_pooled_statement_ends_at_the_deadline(backend: Backend) {
    let app = spawn_app(&backend).await;
    let deadline = Duration::from_millis(400);
    let pool = db::connect(&app.database_url, 2, deadline, StatementLimit::Deadline(deadline))
        .await
        .expect("pool");
    let sleep = match pool.get_database_backend() {
        DbBackend::Postgres => "SELECT pg_sleep(3)",
        _ => "SELECT SLEEP(3)",
    };
    for _ in 0..2 {
        let started = Instant::now();
        let ended = pool.execute_unprepared(sleep).await;
        let took = started.elapsed();
        let message = format!("{ended:?}").to_ascii_lowercase();
        assert!(
            message.contains("statement timeout") || message.contains("max_statement_time"),
            "[{}] ended by the server's limit: {message}",
            app.backend
        );
        assert!(took < Duration::from_secs(2), "[{}] {took:?}", app.backend);
    }
    pool.close().await.ok();
}

#[backend_test(postgres)]
async fn calls_that_give_up_leave_no_statement_behind(backend: Backend) {
    let (app, _smtp) = spawn_app_with_smtp(&backend, &[("DB_TIMEOUT_MS", "400")]).await;
    let app = app.with_fixture().await;
    let token = app.access_token("alice01", "Blue-Harbor-47").await;

    let locker = Database::connect(app.database_url.as_str())
        .await
        .expect("locker");
    let held = locker.begin().await.expect("transaction");
    let (lock, running) = match locker.get_database_backend() {
        DbBackend::Postgres => (
            "LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE '%audit_events%' AND pid <> pg_backend_pid()",
        ),
        _ => (
            "LOCK TABLES audit_events WRITE",
            "SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE() \
             AND command = 'Query' AND info LIKE '%audit_events%' AND id <> CONNECTION_ID()",
        ),
    };
    held.execute_unprepared(lock).await.expect("lock the audit table");

    for _ in 0..5 {
        let answer = app.recovery_activity(&token, Some(5), None).await;
        assert_eq!(
            answer.top_code(),
            Some("SERVICE_UNAVAILABLE"),
            "[{}] {answer}",
            app.backend
        );
    }
    // Past the deadline, with a margin for the server to act on it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let left = app.sql_strings(running).await;
    held.rollback().await.ok();
    locker.close().await.ok();
    assert_eq!(
        left,
        ["0"],
        "[{}] statements of calls that gave up still running",
        app.backend
    );
}
