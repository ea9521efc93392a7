//! The member directory the use cases read and write on every request, on SeaORM.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Select, SqliteTransactionMode,
    TransactionOptions, TransactionTrait, sea_query::Expr,
};

use super::{SeaMemberStore, parse_policy, to_member};
use crate::{
    domain::{
        email::Email,
        keyed_hash::CiHash,
        login_id::LoginId,
        member::{JoinType, Member, MemberId, StoredHash},
        opaque_token::TokenHash,
        site::SiteId,
    },
    infra::db::{
        audit::insert_audit,
        entities::{change_report, member, password_history, site},
        map_db_err,
        outbox::insert_outbox,
        shapes,
        time::to_naive,
    },
    recovery::ports::{MemberDirectory, PasswordChange, Site, StoreError},
};

/// Several accounts of one address or identity are listed oldest first (ties by login ID).
fn oldest_first(query: Select<member::Entity>) -> Select<member::Entity> {
    query
        .order_by_asc(member::Column::JoinedAt)
        .order_by_asc(member::Column::LoginIdKey)
}

#[async_trait]
impl MemberDirectory for SeaMemberStore {
    async fn find_site(&self, id: &SiteId) -> Result<Option<Site>, StoreError> {
        let Some(row) = site::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await
            .map_err(map_db_err)?
        else {
            return Ok(None);
        };
        let password_policy = row
            .password_policy
            .as_deref()
            .map(|json| parse_policy(&row.id, json))
            .transpose()?;
        Ok(Some(Site {
            id: id.clone(),
            name: row.name,
            password_policy,
        }))
    }

    async fn find_by_login_id(
        &self,
        site: &SiteId,
        login_id: &LoginId,
    ) -> Result<Option<Member>, StoreError> {
        member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::LoginIdKey.eq(login_id.normalized()))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(to_member)
            .transpose()
    }

    async fn find_by_email(&self, site: &SiteId, email: &Email) -> Result<Vec<Member>, StoreError> {
        let query = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::Email.eq(email.as_str()));
        self.members(oldest_first(query)).await
    }

    async fn find_by_emails(&self, site: &SiteId, emails: &[Email]) -> Result<Vec<Member>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let query = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::Email.is_in(shapes::padded(emails.iter().map(Email::as_str).collect())));
        self.members(oldest_first(query)).await
    }

    async fn find_by_login_ids(
        &self,
        site: &SiteId,
        login_ids: &[LoginId],
    ) -> Result<Vec<Member>, StoreError> {
        if login_ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::LoginIdKey.is_in(shapes::padded(
                login_ids.iter().map(LoginId::normalized).collect(),
            )));
        self.members(query).await
    }

    async fn find_by_identity(
        &self,
        site: &SiteId,
        ci: &CiHash,
        join_type: JoinType,
    ) -> Result<Vec<Member>, StoreError> {
        let query = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::CiHash.eq(ci.0.as_str()))
            .filter(member::Column::JoinType.eq(join_type.code()));
        self.members(oldest_first(query)).await
    }

    async fn find_by_id(&self, id: &MemberId) -> Result<Option<Member>, StoreError> {
        // With its password history in the same query (a LEFT JOIN of at most `history_size`
        // rows): the reuse check of a reset or change then needs no second round trip.
        let found = member::Entity::find_by_id(id.0.as_str())
            .find_with_related(password_history::Entity)
            .order_by_desc(password_history::Column::Id)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let Some((row, history)) = found.into_iter().next() else {
            return Ok(None);
        };
        let mut member = to_member(row)?;
        member.password_history = Some(history.into_iter().map(|h| StoredHash(h.password_hash)).collect());
        Ok(Some(member))
    }

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
            let row = change_report::ActiveModel {
                token_hash: Set(report.token.0.clone()),
                member_id: Set(change.member.0.clone()),
                expires_at: Set(to_naive(report.expires_at)),
                used_at: Set(None),
                created_at: Set(to_naive(change.changed_at)),
            };
            change_report::Entity::insert(row)
                .exec(&txn)
                .await
                .map_err(map_db_err)?;
        }
        insert_audit(&txn, &change.audit).await?;
        txn.commit().await.map_err(map_db_err)?;
        let mut updated = row;
        if let Some(new_hash) = change.new_hash {
            updated.password_hash = Some(new_hash.0);
            updated.sign_in_locked = false;
        }
        updated.password_changed_at = Some(to_naive(change.changed_at));
        to_member(updated).map(Some)
    }

    async fn report_change(
        &self,
        token: &TokenHash,
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
        let row = member::Entity::find_by_id(report.member_id.as_str())
            .one(&txn)
            .await
            .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        row.map(to_member).transpose()
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

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(map_db_err)
    }
}
