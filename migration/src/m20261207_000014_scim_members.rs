//! What SCIM provisioning keeps per member: the host's own id (`externalId`, filtered on, compared
//! byte-wise on every backend as the other keys are) and a revision that every provisioning write
//! bumps, so a write conditional on what the host last read (`If-Match`) is one UPDATE.
use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Members {
    Table,
    SiteId,
    ExternalId,
    Revision,
}

/// MySQL/MariaDB's default collation folds case and accents; `externalId` is case-exact (RFC 7643).
const MYSQL_EXTERNAL_ID: &str = "ALTER TABLE `members` ADD COLUMN `external_id` \
    VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        if manager.get_database_backend() == DbBackend::MySql {
            manager
                .get_connection()
                .execute_unprepared(MYSQL_EXTERNAL_ID)
                .await?;
        } else {
            manager
                .alter_table(
                    Table::alter()
                        .table(Members::Table)
                        .add_column(ColumnDef::new(Members::ExternalId).string_len(255).null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .add_column(
                        ColumnDef::new(Members::Revision)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_members_site_external_id")
                    .table(Members::Table)
                    .col(Members::SiteId)
                    .col(Members::ExternalId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_members_site_external_id")
                    .table(Members::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Members::Revision, Members::ExternalId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Members::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
