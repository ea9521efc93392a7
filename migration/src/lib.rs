//! The database schema, as ordered, backend-neutral migrations (SQLite, PostgreSQL, MySQL/MariaDB).
pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_sites;
mod m20261124_000002_create_members;
mod m20261124_000003_create_password_history;
mod m20261124_000004_create_audit_events;
mod m20261124_000005_create_mail_outbox;
mod m20261201_000006_byte_wise_member_keys;
mod m20261202_000007_change_reports;
mod m20261202_000008_reset_hand_off;
mod m20261203_000010_recovery_codes;
mod m20261206_000011_key_ids;
mod m20261206_000012_audit_activity_indexes;
mod m20261207_000013_casefold_login_keys;
mod m20261207_000014_scim_members;
mod m20261207_000015_delivery_queue;

/// Migration 000013's own copy of the key rules, for the test that holds it equal to the domain's.
#[doc(hidden)]
pub use m20261207_000013_casefold_login_keys::{login_id_key, login_id_skeleton};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_sites::Migration),
            Box::new(m20261124_000002_create_members::Migration),
            Box::new(m20261124_000003_create_password_history::Migration),
            Box::new(m20261124_000004_create_audit_events::Migration),
            Box::new(m20261124_000005_create_mail_outbox::Migration),
            Box::new(m20261201_000006_byte_wise_member_keys::Migration),
            Box::new(m20261202_000007_change_reports::Migration),
            Box::new(m20261202_000008_reset_hand_off::Migration),
            Box::new(m20261203_000010_recovery_codes::Migration),
            Box::new(m20261206_000011_key_ids::Migration),
            Box::new(m20261206_000012_audit_activity_indexes::Migration),
            Box::new(m20261207_000013_casefold_login_keys::Migration),
            Box::new(m20261207_000014_scim_members::Migration),
            Box::new(m20261207_000015_delivery_queue::Migration),
        ]
    }
}

/// Table and column names shared by the migrations (and their foreign keys).
#[derive(DeriveIden)]
pub(crate) enum Sites {
    Table,
    Id,
    Name,
    PasswordPolicy,
    CreatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Members {
    Table,
    Id,
    SiteId,
    LoginId,
    LoginIdKey,
    Email,
    Name,
    MemberType,
    JoinType,
    CiHash,
    PasswordHash,
    PasswordChangedAt,
    JoinedAt,
    Status,
    CreatedAt,
    UpdatedAt,
}
