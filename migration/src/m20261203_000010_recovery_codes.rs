//! Saved recovery codes (only their keyed hashes, one set per member), and on audit rows the keyed
//! hash of the identifier an attempt was made with, so the owner sees strangers' wrong codes.
use sea_orm_migration::{prelude::*, schema::*};

use crate::{Members, Sites};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    SiteId,
    MemberId,
    /// Keyed hash of the code bound to the member's login ID key (hex, 64 characters): unique, the
    /// one index a presented code is looked up by.
    CodeHash,
    /// Which generation of the member's codes the row belongs to.
    SetId,
    CreatedAt,
    /// Set when the code is spent (a conditional UPDATE: exactly one caller spends it).
    UsedAt,
}

/// The new column of `audit_events`.
#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    IdentifierKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RecoveryCodes::Id))
                    .col(string_len(RecoveryCodes::SiteId, 32))
                    .col(string_len(RecoveryCodes::MemberId, 36))
                    .col(string_len(RecoveryCodes::CodeHash, 64))
                    .col(string_len(RecoveryCodes::SetId, 32))
                    .col(date_time(RecoveryCodes::CreatedAt))
                    .col(date_time_null(RecoveryCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_codes_member")
                            .from(RecoveryCodes::Table, RecoveryCodes::MemberId)
                            .to(Members::Table, Members::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_codes_site")
                            .from(RecoveryCodes::Table, RecoveryCodes::SiteId)
                            .to(Sites::Table, Sites::Id),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("ux_recovery_codes_hash")
                .table(RecoveryCodes::Table)
                .col(RecoveryCodes::CodeHash)
                .unique()
                .to_owned(),
            Index::create()
                .name("ix_recovery_codes_member")
                .table(RecoveryCodes::Table)
                .col(RecoveryCodes::MemberId)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(string_len_null(AuditEvents::IdentifierKey, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_identifier")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::IdentifierKey)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_audit_events_identifier")
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::IdentifierKey)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RecoveryCodes::Table).to_owned())
            .await
    }
}
