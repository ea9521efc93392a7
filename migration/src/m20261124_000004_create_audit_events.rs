//! Audit events: one row per recovery event; never a password, token, code or `ci`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    SiteId,
    MemberId,
    Kind,
    Outcome,
    ClientAddr,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(string_len(AuditEvents::SiteId, 32))
                    .col(string_len_null(AuditEvents::MemberId, 36))
                    .col(string_len(AuditEvents::Kind, 32))
                    .col(string_len(AuditEvents::Outcome, 32))
                    .col(string_len_null(AuditEvents::ClientAddr, 64))
                    .col(date_time(AuditEvents::OccurredAt))
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("ix_audit_events_member")
                .table(AuditEvents::Table)
                .col(AuditEvents::MemberId)
                .col(AuditEvents::OccurredAt)
                .to_owned(),
            Index::create()
                .name("ix_audit_events_site")
                .table(AuditEvents::Table)
                .col(AuditEvents::SiteId)
                .col(AuditEvents::OccurredAt)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
