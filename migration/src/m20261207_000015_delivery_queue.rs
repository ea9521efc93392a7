//! One durable delivery queue for everything the service sends: the mail outbox becomes `outbox`,
//! whose rows are mail or webhook events (`channel`), claimed, leased, retried and pruned by one
//! implementation; and the host's webhook endpoints, with their signing secrets sealed.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    // MAIL or WEBHOOK; every row before this migration is mail.
    Channel,
    // A webhook event's body (JSON, never a secret: see domain/webhook.rs); NULL for mail, whose
    // body is sealed, and once the event is delivered or given up.
    Payload,
    Status,
    NextAttemptAt,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    // The signing secrets (`whsec_…`, space-separated), sealed under the ring key named beside them.
    Secrets,
    SealKeyId,
    // Event type names, space-separated; NULL: every event.
    Events,
    // ACTIVE or DISABLED (the target answered 410 Gone).
    Status,
    DisabledReason,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .rename_table(Table::rename().table(MailOutbox::Table, Outbox::Table).to_owned())
            .await?;
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(
                        ColumnDef::new(Outbox::Channel)
                            .string_len(16)
                            .not_null()
                            .default("MAIL"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(ColumnDef::new(Outbox::Payload).text().null())
                    .to_owned(),
            )
            .await?;
        // A claim reads one channel's due rows: the channel leads the index.
        manager
            .drop_index(
                Index::drop()
                    .name("ix_mail_outbox_due")
                    .table(Outbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::Channel)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .if_not_exists()
                    .col(string_len(WebhookEndpoints::Id, 40).primary_key())
                    .col(string_len(WebhookEndpoints::Url, 2048))
                    .col(text(WebhookEndpoints::Secrets))
                    .col(string_len(WebhookEndpoints::SealKeyId, 64))
                    .col(text_null(WebhookEndpoints::Events))
                    .col(string_len(WebhookEndpoints::Status, 16))
                    .col(string_len_null(WebhookEndpoints::DisabledReason, 500))
                    .col(date_time(WebhookEndpoints::CreatedAt))
                    .col(date_time(WebhookEndpoints::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM outbox WHERE channel <> 'MAIL'")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_outbox_due")
                    .table(Outbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mail_outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        for column in [Outbox::Payload, Outbox::Channel] {
            manager
                .alter_table(Table::alter().table(Outbox::Table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .rename_table(Table::rename().table(Outbox::Table, MailOutbox::Table).to_owned())
            .await
    }
}
