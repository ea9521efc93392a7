//! One pooled connection that a batch worker keeps from one statement to the next while work is
//! waiting, instead of taking it from the pool and giving it back for each.
//!
//! Giving a connection back costs a round trip: sqlx pings every connection it takes back (to
//! flush whatever a cancelled statement left), and on the light queries that was one round trip
//! more per batch, and about 6 % of the service's CPU. A connection kept here is released to the
//! pool (with that ping) when its worker finds nothing waiting, so an idle service holds none of
//! the pool's connections. A statement that is cancelled (its deadline passed) takes its
//! connection with it: it goes back through the pool's own check, never back to the worker.
//! SQLite runs in process and keeps using the pool.
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
    Values,
    sqlx::{self, MySql, Postgres, pool::PoolConnection},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

enum Kept {
    Postgres(PoolConnection<Postgres>),
    MySql(PoolConnection<MySql>),
}

/// A [`ConnectionTrait`] for reads that keeps its connection between them (see the module).
pub struct HeldConnection {
    db: DatabaseConnection,
    kept: Mutex<Option<Kept>>,
}

impl HeldConnection {
    pub fn new(db: DatabaseConnection) -> Self {
        HeldConnection {
            db,
            kept: Mutex::new(None),
        }
    }

    /// Gives the kept connection back to the pool (nothing is waiting for it).
    pub async fn release(&self) {
        self.kept.lock().await.take();
    }

    /// `stmt`'s rows, on the kept connection or one from the pool. A connection whose statement
    /// failed is not kept: it goes back through the pool's check. When it was a kept one (which
    /// the server may have closed meanwhile: PostgreSQL then answers with an error too), the
    /// read runs once more on a connection from the pool. Only reads come here, so once more is
    /// harmless, and the caller's deadline bounds both.
    async fn rows(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut kept = self.kept.lock().await;
        let mut reused = true;
        loop {
            let conn = match kept.take() {
                Some(conn) => conn,
                None => {
                    reused = false;
                    self.acquire().await?
                }
            };
            let values = SqlxValues(stmt.values.clone().unwrap_or(Values(Vec::new())));
            let query = sqlx::AssertSqlSafe(stmt.sql.as_str());
            let (conn, result) = match conn {
                Kept::Postgres(mut conn) => {
                    let rows = sqlx::query_with(query, values).fetch_all(&mut *conn).await;
                    let rows = rows.map(|rows| rows.into_iter().map(QueryResult::from).collect());
                    (Kept::Postgres(conn), rows)
                }
                Kept::MySql(mut conn) => {
                    let rows = sqlx::query_with(query, values).fetch_all(&mut *conn).await;
                    let rows = rows.map(|rows| rows.into_iter().map(QueryResult::from).collect());
                    (Kept::MySql(conn), rows)
                }
            };
            match result {
                Ok(rows) => {
                    *kept = Some(conn);
                    return Ok(rows);
                }
                Err(_) if reused => continue,
                Err(e @ sqlx::Error::Database(_)) => {
                    return Err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))));
                }
                Err(e) => return Err(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)))),
            }
        }
    }

    async fn acquire(&self) -> Result<Kept, DbErr> {
        let failed = |e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)));
        Ok(match self.db.get_database_backend() {
            DbBackend::Postgres => Kept::Postgres(
                self.db
                    .get_postgres_connection_pool()
                    .acquire()
                    .await
                    .map_err(failed)?,
            ),
            _ => Kept::MySql(
                self.db
                    .get_mysql_connection_pool()
                    .acquire()
                    .await
                    .map_err(failed)?,
            ),
        })
    }

    fn keeps(&self) -> bool {
        matches!(
            self.db.get_database_backend(),
            DbBackend::Postgres | DbBackend::MySql
        )
    }
}

/// Reads go through the kept connection; anything else through the pool as usual.
#[async_trait]
impl ConnectionTrait for HeldConnection {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if !self.keeps() {
            return self.db.query_one_raw(stmt).await;
        }
        Ok(self.rows(stmt).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if !self.keeps() {
            return self.db.query_all_raw(stmt).await;
        }
        self.rows(stmt).await
    }
}
