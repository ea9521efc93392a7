//! `RecoveryCodeStore` on SeaORM: one row per code (its keyed hash only), one set per member.
//! Replacing a set and spending a code are each one transaction with their notice and audit row;
//! a code is spent by a conditional UPDATE, so of concurrent spenders exactly one wins.
use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait, sea_query::Expr,
};

use super::{
    audit::insert_audit, change_reports::insert_report, entities::recovery_code, map_db_err,
    outbox::mail::insert_outbox, time::to_naive, webhooks::queue_for_audit,
};
use crate::{
    domain::{member::MemberId, recovery_code::RecoveryCodeHash, site::SiteId},
    infra::sealer::Sealer,
    recovery::ports::{
        NewRecoveryCodeSet, RecoveryCodeStore, RecoveryCodeUse, StoreError, StoredRecoveryCode,
    },
};

#[derive(Clone)]
pub struct SeaRecoveryCodes {
    db: DatabaseConnection,
    sealer: Sealer,
}

impl SeaRecoveryCodes {
    pub fn new(db: DatabaseConnection, sealer: Sealer) -> Self {
        SeaRecoveryCodes { db, sealer }
    }
}

#[async_trait]
impl RecoveryCodeStore for SeaRecoveryCodes {
    async fn replace_set(&self, set: NewRecoveryCodeSet) -> Result<(), StoreError> {
        let now = to_naive(Utc::now());
        let set_id = uuid::Uuid::new_v4().simple().to_string();
        let txn = self.db.begin().await.map_err(map_db_err)?;
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::MemberId.eq(set.member.0.as_str()))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        let rows = set.codes.iter().map(|code| recovery_code::ActiveModel {
            site_id: Set(set.site.as_str().to_owned()),
            member_id: Set(set.member.0.clone()),
            code_hash: Set(code.0.clone()),
            key_id: Set(Some(set.key.as_str().to_owned())),
            set_id: Set(set_id.clone()),
            created_at: Set(now),
            used_at: Set(None),
            ..Default::default()
        });
        recovery_code::Entity::insert_many(rows)
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        let (meta, mail) = &set.notice;
        insert_outbox(&txn, &self.sealer, meta, mail).await?;
        insert_report(&txn, &set.member, &set.report, Utc::now()).await?;
        insert_audit(&txn, &set.audit).await?;
        queue_for_audit(&txn, &set.audit).await?;
        txn.commit().await.map_err(map_db_err)
    }

    async fn find_unspent(
        &self,
        codes: &[RecoveryCodeHash],
    ) -> Result<Option<StoredRecoveryCode>, StoreError> {
        let row = recovery_code::Entity::find()
            .filter(recovery_code::Column::CodeHash.is_in(codes.iter().map(|c| c.0.as_str())))
            .filter(recovery_code::Column::UsedAt.is_null())
            .one(&self.db)
            .await
            .map_err(map_db_err)?;
        row.map(|row| {
            Ok(StoredRecoveryCode {
                site: SiteId::parse(&row.site_id)
                    .map_err(|_| StoreError::Internal("recovery code of an unreadable site".into()))?,
                member: MemberId(row.member_id),
                code: RecoveryCodeHash(row.code_hash),
            })
        })
        .transpose()
    }

    async fn spend(&self, used: RecoveryCodeUse) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(map_db_err)?;
        // Spent by exactly one caller: the row changes only while unused.
        let spent = recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Expr::value(to_naive(Utc::now())))
            .filter(recovery_code::Column::CodeHash.eq(used.code.0.as_str()))
            .filter(recovery_code::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        if spent.rows_affected != 1 {
            return Ok(false);
        }
        let (meta, mail) = &used.notice;
        insert_outbox(&txn, &self.sealer, meta, mail).await?;
        insert_audit(&txn, &used.audit).await?;
        queue_for_audit(&txn, &used.audit).await?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(true)
    }

    async fn codes_left(&self, member: &MemberId) -> Result<u32, StoreError> {
        let left = recovery_code::Entity::find()
            .filter(recovery_code::Column::MemberId.eq(member.0.as_str()))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }
}
