//! "That wasn't me" report tokens, written in the transaction of the mail that carries their link
//! (a password-changed notice, a new recovery-code set's notice).
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait};

use super::{entities::change_report, map_db_err, time::to_naive};
use crate::{
    domain::member::MemberId,
    recovery::ports::{NewChangeReport, StoreError},
};

/// The report token of a "that wasn't me" link, stored in the transaction that mails the link.
pub(crate) async fn insert_report(
    txn: &DatabaseTransaction,
    member: &MemberId,
    report: &NewChangeReport,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = change_report::ActiveModel {
        token_hash: Set(report.token.0.clone()),
        member_id: Set(member.0.clone()),
        expires_at: Set(to_naive(report.expires_at)),
        used_at: Set(None),
        created_at: Set(to_naive(at)),
    };
    change_report::Entity::insert(row)
        .exec(txn)
        .await
        .map_err(map_db_err)?;
    Ok(())
}
