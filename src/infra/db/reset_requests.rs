//! `ResetQueue` on SeaORM (no Redis): one row per handed-off request, claimed with a lease
//! (`claims::claim`), so instances and loops never claim the same rows.
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait},
};

use super::{claims, entities::reset_request, map_db_err, shapes, time::to_naive};
use crate::{
    infra::reset_entry,
    recovery::ports::{ClaimedReset, HandedOffReset, ResetQueue, StoreError},
};

#[derive(Clone)]
pub struct SeaResetQueue {
    db: DatabaseConnection,
}

impl SeaResetQueue {
    pub fn new(db: DatabaseConnection) -> Self {
        SeaResetQueue { db }
    }
}

fn ids_of(ids: &[String]) -> Vec<i64> {
    ids.iter().filter_map(|id| id.parse().ok()).collect()
}

#[async_trait]
impl ResetQueue for SeaResetQueue {
    async fn hand_off(&self, request: &HandedOffReset) -> Result<(), StoreError> {
        let row = reset_request::ActiveModel {
            payload: Set(reset_entry::encode(request)),
            claims: Set(0),
            claimed_until: Set(None),
            created_at: Set(to_naive(Utc::now())),
            ..Default::default()
        };
        reset_request::Entity::insert(row)
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<ClaimedReset>, StoreError> {
        let now = Utc::now();
        let claimable = || {
            reset_request::Entity::find().filter(
                Condition::any()
                    .add(reset_request::Column::ClaimedUntil.is_null())
                    .add(reset_request::Column::ClaimedUntil.lt(to_naive(now))),
            )
        };
        // An idle poll is one plain read: no transaction, no lock, nothing for writers to wait on.
        if claimable().one(&self.db).await.map_err(map_db_err)?.is_none() {
            return Ok(Vec::new());
        }
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
        let mark = reset_request::Entity::update_many()
            .col_expr(
                reset_request::Column::ClaimedUntil,
                Expr::value(to_naive(now + lease)),
            )
            .col_expr(
                reset_request::Column::Claims,
                Expr::col(reset_request::Column::Claims).add(1),
            );
        let claimed = claims::claim(
            &self.db,
            claimable().order_by_asc(reset_request::Column::Id),
            reset_request::Column::Id,
            |row| row.id,
            limit as u64,
            mark,
        )
        .await?;
        // Rows read back from the claim already count it (so a first claim is not redelivered).
        let counted = i32::from(claimed.marked);
        let mut rows = claimed.rows;
        rows.sort_by_key(|r| r.id);
        let mut claimed = Vec::new();
        let mut unreadable = Vec::new();
        for row in rows {
            match reset_entry::decode(&row.payload) {
                Some(request) => claimed.push(ClaimedReset {
                    id: row.id.to_string(),
                    redelivered: row.claims > counted,
                    request,
                }),
                None => unreadable.push(row.id.to_string()),
            }
        }
        self.drop_unreadable(&unreadable).await?;
        Ok(claimed)
    }

    async fn acknowledge(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        reset_request::Entity::delete_many()
            .filter(reset_request::Column::Id.is_in(shapes::padded(ids_of(ids))))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        reset_request::Entity::find()
            .count(&self.db)
            .await
            .map_err(map_db_err)
    }
}
