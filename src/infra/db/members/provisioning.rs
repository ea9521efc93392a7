//! The SCIM provisioning store on SeaORM: searches by filter with paging, and writes that apply
//! only while the member's revision is the one the host read, each with its audit row.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait, sea_query::Expr,
};

use super::{SeaMemberStore, admin::new_member_row, member_search, to_member};
use crate::{
    domain::{
        audit::AuditEvent,
        confusables::LoginIdSkeleton,
        member::{MemberId, MemberStatus},
        member_filter::MemberFilter,
        site::SiteId,
    },
    infra::db::{
        audit::insert_audit,
        entities::{member, password_history, recovery_code},
        map_db_err,
        time::{to_naive, to_utc},
        webhooks::queue_for_audit,
    },
    recovery::ports::{
        MemberPage, MemberUpdate, NewMember, ProvisionedMember, ProvisioningStore, StoreError,
    },
};

fn to_provisioned(row: member::Model) -> Result<ProvisionedMember, StoreError> {
    let (external_id, created_at, updated_at, revision) = (
        row.external_id.clone(),
        row.created_at,
        row.updated_at,
        row.revision,
    );
    Ok(ProvisionedMember {
        member: to_member(row)?,
        external_id,
        created_at: to_utc(created_at),
        updated_at: to_utc(updated_at),
        revision,
    })
}

/// SQLite: the write lock up front, so a write committed meanwhile makes this one wait instead of
/// failing on a stale snapshot (other backends ignore the mode).
fn immediate() -> TransactionOptions {
    TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    }
}

async fn read_back(txn: &DatabaseTransaction, id: &str) -> Result<member::Model, StoreError> {
    member::Entity::find_by_id(id)
        .one(txn)
        .await
        .map_err(map_db_err)?
        .ok_or_else(|| StoreError::Internal("member vanished during a provisioning write".into()))
}

#[async_trait]
impl ProvisioningStore for SeaMemberStore {
    async fn find_provisioned(
        &self,
        site: &SiteId,
        id: &MemberId,
    ) -> Result<Option<ProvisionedMember>, StoreError> {
        member::Entity::find_by_id(id.0.as_str())
            .filter(member::Column::SiteId.eq(site.as_str()))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(to_provisioned)
            .transpose()
    }

    async fn search(
        &self,
        site: &SiteId,
        filter: Option<&MemberFilter>,
        offset: u64,
        limit: u64,
    ) -> Result<MemberPage, StoreError> {
        let mut query = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::Status.ne(MemberStatus::Withdrawn.code()));
        if let Some(filter) = filter {
            query = query.filter(member_search::condition(filter, self.db.get_database_backend()));
        }
        let total = query.clone().count(&self.db).await.map_err(map_db_err)?;
        if limit == 0 || offset >= total {
            return Ok(MemberPage {
                total,
                members: Vec::new(),
            });
        }
        let rows = query
            .order_by_asc(member::Column::CreatedAt)
            .order_by_asc(member::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(MemberPage {
            total,
            members: rows.into_iter().map(to_provisioned).collect::<Result<_, _>>()?,
        })
    }

