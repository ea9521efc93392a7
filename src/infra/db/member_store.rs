//! `MemberStore` on SeaORM: the same code for SQLite, PostgreSQL and MySQL/MariaDB.
use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use super::{
    audit::insert_audit,
    entities::{member, password_history, site},
    map_db_err,
    outbox::insert_outbox,
    time::{to_naive, to_utc},
};
use crate::{
    domain::{
        email::Email,
        keyed_hash::CiHash,
        login_id::LoginId,
        member::{JoinType, Member, MemberId, MemberStatus, MemberType, StoredHash},
        password_policy::PasswordPolicy,
        site::SiteId,
    },
    infra::sealer::Sealer,
    recovery::ports::{MemberStore, NewMember, PasswordChange, Site, StoreError},
};

#[derive(Clone)]
pub struct SeaMemberStore {
    db: DatabaseConnection,
    sealer: Sealer,
}

impl SeaMemberStore {
    pub fn new(db: DatabaseConnection, sealer: Sealer) -> Self {
        SeaMemberStore { db, sealer }
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} {value:?} is not valid"))
}

fn to_member(row: member::Model) -> Result<Member, StoreError> {
    Ok(Member {
        id: MemberId(row.id),
        site_id: SiteId::parse(&row.site_id).map_err(|_| corrupt("site", &row.site_id))?,
        login_id: row.login_id,
        email: row.email,
        name: row.name,
        member_type: MemberType::from_code(&row.member_type)
            .ok_or_else(|| corrupt("member type", &row.member_type))?,
        join_type: JoinType::from_code(&row.join_type).ok_or_else(|| corrupt("join type", &row.join_type))?,
        ci_hash: row.ci_hash.map(CiHash),
        password_hash: row.password_hash.map(StoredHash),
        password_changed_at: row.password_changed_at.map(to_utc),
        joined_at: to_utc(row.joined_at),
        status: MemberStatus::from_code(&row.status).ok_or_else(|| corrupt("status", &row.status))?,
    })
}

fn to_members(rows: Vec<member::Model>) -> Result<Vec<Member>, StoreError> {
    rows.into_iter().map(to_member).collect()
}

/// The stored form of a site's own password policy.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoredPolicy {
    min_length: usize,
    max_length: usize,
    forbid_whitespace: bool,
    max_sequential_run: usize,
    max_repeated_run: usize,
    history_size: usize,
    expires_after_days: u32,
}

fn parse_policy(site: &str, json: &str) -> Result<PasswordPolicy, StoreError> {
    let p: StoredPolicy = serde_json::from_str(json).map_err(|_| corrupt("password policy of site", site))?;
    Ok(PasswordPolicy {
        min_length: p.min_length,
        max_length: p.max_length,
        forbid_whitespace: p.forbid_whitespace,
        max_sequential_run: p.max_sequential_run,
        max_repeated_run: p.max_repeated_run,
        history_size: p.history_size,
        expires_after_days: p.expires_after_days,
    })
}

#[async_trait]
impl MemberStore for SeaMemberStore {
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

    async fn ensure_sites(&self, sites: &[SiteId]) -> Result<(), StoreError> {
        for id in sites {
            let exists = site::Entity::find_by_id(id.as_str())
                .one(&self.db)
                .await
                .map_err(map_db_err)?
                .is_some();
            if exists {
                continue;
            }
            let row = site::ActiveModel {
                id: Set(id.as_str().to_owned()),
                name: Set(id.as_str().to_owned()),
                password_policy: Set(None),
                created_at: Set(to_naive(Utc::now())),
            };
            match site::Entity::insert(row).exec(&self.db).await.map_err(map_db_err) {
                // Another process created it meanwhile: that is what we wanted.
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
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
        let rows = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::Email.eq(email.as_str()))
            .order_by_asc(member::Column::JoinedAt)
            .order_by_asc(member::Column::LoginIdKey)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        to_members(rows)
    }

    async fn find_by_identity(
        &self,
        site: &SiteId,
        ci: &CiHash,
        join_type: JoinType,
    ) -> Result<Vec<Member>, StoreError> {
        let rows = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::CiHash.eq(ci.0.as_str()))
            .filter(member::Column::JoinType.eq(join_type.code()))
            .order_by_asc(member::Column::JoinedAt)
            .order_by_asc(member::Column::LoginIdKey)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        to_members(rows)
    }

