//! "That wasn't me": a member flag that locks password sign-in until the next reset, and the
//! single-use report tokens of password-changed notices (only their SHA-256 is stored).
use sea_orm_migration::{prelude::*, schema::*};

use crate::Members;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeReports {
    Table,
    TokenHash,
    MemberId,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

/// The new column of `members`.
#[derive(DeriveIden)]
enum MemberFlags {
    SignInLocked,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .add_column(boolean(MemberFlags::SignInLocked).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChangeReports::Table)
                    .if_not_exists()
                    .col(string_len(ChangeReports::TokenHash, 64).primary_key())
                    .col(string_len(ChangeReports::MemberId, 36))
                    .col(date_time(ChangeReports::ExpiresAt))
                    .col(date_time_null(ChangeReports::UsedAt))
                    .col(date_time(ChangeReports::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_change_reports_member")
                            .from(ChangeReports::Table, ChangeReports::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_change_reports_member")
                    .table(ChangeReports::Table)
                    .col(ChangeReports::MemberId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChangeReports::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .drop_column(MemberFlags::SignInLocked)
                    .to_owned(),
            )
            .await
    }
}
