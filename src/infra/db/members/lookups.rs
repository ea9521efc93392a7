//! Finding members, sites and whether the database answers, on SeaORM.
use async_trait::async_trait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Select,
    sea_query::Expr,
};

use super::{SeaMemberStore, members_on, parse_policy, to_member};
use crate::{
    domain::{
        email::Email,
        keyed_hash::{CiHash, StoredCiHash},
        login_id::LoginId,
        member::{JoinType, Member, MemberId, StoredHash},
        site::{Site, SiteId},
    },
    infra::db::{
        entities::{member, password_history, site},
        held_connection::HeldConnection,
        map_db_err, shapes,
    },
    recovery::ports::{
        HealthCheck, IdentityLookup, MemberBatchLookup, MemberById, MemberLookup, SiteDirectory, StoreError,
    },
};

/// Several accounts of one address or identity are listed oldest first (ties by login ID).
fn oldest_first(query: Select<member::Entity>) -> Select<member::Entity> {
    query
        .order_by_asc(member::Column::JoinedAt)
        .order_by_asc(member::Column::LoginIdKey)
}

#[async_trait]
impl MemberLookup for SeaMemberStore {
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
}

/// Every member of the site with one of these e-mails, oldest first, read on `conn`.
async fn by_emails<C: ConnectionTrait>(
    conn: &C,
    site: &SiteId,
    emails: &[Email],
) -> Result<Vec<Member>, StoreError> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let query = member::Entity::find()
        .filter(member::Column::SiteId.eq(site.as_str()))
        .filter(member::Column::Email.is_in(shapes::padded(emails.iter().map(Email::as_str).collect())));
    members_on(conn, oldest_first(query)).await
}

/// The members of the site with one of these login IDs, read on `conn`.
async fn by_login_ids<C: ConnectionTrait>(
    conn: &C,
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
    members_on(conn, query).await
}

#[async_trait]
impl MemberBatchLookup for SeaMemberStore {
    async fn find_by_emails(&self, site: &SiteId, emails: &[Email]) -> Result<Vec<Member>, StoreError> {
        by_emails(&self.db, site, emails).await
    }
    async fn find_by_login_ids(&self, site: &SiteId, ids: &[LoginId]) -> Result<Vec<Member>, StoreError> {
        by_login_ids(&self.db, site, ids).await
    }
}

/// The batch lookups of one worker, on a connection it keeps while lookups keep coming (see
/// `held_connection`).
pub struct HeldLookups {
    conn: HeldConnection,
}

impl HeldLookups {
    pub fn new(db: DatabaseConnection) -> Self {
        HeldLookups {
            conn: HeldConnection::new(db),
        }
    }
}

#[async_trait]
impl MemberBatchLookup for HeldLookups {
    async fn find_by_emails(&self, site: &SiteId, emails: &[Email]) -> Result<Vec<Member>, StoreError> {
        by_emails(&self.conn, site, emails).await
    }
    async fn find_by_login_ids(&self, site: &SiteId, ids: &[LoginId]) -> Result<Vec<Member>, StoreError> {
        by_login_ids(&self.conn, site, ids).await
    }
    async fn idle(&self) {
        self.conn.release().await;
    }
}

#[async_trait]
impl IdentityLookup for SeaMemberStore {
    async fn find_by_identity(
        &self,
        site: &SiteId,
        cis: &[CiHash],
        join_type: JoinType,
    ) -> Result<Vec<Member>, StoreError> {
        let query = member::Entity::find()
            .filter(member::Column::SiteId.eq(site.as_str()))
            .filter(member::Column::CiHash.is_in(cis.iter().map(|ci| ci.0.as_str())))
            .filter(member::Column::JoinType.eq(join_type.code()));
        self.members(oldest_first(query)).await
    }

    async fn move_identity(
        &self,
        member: &MemberId,
        from: &StoredCiHash,
        to: &StoredCiHash,
    ) -> Result<bool, StoreError> {
        let key_of = |h: &StoredCiHash| h.key.as_ref().map(|k| k.as_str().to_owned());
        let still_from = match key_of(from) {
            Some(key) => member::Column::CiKeyId.eq(key),
            None => member::Column::CiKeyId.is_null(),
        };
        let moved = member::Entity::update_many()
            .col_expr(member::Column::CiHash, Expr::value(to.hash.0.clone()))
            .col_expr(member::Column::CiKeyId, Expr::value(key_of(to)))
            .filter(member::Column::Id.eq(member.0.as_str()))
            .filter(member::Column::CiHash.eq(from.hash.0.as_str()))
            .filter(still_from)
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(moved.rows_affected == 1)
    }
}

#[async_trait]
impl MemberById for SeaMemberStore {
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
}

#[async_trait]
impl SiteDirectory for SeaMemberStore {
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
}

#[async_trait]
impl HealthCheck for SeaMemberStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(map_db_err)
    }
}