    async fn create(
        &self,
        new: &NewMember,
        external_id: Option<&str>,
        mut audit: AuditEvent,
    ) -> Result<ProvisionedMember, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let row = new_member_row(new, id.clone(), to_naive(Utc::now()), external_id);
        member::Entity::insert(row).exec(&txn).await.map_err(map_db_err)?;
        audit.member = Some(MemberId(id.clone()));
        insert_audit(&txn, &audit).await?;
        queue_for_audit(&txn, &audit).await?;
        let row = read_back(&txn, &id).await?;
        txn.commit().await.map_err(map_db_err)?;
        to_provisioned(row)
    }

    async fn update(
        &self,
        id: &MemberId,
        revision: i64,
        update: &MemberUpdate,
        audit: AuditEvent,
    ) -> Result<Option<ProvisionedMember>, StoreError> {
        let txn = self
            .db
            .begin_with_options(immediate())
            .await
            .map_err(map_db_err)?;
        let before = read_back(&txn, &id.0).await?;
        let now = to_naive(update.now);
        let mut write = member::Entity::update_many()
            .col_expr(member::Column::LoginId, Expr::value(update.login_id.as_str()))
            .col_expr(
                member::Column::LoginIdKey,
                Expr::value(update.login_id.normalized()),
            )
            // The look-alike check of later new login IDs compares against this.
            .col_expr(
                member::Column::LoginIdSkeleton,
                Expr::value(LoginIdSkeleton::of(&update.login_id).as_str().to_owned()),
            )
            .col_expr(member::Column::Email, Expr::value(update.email.as_str()))
            .col_expr(member::Column::Name, Expr::value(update.name.clone()))
            .col_expr(
                member::Column::ExternalId,
                Expr::value(update.external_id.clone()),
            )
            .col_expr(member::Column::MemberType, Expr::value(update.member_type.code()))
            .col_expr(member::Column::JoinType, Expr::value(update.join_type.code()))
            .col_expr(member::Column::Status, Expr::value(update.status.code()))
            .col_expr(member::Column::UpdatedAt, Expr::value(now))
            .col_expr(member::Column::Revision, Expr::value(revision + 1))
            .filter(member::Column::Id.eq(id.0.as_str()))
            // Conditional in the database itself: a write committed since the host's read makes
            // this one match nothing.
            .filter(member::Column::Revision.eq(revision));
        if let Some(ci) = &update.ci_hash {
            write = write
                .col_expr(member::Column::CiHash, Expr::value(ci.hash.0.clone()))
                .col_expr(
                    member::Column::CiKeyId,
                    Expr::value(ci.key.as_ref().map(|k| k.as_str().to_owned())),
                );
        }
        if let Some(hash) = &update.password_hash {
            write = write
                .col_expr(member::Column::PasswordHash, Expr::value(hash.0.clone()))
                .col_expr(member::Column::PasswordChangedAt, Expr::value(now))
                // A password the host sets ends a "that wasn't me" lock, as a reset does.
                .col_expr(member::Column::SignInLocked, Expr::value(false));
        }
        if write.exec(&txn).await.map_err(map_db_err)?.rows_affected == 0 {
            txn.rollback().await.map_err(map_db_err)?;
            return Ok(None);
        }
        if let (Some(old), Some(_)) = (&before.password_hash, &update.password_hash) {
            keep_in_history(&txn, &id.0, old, now, update.history_size).await?;
        }
        insert_audit(&txn, &audit).await?;
        queue_for_audit(&txn, &audit).await?;
        let row = read_back(&txn, &id.0).await?;
        txn.commit().await.map_err(map_db_err)?;
        to_provisioned(row).map(Some)
    }

    async fn withdraw(
        &self,
        id: &MemberId,
        revision: i64,
        now: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<Option<ProvisionedMember>, StoreError> {
        let txn = self
            .db
            .begin_with_options(immediate())
            .await
            .map_err(map_db_err)?;
        let done = member::Entity::update_many()
            .col_expr(
                member::Column::Status,
                Expr::value(MemberStatus::Withdrawn.code()),
            )
            .col_expr(member::Column::UpdatedAt, Expr::value(to_naive(now)))
            .col_expr(member::Column::Revision, Expr::value(revision + 1))
            .filter(member::Column::Id.eq(id.0.as_str()))
            .filter(member::Column::Revision.eq(revision))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        if done.rows_affected == 0 {
            txn.rollback().await.map_err(map_db_err)?;
            return Ok(None);
        }
        // A withdrawn member keeps no way back in: their saved recovery codes go with them.
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::MemberId.eq(id.0.as_str()))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        insert_audit(&txn, &audit).await?;
        queue_for_audit(&txn, &audit).await?;
        let row = read_back(&txn, &id.0).await?;
        txn.commit().await.map_err(map_db_err)?;
        to_provisioned(row).map(Some)
    }
}

/// Moves the replaced hash into the history and keeps only the newest `keep` entries, as a
/// password change does, so a later reset still refuses the host's old password.
async fn keep_in_history(
    txn: &DatabaseTransaction,
    member_id: &str,
    old: &str,
    at: chrono::NaiveDateTime,
    keep: usize,
) -> Result<(), StoreError> {
    let entry = password_history::ActiveModel {
        member_id: Set(member_id.to_owned()),
        password_hash: Set(old.to_owned()),
        created_at: Set(at),
        ..Default::default()
    };
    password_history::Entity::insert(entry)
        .exec(txn)
        .await
        .map_err(map_db_err)?;
    let stale: Vec<i64> = password_history::Entity::find()
        .filter(password_history::Column::MemberId.eq(member_id))
        .order_by_desc(password_history::Column::Id)
        .all(txn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .skip(keep)
        .map(|r| r.id)
        .collect();
    if !stale.is_empty() {
        password_history::Entity::delete_many()
            .filter(password_history::Column::Id.is_in(stale))
            .exec(txn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}
