//! Counts, per stored key id, the rows whose keyed hash or sealed body was made under it (NULL: the
//! pre-keyring derivation): what `keys status` reports before a key is retired.
use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Select, sea_query::Expr,
};

use super::{
    entities::{audit_event, member, outbox, recovery_code, webhook_endpoint},
    map_db_err,
};
use crate::{domain::key_usage::KeyCounts, recovery::ports::StoreError};

/// `SELECT key, COUNT(*) … GROUP BY key` over `query`.
async fn by_key<E: EntityTrait>(
    db: &DatabaseConnection,
    query: Select<E>,
    key: impl ColumnTrait,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    query
        .select_only()
        .column(key)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(key)
        .into_tuple()
        .all(db)
        .await
        .map_err(map_db_err)
}

pub async fn key_usage(db: &DatabaseConnection) -> Result<BTreeMap<Option<String>, KeyCounts>, StoreError> {
    let mut usage: BTreeMap<Option<String>, KeyCounts> = BTreeMap::new();
    let mut add = |rows: Vec<(Option<String>, i64)>, field: fn(&mut KeyCounts) -> &mut u64| {
        for (key, n) in rows {
            *field(usage.entry(key).or_default()) += u64::try_from(n).unwrap_or(0);
        }
    };
    let members = member::Entity::find().filter(member::Column::CiHash.is_not_null());
    add(by_key(db, members, member::Column::CiKeyId).await?, |c| {
        &mut c.identity_hashes
    });
    let codes = recovery_code::Entity::find().filter(recovery_code::Column::UsedAt.is_null());
    add(by_key(db, codes, recovery_code::Column::KeyId).await?, |c| {
        &mut c.recovery_codes
    });
    let mail = outbox::Entity::find().filter(outbox::Column::Sealed.is_not_null());
    add(by_key(db, mail, outbox::Column::SealKeyId).await?, |c| {
        &mut c.sealed_mail
    });
    let endpoints = webhook_endpoint::Entity::find();
    add(
        by_key(db, endpoints, webhook_endpoint::Column::SealKeyId).await?,
        |c| &mut c.webhook_secrets,
    );
    let audit = audit_event::Entity::find().filter(audit_event::Column::IdentifierKey.is_not_null());
    add(
        by_key(db, audit, audit_event::Column::IdentifierKeyId).await?,
        |c| &mut c.audit_identifiers,
    );
    Ok(usage)
}