    async fn existing_login_ids(
        &self,
        ids: &[(SiteId, LoginId)],
    ) -> Result<Vec<(SiteId, LoginId)>, StoreError> {
        let mut found = Vec::new();
        // Chunks keep each statement well under every backend's parameter limit.
        for chunk in ids.chunks(200) {
            let mut any = Condition::any();
            for (site, id) in chunk {
                any = any.add(
                    Condition::all()
                        .add(member::Column::SiteId.eq(site.as_str()))
                        .add(member::Column::LoginIdKey.eq(id.normalized())),
                );
            }
            let rows = member::Entity::find()
                .filter(any)
                .all(&self.db)
                .await
                .map_err(map_db_err)?;
            for row in rows {
                if let Some(pair) = chunk
                    .iter()
                    .find(|(site, id)| site.as_str() == row.site_id && id.normalized() == row.login_id_key)
                {
                    found.push(pair.clone());
                }
            }
        }
        Ok(found)
    }

    async fn insert_members(&self, members: &[NewMember]) -> Result<Vec<MemberId>, StoreError> {
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let now = to_naive(Utc::now());
        let mut ids = Vec::with_capacity(members.len());
        for m in members {
            let id = uuid::Uuid::new_v4().to_string();
            let row = member::ActiveModel {
                id: Set(id.clone()),
                site_id: Set(m.site_id.as_str().to_owned()),
                login_id: Set(m.login_id.as_str().to_owned()),
                login_id_key: Set(m.login_id.normalized()),
                email: Set(m.email.as_str().to_owned()),
                name: Set(m.name.clone()),
                member_type: Set(m.member_type.code().to_owned()),
                join_type: Set(m.join_type.code().to_owned()),
                ci_hash: Set(m.ci_hash.as_ref().map(|h| h.0.clone())),
                password_hash: Set(m.password_hash.as_ref().map(|h| h.0.clone())),
                password_changed_at: Set(m.password_changed_at.map(to_naive)),
                joined_at: Set(to_naive(m.joined_at)),
                status: Set(m.status.code().to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
            };
            member::Entity::insert(row).exec(&txn).await.map_err(map_db_err)?;
            ids.push(MemberId(id));
        }
        txn.commit().await.map_err(map_db_err)?;
        Ok(ids)
    }

    async fn list_members(&self, site: Option<&SiteId>) -> Result<Vec<Member>, StoreError> {
        let mut query = member::Entity::find();
        if let Some(site) = site {
            query = query.filter(member::Column::SiteId.eq(site.as_str()));
        }
        let rows = query
            .order_by_asc(member::Column::SiteId)
            .order_by_asc(member::Column::LoginIdKey)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        to_members(rows)
    }

    async fn find_by_id(&self, id: &MemberId) -> Result<Option<Member>, StoreError> {
        member::Entity::find_by_id(id.0.as_str())
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .map(to_member)
            .transpose()
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

    async fn apply_password_change(&self, change: PasswordChange) -> Result<Member, StoreError> {
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let row = member::Entity::find_by_id(change.member.0.as_str())
            .one(&txn)
            .await
            .map_err(map_db_err)?
            .ok_or_else(|| StoreError::Internal("member vanished during a password change".into()))?;
        let replaced = change.new_hash.is_some();
        if let (Some(old), true) = (&row.password_hash, replaced) {
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
        let mut active: member::ActiveModel = row.into();
        if let Some(new_hash) = &change.new_hash {
            active.password_hash = Set(Some(new_hash.0.clone()));
        }
        active.password_changed_at = Set(Some(to_naive(change.changed_at)));
        active.updated_at = Set(to_naive(Utc::now()));
        let updated = active.update(&txn).await.map_err(map_db_err)?;
        if let Some((meta, mail)) = &change.notice {
            insert_outbox(&txn, &self.sealer, meta, mail).await?;
        }
        insert_audit(&txn, &change.audit).await?;
        txn.commit().await.map_err(map_db_err)?;
        to_member(updated)
    }

    async fn upgrade_hash(
        &self,
        id: &MemberId,
        old: &StoredHash,
        new: &StoredHash,
    ) -> Result<(), StoreError> {
        // Only if nobody changed the password meanwhile.
        member::Entity::update_many()
            .col_expr(
                member::Column::PasswordHash,
                sea_orm::sea_query::Expr::value(new.0.clone()),
            )
            .filter(member::Column::Id.eq(id.0.as_str()))
            .filter(member::Column::PasswordHash.eq(old.0.as_str()))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn count_members(&self) -> Result<u64, StoreError> {
        member::Entity::find().count(&self.db).await.map_err(map_db_err)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(map_db_err)
    }
}
