//! The database: connection, migrations, SeaORM entities, and the adapters of the member store,
//! the outbox, the audit log, the reset hand-off and the recovery codes.
pub mod audit;
pub mod batched;
pub mod change_reports;
pub mod claims;
pub mod entities;
pub mod held_connection;
pub mod key_usage;
pub mod members;
pub mod outbox;
pub mod recovery_codes;
pub mod reset_requests;
pub mod shapes;
pub mod time;
pub mod timeouts;
pub mod webhooks;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::recovery::ports::StoreError;

/// How long one statement may run on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementLimit {
    /// As long as it takes: migrations, key counts, maintenance commands.
    None,
    /// The store deadline: a call that gives up (DB_TIMEOUT_MS) also ends its statement on the
    /// server (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`), so repeated slow
    /// calls leave no work behind to pile up. SQLite runs in process and has no such limit.
    Deadline(Duration),
}

/// Connects with bounded pool waits so an unreachable database fails fast, every pooled
/// connection limited as `limit` says.
pub async fn connect(
    url: &str,
    max_connections: u32,
    timeout: Duration,
    limit: StatementLimit,
) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        // A ping before every query doubles the round trips of the light queries; a connection
        // that sat idle (through an outage, say) is still checked before it is handed out.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        .sqlx_logging(false);
    if let StatementLimit::Deadline(deadline) = limit {
        let ms = deadline.as_millis().max(1);
        // Sent with the connection's start-up parameters: no extra round trip.
        options.map_sqlx_postgres_opts(move |pg| pg.options([("statement_timeout", ms.to_string())]));
        let seconds = format!("SET SESSION max_statement_time = {:.3}", deadline.as_secs_f64());
        options.map_sqlx_mysql_pool_opts(move |pool| {
            let seconds = seconds.clone();
            pool.after_connect(move |conn, _| {
                let seconds = seconds.clone();
                Box::pin(async move {
                    sea_orm::sqlx::Executor::execute(conn, sea_orm::sqlx::AssertSqlSafe(seconds))
                        .await
                        .map(|_| ())
                })
            })
        });
    }
    let db = Database::connect(options).await.map_err(map_db_err)?;
    if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // Concurrent readers and a writer without "database is locked" errors.
        use sea_orm::ConnectionTrait;
        for pragma in [
            "PRAGMA journal_mode=WAL",
            "PRAGMA busy_timeout=5000",
            "PRAGMA foreign_keys=ON",
        ] {
            db.execute_unprepared(pragma).await.map_err(map_db_err)?;
        }
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    Migrator::up(db, None).await.map_err(map_db_err)
}

/// Sorts database errors into "try later" and "bug": connection problems are Unavailable.
pub(crate) fn map_db_err(e: DbErr) -> StoreError {
    let text = e.to_string();
    match &e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => StoreError::Unavailable(text),
        _ if is_unique_violation(&text) => StoreError::Conflict(text),
        _ if is_connection_problem(&text) => StoreError::Unavailable(text),
        _ => StoreError::Internal(text),
    }
}

fn is_unique_violation(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("unique") || t.contains("duplicate")
}

fn is_connection_problem(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "connection",
        "timed out",
        "pool",
        "broken pipe",
        "io error",
        "database is locked",
        // The server ended a statement at the deadline (StatementLimit::Deadline): PostgreSQL's
        // "canceling statement due to statement timeout", MariaDB's "max_statement_time exceeded".
        "statement timeout",
        "max_statement_time",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}
