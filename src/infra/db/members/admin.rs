//! The admin store of `member add/import/list` and the demo data, on SeaORM.
use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{NaiveDateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::SeaMemberStore;
use crate::{
    domain::{
        confusables::LoginIdSkeleton,
        login_id::LoginId,
        member::{Member, MemberId},
        site::SiteId,
    },
    infra::db::{
        entities::{member, site},
        map_db_err, shapes,
        time::to_naive,
    },
    recovery::ports::{ImportWriter, MemberAdminStore, NewMember, StoreError},
};

#[async_trait]
impl MemberAdminStore for SeaMemberStore {
    async fn ensure_sites(&self, sites: &[SiteId]) -> Result<(), StoreError> {
        let sites: Vec<&str> = sites.iter().map(SiteId::as_str).collect();
        ensure_sites_on(&self.db, &sites).await
    }

    async fn existing_login_ids(
        &self,
        ids: &[(SiteId, LoginId)],
    ) -> Result<Vec<(SiteId, LoginId)>, StoreError> {
        self.existing(ids, member::Column::LoginIdKey, |id| id.normalized())
            .await
    }

    async fn existing_skeletons(
        &self,
        skeletons: &[(SiteId, LoginIdSkeleton)],
    ) -> Result<Vec<(SiteId, LoginIdSkeleton)>, StoreError> {
        self.existing(skeletons, member::Column::LoginIdSkeleton, |s| {
            s.as_str().to_owned()
        })
        .await
    }

    async fn insert_members(&self, members: &[NewMember]) -> Result<Vec<MemberId>, StoreError> {
        let txn = self.db.begin().await.map_err(map_db_err)?;
        ensure_sites_on(&txn, &sites_of(members)).await?;
        let ids = insert_rows(&txn, members).await?;
        txn.commit().await.map_err(map_db_err)?;
        if members.len() >= ANALYZE_AFTER {
            self.refresh_statistics().await;
        }
        Ok(ids)
    }

    async fn begin_import(&self) -> Result<Box<dyn ImportWriter>, StoreError> {
        // SQLite: the write lock up front, so the import never fails half-way on a busy database.
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = self.db.begin_with_options(options).await.map_err(map_db_err)?;
        Ok(Box::new(SeaImport {
            txn,
            store: self.clone(),
            rows: 0,
            sites: HashSet::new(),
        }))
    }

    async fn list_members(&self, site: Option<&SiteId>) -> Result<Vec<Member>, StoreError> {
        let mut query = member::Entity::find();
        if let Some(site) = site {
            query = query.filter(member::Column::SiteId.eq(site.as_str()));
        }
        self.members(
            query
                .order_by_asc(member::Column::SiteId)
                .order_by_asc(member::Column::LoginIdKey),
        )
        .await
    }

    async fn count_members(&self) -> Result<u64, StoreError> {
        member::Entity::find().count(&self.db).await.map_err(map_db_err)
    }
}

/// An import's transaction.
struct SeaImport {
    txn: DatabaseTransaction,
    store: SeaMemberStore,
    rows: usize,
    /// Sites this transaction has made sure of.
    sites: HashSet<String>,
}

#[async_trait]
impl ImportWriter for SeaImport {
    async fn insert(&mut self, members: &[NewMember]) -> Result<(), StoreError> {
        let mut new = sites_of(members);
        new.retain(|site| !self.sites.contains(*site));
        ensure_sites_on(&self.txn, &new).await?;
        self.sites.extend(new.into_iter().map(str::to_owned));
        insert_rows(&self.txn, members).await?;
        self.rows += members.len();
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.txn.commit().await.map_err(map_db_err)?;
        if self.rows >= ANALYZE_AFTER {
            self.store.refresh_statistics().await;
        }
        Ok(())
    }
}

/// The sites `members` name, each once.
fn sites_of(members: &[NewMember]) -> Vec<&str> {
    let mut seen = HashSet::new();
    members
        .iter()
        .map(|m| m.site_id.as_str())
        .filter(|site| seen.insert(*site))
        .collect()
}

/// Creates each of `sites` that does not exist yet (name = code), on `conn`: in a transaction
/// with the members that name them, so members and their new sites are stored or rolled back
/// together. An existing site (the usual case) is only read, so an import's long transaction
/// holds no lock on it (MariaDB's stand-in for `DO NOTHING` is an update, which would); one that
/// another process creates meanwhile is left as it is (no error, which PostgreSQL would let abort
/// the transaction).
async fn ensure_sites_on(conn: &impl ConnectionTrait, sites: &[&str]) -> Result<(), StoreError> {
    for &id in sites {
        let exists = site::Entity::find_by_id(id)
            .one(conn)
            .await
            .map_err(map_db_err)?
            .is_some();
        if exists {
            continue;
        }
        let row = site::ActiveModel {
            id: Set(id.to_owned()),
            name: Set(id.to_owned()),
            password_policy: Set(None),
            created_at: Set(to_naive(Utc::now())),
        };
        site::Entity::insert(row)
            .on_conflict_do_nothing_on([site::Column::Id])
            .exec(conn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}

/// Rows per insert statement at most: 20 columns each stay under every backend's parameter limit
/// (SQLite's 32,766), in power-of-two chunks so a run of imports prepares a handful of statements.
const INSERT_ROWS: usize = 1024;

/// Inserts new members with multi-row statements; their fresh ids in order. The ids are UUIDv7,
/// in time order, so InnoDB appends to its clustered primary key instead of splitting pages all
/// over it (random ids made a bulk insert twice as slow on MariaDB).
async fn insert_rows(db: &impl ConnectionTrait, members: &[NewMember]) -> Result<Vec<MemberId>, StoreError> {
    let now = to_naive(Utc::now());
    let mut ids = Vec::with_capacity(members.len());
    for chunk in shapes::chunks(members, INSERT_ROWS) {
        let rows = chunk.into_iter().map(|m| {
            let id = uuid::Uuid::now_v7().to_string();
            ids.push(MemberId(id.clone()));
            new_member_row(m, id, now, None)
        });
        member::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .map_err(map_db_err)?;
    }
    Ok(ids)
}

/// The row of a new member (a fresh id, its keys, revision 1).
pub(super) fn new_member_row(
    m: &NewMember,
    id: String,
    now: NaiveDateTime,
    external_id: Option<&str>,
) -> member::ActiveModel {
    member::ActiveModel {
        id: Set(id),
        site_id: Set(m.site_id.as_str().to_owned()),
        login_id: Set(m.login_id.as_str().to_owned()),
        login_id_key: Set(m.login_id.normalized()),
        login_id_skeleton: Set(LoginIdSkeleton::of(&m.login_id).as_str().to_owned()),
        email: Set(m.email.as_str().to_owned()),
        name: Set(m.name.clone()),
        member_type: Set(m.member_type.code().to_owned()),
        join_type: Set(m.join_type.code().to_owned()),
        ci_hash: Set(m.ci_hash.as_ref().map(|h| h.hash.0.clone())),
        ci_key_id: Set(m
            .ci_hash
            .as_ref()
            .and_then(|h| h.key.as_ref())
            .map(|k| k.as_str().to_owned())),
        password_hash: Set(m.password_hash.as_ref().map(|h| h.0.clone())),
        password_changed_at: Set(m.password_changed_at.map(to_naive)),
        joined_at: Set(to_naive(m.joined_at)),
        status: Set(m.status.code().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        sign_in_locked: Set(false),
        external_id: Set(external_id.map(str::to_owned)),
        revision: Set(1),
    }
}

/// An import at least this large refreshes the planner's statistics of `members`.
const ANALYZE_AFTER: usize = 100;

/// Keys looked up per statement (well under every backend's parameter limit).
const PROBE_KEYS: usize = 1024;

impl SeaMemberStore {
    /// Which of `wanted` (a site and a key of `column`, `key_of` the stored form) some member of
    /// that site has: per site, up to `PROBE_KEYS` keys a statement, read from the index alone.
    async fn existing<K: Clone>(
        &self,
        wanted: &[(SiteId, K)],
        column: member::Column,
        key_of: impl Fn(&K) -> String,
    ) -> Result<Vec<(SiteId, K)>, StoreError> {
        let mut by_site: HashMap<&SiteId, Vec<&(SiteId, K)>> = HashMap::new();
        for pair in wanted {
            by_site.entry(&pair.0).or_default().push(pair);
        }
        let mut found = Vec::new();
        for (site, pairs) in by_site {
            for chunk in pairs.chunks(PROBE_KEYS) {
                let keys: Vec<String> = chunk.iter().map(|(_, k)| key_of(k)).collect();
                let stored: HashSet<String> = member::Entity::find()
                    .select_only()
                    .column(column)
                    .filter(member::Column::SiteId.eq(site.as_str()))
                    .filter(column.is_in(shapes::padded(keys.clone())))
                    .into_tuple::<String>()
                    .all(&self.db)
                    .await
                    .map_err(map_db_err)?
                    .into_iter()
                    .collect();
                found.extend(
                    chunk
                        .iter()
                        .zip(&keys)
                        .filter(|(_, key)| stored.contains(*key))
                        .map(|(pair, _)| (*pair).clone()),
                );
            }
        }
        Ok(found)
    }

    /// Without statistics a freshly filled table looks empty to the planner, which then serves a
    /// login ID look-up from the identity index, filtering every member of the site, until
    /// autovacuum gets to it.
    async fn refresh_statistics(&self) {
        use sea_orm::DbBackend;
        let sql = match self.db.get_database_backend() {
            DbBackend::MySql => "ANALYZE TABLE members",
            _ => "ANALYZE members",
        };
        if let Err(e) = self.db.execute_unprepared(sql).await {
            tracing::warn!(error = %e, "statistics of the members table not refreshed");
        }
    }
}
