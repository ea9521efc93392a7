//! The batch workers' kept connection (`infra::db::held_connection`): it stays out of the pool
//! between reads until released, and a read survives the server closing it; one whose statement
//! failed goes back to the pool.
use std::time::Duration;

use account_recovery::infra::db::{self, StatementLimit, held_connection::HeldConnection};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::helpers::{Backend, backend_test, spawn_app};

/// The server's id of the connection a read ran on.
async fn connection_id(conn: &impl ConnectionTrait) -> Result<i64, String> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT CAST(pg_backend_pid() AS BIGINT) AS id",
        _ => "SELECT CAST(CONNECTION_ID() AS SIGNED) AS id",
    };
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no row")?;
    row.try_get::<i64>("", "id").map_err(|e| e.to_string())
}

async fn close_from_outside(admin: &DatabaseConnection, id: i64) {
    let backend = admin.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!("SELECT pg_terminate_backend({id})"),
        _ => format!("KILL {id}"),
    };
    admin
        .execute_unprepared(&sql)
        .await
        .expect("close the connection");
}

#[backend_test(servers)]
async fn a_kept_connection_leaves_the_pool_until_released_and_survives_being_closed(backend: Backend) {
    let app = spawn_app(&backend).await;
    // A pool of one: while the connection is kept, the pool has none to give.
    let pool = db::connect(
        &app.database_url,
        1,
        Duration::from_millis(300),
        StatementLimit::Deadline(Duration::from_secs(5)),
    )
    .await
    .expect("pool");
    let held = HeldConnection::new(pool.clone());
    let tag = &app.backend;

    let kept = connection_id(&held).await.expect("a read on the kept connection");
    let busy = connection_id(&pool).await;
    assert!(
        busy.is_err(),
        "[{tag}] the pool's only connection is kept: {busy:?}"
    );
    assert_eq!(
        connection_id(&held).await,
        Ok(kept),
        "[{tag}] the same connection, kept"
    );

    held.release().await;
    assert_eq!(
        connection_id(&pool).await,
        Ok(kept),
        "[{tag}] back in the pool once released"
    );

    // Closed by the server while kept: the next read runs on a new connection.
    let kept = connection_id(&held).await.expect("kept again");
    let admin = Database::connect(app.database_url.as_str()).await.expect("admin");
    close_from_outside(&admin, kept).await;
    let renewed = connection_id(&held).await;
    assert!(
        matches!(renewed, Ok(id) if id != kept),
        "[{tag}] a read after the server closed {kept}: {renewed:?}"
    );

    // A statement that fails (twice: on the kept connection, then on one from the pool) is an
    // error, and its connection goes back to the pool.
    let backend = held.get_database_backend();
    let failed = held
        .query_all_raw(Statement::from_string(backend, "SELECT * FROM no_such_table"))
        .await;
    assert!(failed.is_err(), "[{tag}] {failed:?}");
    assert!(
        connection_id(&pool).await.is_ok(),
        "[{tag}] not kept after a failed statement"
    );
    admin.close().await.ok();
    pool.close().await.ok();
}
