//! Password history: earlier hashes per member, for the reuse rule.
use sea_orm_migration::{prelude::*, schema::*};

use crate::Members;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PasswordHistory {
    Table,
    Id,
    MemberId,
    PasswordHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PasswordHistory::Table)
                    .if_not_exists()
                    .col(big_pk_auto(PasswordHistory::Id))
                    .col(string_len(PasswordHistory::MemberId, 36))
                    .col(string_len(PasswordHistory::PasswordHash, 255))
                    .col(date_time(PasswordHistory::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_history_member")
                            .from(PasswordHistory::Table, PasswordHistory::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_password_history_member")
                    .table(PasswordHistory::Table)
                    .col(PasswordHistory::MemberId)
                    .col(PasswordHistory::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PasswordHistory::Table).to_owned())
            .await
    }
}
