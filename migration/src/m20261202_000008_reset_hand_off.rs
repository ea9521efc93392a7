//! Reset hand-off: `reset_requests` holds the e-mail reset requests handed off by the request path
//! when there is no Redis, until a resolver claims (lease) and resolves them; `mail_outbox.dedup_key`
//! makes a request resolved twice queue its mail once.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResetRequests {
    Table,
    Id,
    // The request as JSON (site, language, client, address, login ID, nonce).
    Payload,
    // How many times a resolver claimed it; more than one means a resolver died holding it.
    Claims,
    // NULL until claimed; claimable again once passed.
    ClaimedUntil,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    DedupKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ResetRequests::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ResetRequests::Id))
                    .col(text(ResetRequests::Payload))
                    .col(integer(ResetRequests::Claims).default(0))
                    .col(date_time_null(ResetRequests::ClaimedUntil))
                    .col(date_time(ResetRequests::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MailOutbox::Table)
                    .add_column(string_len_null(MailOutbox::DedupKey, 64))
                    .to_owned(),
            )
            .await?;
        // NULLs never collide, so only keyed mail is deduplicated.
        manager
            .create_index(
                Index::create()
                    .name("ux_mail_outbox_dedup_key")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::DedupKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_mail_outbox_dedup_key")
                    .table(MailOutbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MailOutbox::Table)
                    .drop_column(MailOutbox::DedupKey)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ResetRequests::Table).to_owned())
            .await
    }
}
