//! The key id beside every stored keyed hash and sealed body (SECRET_KEYS is a keyring). Rows that
//! exist when this runs keep NULL: made by the pre-keyring derivation (HMAC under the whole secret,
//! no associated data), which the ring applies under the key named `legacy`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Members {
    Table,
    /// The ring key of `ci_hash`.
    CiKeyId,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    /// The ring key of `code_hash`.
    KeyId,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    /// The ring key of `identifier_key`.
    IdentifierKeyId,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    /// The ring key `sealed` was sealed under.
    SealKeyId,
}

/// Each column alone: SQLite alters one column per statement.
fn columns() -> [(DynIden, DynIden); 4] {
    [
        (Members::Table.into_iden(), Members::CiKeyId.into_iden()),
        (RecoveryCodes::Table.into_iden(), RecoveryCodes::KeyId.into_iden()),
        (MailOutbox::Table.into_iden(), MailOutbox::SealKeyId.into_iden()),
        (
            AuditEvents::Table.into_iden(),
            AuditEvents::IdentifierKeyId.into_iden(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_len_null(column, 16))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns() {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
