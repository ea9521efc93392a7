//! The normalised member keys (login ID key, e-mail) compare byte-wise on every backend, as the
//! domain and throttle keys do: a binary collation on MySQL/MariaDB, whose default folds accents
//! (`alicé01` = `alice01`); SQLite and PostgreSQL already compare bytes, so there nothing changes.
use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `MODIFY` keeps the columns' indexes (`ux_members_site_login`, `ix_members_site_email`) and
/// rebuilds them under the new collation; the lengths match migration 000002.
const UP: &str = "ALTER TABLE `members` \
    MODIFY `login_id_key` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
    MODIFY `email` VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";

/// Back to the table's default collation. Fails if two keys differ only in ways that default
/// folds (the unique index would refuse them), which is the point of the migration.
const DOWN: &str = "ALTER TABLE `members` \
    MODIFY `login_id_key` VARCHAR(64) NOT NULL, \
    MODIFY `email` VARCHAR(254) NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::MySql {
            manager.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::MySql {
            manager.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}
