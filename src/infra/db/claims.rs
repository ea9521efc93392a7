//! Claiming rows for one worker among many (the outbox's due mail, the reset hand-off when there
//! is no Redis): a claim marks its rows (a lease, one more attempt) so that no other claimer takes
//! them until the lease runs out.
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait, Select, TransactionTrait, UpdateMany,
    sea_query::{LockBehavior, LockType},
};

use super::{map_db_err, shapes};
use crate::recovery::ports::StoreError;

/// The rows a claim took.
pub struct Claimed<M> {
    pub rows: Vec<M>,
    /// `true` when the rows were read back from the marking statement, so they show its marks;
    /// `false` when they were read before it (MariaDB), so the caller adds the marks itself.
    pub marked: bool,
}

/// Claims up to `limit` rows of `candidates`, in order, by applying `mark`: one `UPDATE … WHERE id IN
/// (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING` (on SQLite one statement waits for the write
/// lock where a read-then-write would fail); MariaDB, without RETURNING, locks, marks and commits.
pub async fn claim<E>(
    db: &DatabaseConnection,
    candidates: Select<E>,
    id: E::Column,
    id_of: impl Fn(&E::Model) -> i64 + Send,
    limit: u64,
    mark: UpdateMany<E>,
) -> Result<Claimed<E::Model>, StoreError>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
{
    let backend = db.get_database_backend();
    if backend == DbBackend::MySql {
        let txn = db.begin().await.map_err(map_db_err)?;
        let rows = candidates
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await
            .map_err(map_db_err)?;
        if !rows.is_empty() {
            mark.filter(id.is_in(shapes::padded(rows.iter().map(&id_of).collect())))
                .exec(&txn)
                .await
                .map_err(map_db_err)?;
        }
        txn.commit().await.map_err(map_db_err)?;
        return Ok(Claimed { rows, marked: false });
    }
    let mut ids = candidates.select_only().column(id).limit(limit).into_query();
    if backend == DbBackend::Postgres {
        ids.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut update = mark.filter(id.in_subquery(ids)).into_query();
    update.returning_all();
    let rows = E::Model::find_by_statement(backend.build(&update))
        .all(db)
        .await
        .map_err(map_db_err)?;
    Ok(Claimed { rows, marked: true })
}
