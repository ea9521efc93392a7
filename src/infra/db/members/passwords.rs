//! Password history, password changes in one transaction, hash upgrades and "that wasn't me"
//! reports, on SeaORM.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, SqliteTransactionMode,
    TransactionOptions, TransactionTrait, sea_query::Expr,
};

use super::{SeaMemberStore, to_member};
use crate::{
    domain::{
        member::{Member, MemberId, StoredHash},
        opaque_token::TokenHash,
        site::SiteId,
        webhook::EventType,
    },
    infra::db::{
        audit::insert_audit,
        change_reports::insert_report,
        entities::{change_report, member, password_history, recovery_code},
        map_db_err,
        outbox::mail::insert_outbox,
        time::to_naive,
        webhooks::{queue_event, queue_for_audit},
    },
    recovery::ports::{ChangeReports, PasswordChange, PasswordStore, StoreError},
};

#[async_trait]
impl PasswordStore for SeaMemberStore {
    async fn password_history(&self, id: &MemberId) -> Result<Vec<StoredHash>, StoreError> {
        let rows = password_history::Entity::find()
            .filter(password_history::Column::MemberId.eq(id.0.as_str()))
            .order_by_desc(password_history::Column::Id)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(rows.into_iter().map(|r| StoredHash(r.password_hash)).collect())
    }

    async fn apply_password_change(&self, change: PasswordChange) -> Result<Option<Member>, StoreError> {
        // SQLite: take the write lock up front, so a write that commits meanwhile makes this one
        // wait instead of failing on a stale read snapshot (other backends ignore the mode).
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = self.db.begin_with_options(options).await.map_err(map_db_err)?;
        let row = member::Entity::find_by_id(change.member.0.as_str())
            .one(&txn)
            .await
            .map_err(map_db_err)?
            .ok_or_else(|| StoreError::Internal("member vanished during a password change".into()))?;
        // Conditional in the database itself (the row read above may be stale): a reset committed
        // meanwhile makes this UPDATE match nothing, and one in flight holds the row until it
        // commits, after which PostgreSQL and MySQL evaluate the condition again on its result.
        let mut update = member::Entity::update_many()
            .col_expr(
                member::Column::PasswordChangedAt,
                Expr::value(to_naive(change.changed_at)),
            )
            .col_expr(member::Column::UpdatedAt, Expr::value(to_naive(Utc::now())))
            .filter(member::Column::Id.eq(row.id.as_str()));
        if let Some(new_hash) = &change.new_hash {
            update = update
                .col_expr(member::Column::PasswordHash, Expr::value(new_hash.0.clone()))
                // A new password ends a "that wasn't me" lock (only a reset can get here then).
                .col_expr(member::Column::SignInLocked, Expr::value(false));
        }
        if let Some(expected) = &change.expected_hash {
            update = update.filter(member::Column::PasswordHash.eq(expected.0.as_str()));
        }
        if update.exec(&txn).await.map_err(map_db_err)?.rows_affected == 0 {
            txn.rollback().await.map_err(map_db_err)?;
            return Ok(None);
        }
        // What was replaced: the verified hash when the write was conditional, else what was read.
        let replaced = change
            .expected_hash
            .clone()
            .map(|h| h.0)
            .or(row.password_hash.clone());
        if let (Some(old), true) = (&replaced, change.new_hash.is_some()) {
            let entry = password_history::ActiveModel {
                member_id: Set(row.id.clone()),
                password_hash: Set(old.clone()),
                created_at: Set(to_naive(change.changed_at)),
                ..Default::default()
            };
            password_history::Entity::insert(entry)
                .exec(&txn)
                .await
                .map_err(map_db_err)?;
        }
        // Keep only the newest `history_size` entries (few rows: trimmed here, not with OFFSET,
        // which SQLite accepts only after a LIMIT).
        let stale: Vec<i64> = password_history::Entity::find()
            .filter(password_history::Column::MemberId.eq(row.id.as_str()))
            .order_by_desc(password_history::Column::Id)
            .all(&txn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .skip(change.history_size)
            .map(|r| r.id)
            .collect();
        if !stale.is_empty() {
            password_history::Entity::delete_many()
                .filter(password_history::Column::Id.is_in(stale))
                .exec(&txn)
                .await
                .map_err(map_db_err)?;
        }
        if let Some((meta, mail)) = &change.notice {
            insert_outbox(&txn, &self.sealer, meta, mail).await?;
        }
        if let Some(report) = &change.report {
            insert_report(&txn, &change.member, report, change.changed_at).await?;
        }
        insert_audit(&txn, &change.audit).await?;
        queue_for_audit(&txn, &change.audit).await?;
        txn.commit().await.map_err(map_db_err)?;
        let mut updated = row;
        if let Some(new_hash) = change.new_hash {
            updated.password_hash = Some(new_hash.0);
            updated.sign_in_locked = false;
        }
        updated.password_changed_at = Some(to_naive(change.changed_at));
        to_member(updated).map(Some)
    }

    async fn upgrade_hash(
        &self,
        id: &MemberId,
        old: &StoredHash,
        new: &StoredHash,
    ) -> Result<(), StoreError> {
        // Only if nobody changed the password meanwhile.
        member::Entity::update_many()
            .col_expr(member::Column::PasswordHash, Expr::value(new.0.clone()))
            .filter(member::Column::Id.eq(id.0.as_str()))
            .filter(member::Column::PasswordHash.eq(old.0.as_str()))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }
}

#[async_trait]
impl ChangeReports for SeaMemberStore {
    async fn report_change(
        &self,
        token: &TokenHash,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Member>, StoreError> {
        let txn = self.db.begin().await.map_err(map_db_err)?;
        // Spent by exactly one caller: the row changes only while unused and unexpired.
        let spent = change_report::Entity::update_many()
            .col_expr(change_report::Column::UsedAt, Expr::value(to_naive(now)))
            .filter(change_report::Column::TokenHash.eq(token.0.as_str()))
            .filter(change_report::Column::UsedAt.is_null())
            .filter(change_report::Column::ExpiresAt.gt(to_naive(now)))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        if spent.rows_affected != 1 {
            return Ok(None);
        }
        let report = change_report::Entity::find_by_id(token.0.as_str())
            .one(&txn)
            .await
            .map_err(map_db_err)?
            .ok_or_else(|| StoreError::Internal("report vanished while spent".into()))?;
        member::Entity::update_many()
            .col_expr(member::Column::SignInLocked, Expr::value(true))
            .col_expr(member::Column::UpdatedAt, Expr::value(to_naive(now)))
            .filter(member::Column::Id.eq(report.member_id.as_str()))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        // Codes an intruder generated would reset the password again and clear the lock.
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::MemberId.eq(report.member_id.as_str()))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        let row = member::Entity::find_by_id(report.member_id.as_str())
            .one(&txn)
            .await
            .map_err(map_db_err)?;
        if let Some(row) = &row {
            let site = SiteId::parse(&row.site_id)
                .map_err(|_| StoreError::Internal("a reported member of an unreadable site".into()))?;
            let member = MemberId(row.id.clone());
            queue_event(&txn, EventType::ChangeReported, &site, &member, client).await?;
        }
        txn.commit().await.map_err(map_db_err)?;
        row.map(to_member).transpose()
    }
}
