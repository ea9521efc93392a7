//! Sites: every member belongs to one; a site may carry its own password policy (JSON).
use sea_orm_migration::{prelude::*, schema::*};

use crate::Sites;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sites::Table)
                    .if_not_exists()
                    .col(string_len(Sites::Id, 32).primary_key())
                    .col(string_len(Sites::Name, 200))
                    .col(text_null(Sites::PasswordPolicy))
                    .col(date_time(Sites::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sites::Table).to_owned())
            .await
    }
}
