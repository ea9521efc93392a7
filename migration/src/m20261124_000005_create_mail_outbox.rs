//! Mail outbox: messages written in the same transaction as the state change, delivered by a
//! background worker. Bodies are encrypted under SECRET_KEY and cleared once sent.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    SiteId,
    MemberId,
    Kind,
    Recipient,
    // Encrypted message (subject, text and HTML bodies); NULL once sent or dropped.
    Sealed,
    // The grants the message carries ("site:member/grant-id", space separated), to drop it when
    // none of them is live any more.
    GrantRef,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    CreatedAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .if_not_exists()
                    .col(big_pk_auto(MailOutbox::Id))
                    .col(string_len(MailOutbox::SiteId, 32))
                    .col(string_len_null(MailOutbox::MemberId, 36))
                    .col(string_len(MailOutbox::Kind, 32))
                    .col(string_len(MailOutbox::Recipient, 254))
                    .col(text_null(MailOutbox::Sealed))
                    .col(text_null(MailOutbox::GrantRef))
                    .col(string_len(MailOutbox::Status, 16))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .col(date_time(MailOutbox::NextAttemptAt))
                    .col(string_len_null(MailOutbox::LastError, 500))
                    .col(date_time(MailOutbox::CreatedAt))
                    .col(date_time_null(MailOutbox::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mail_outbox_due")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::Status)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await
    }
}
