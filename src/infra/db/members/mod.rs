//! The members tables on SeaORM (the same code for SQLite, PostgreSQL and MySQL/MariaDB): one
//! store implementing every member port, with its lookups, its password writes and the admin store
//! in a file each; rows are parsed here.
mod admin;
pub mod lookups;
mod member_search;
mod passwords;
mod provisioning;

use sea_orm::{ConnectionTrait, DatabaseConnection, Select};

use super::{entities::member, map_db_err, time::to_utc};
use crate::{
    domain::{
        email::Email,
        keyed_hash::{CiHash, StoredCiHash},
        keyring::KeyId,
        login_id::LoginId,
        member::{JoinType, Member, MemberId, MemberStatus, MemberType, StoredHash},
        password_policy::PasswordPolicy,
        site::SiteId,
    },
    infra::sealer::Sealer,
    recovery::ports::StoreError,
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

    /// The members a query finds, each row parsed.
    async fn members(&self, query: Select<member::Entity>) -> Result<Vec<Member>, StoreError> {
        members_on(&self.db, query).await
    }
}

/// The members a query finds on `conn`, each row parsed.
async fn members_on<C: ConnectionTrait>(
    conn: &C,
    query: Select<member::Entity>,
) -> Result<Vec<Member>, StoreError> {
    let rows = query.all(conn).await.map_err(map_db_err)?;
    rows.into_iter().map(to_member).collect()
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} {value:?} is not valid"))
}

fn to_member(row: member::Model) -> Result<Member, StoreError> {
    Ok(Member {
        id: MemberId(row.id),
        site_id: SiteId::parse(&row.site_id).map_err(|_| corrupt("site", &row.site_id))?,
        login_id: LoginId::parse(&row.login_id).map_err(|_| corrupt("login ID", &row.login_id))?,
        email: Email::parse(&row.email).map_err(|_| corrupt("e-mail", &row.email))?,
        name: row.name,
        member_type: MemberType::from_code(&row.member_type)
            .ok_or_else(|| corrupt("member type", &row.member_type))?,
        join_type: JoinType::from_code(&row.join_type).ok_or_else(|| corrupt("join type", &row.join_type))?,
        ci_hash: match (row.ci_hash, row.ci_key_id) {
            (Some(hash), key) => Some(StoredCiHash {
                hash: CiHash(hash),
                key: key
                    .map(|k| KeyId::parse(&k).map_err(|_| corrupt("key id", &k)))
                    .transpose()?,
            }),
            (None, _) => None,
        },
        password_hash: row.password_hash.map(StoredHash),
        password_changed_at: row.password_changed_at.map(to_utc),
        joined_at: to_utc(row.joined_at),
        status: MemberStatus::from_code(&row.status).ok_or_else(|| corrupt("status", &row.status))?,
        sign_in_locked: row.sign_in_locked,
        password_history: None,
    })
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
