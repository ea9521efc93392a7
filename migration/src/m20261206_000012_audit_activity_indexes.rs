//! The indexes `recoveryActivity` pages by: a member's rows and each identifier's rows, each in
//! id order, so a page is an index range scan of `limit` rows however many rows others (or a long
//! guessing attack on the member's identifiers) left in the table. They replace the
//! (member_id, occurred_at) and (identifier_key) indexes, which made the planner walk the primary
//! key backwards and filter.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    MemberId,
    OccurredAt,
    IdentifierKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, col) in [
            ("ix_audit_events_member_id", AuditEvents::MemberId),
            ("ix_audit_events_identifier_id", AuditEvents::IdentifierKey),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(col)
                        .col(AuditEvents::Id)
                        .to_owned(),
                )
                .await?;
        }
        for old in ["ix_audit_events_member", "ix_audit_events_identifier"] {
            manager
                .drop_index(Index::drop().name(old).table(AuditEvents::Table).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_member")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::MemberId)
                    .col(AuditEvents::OccurredAt)
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
            .await?;
        for new in ["ix_audit_events_member_id", "ix_audit_events_identifier_id"] {
            manager
                .drop_index(Index::drop().name(new).table(AuditEvents::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
