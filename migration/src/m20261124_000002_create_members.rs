//! Members, with the indexes recovery looks them up by: site + normalised login ID (unique),
//! site + e-mail, site + keyed hash of the identity value `ci`.
use sea_orm_migration::{prelude::*, schema::*};

use crate::{Members, Sites};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Members::Table)
                    .if_not_exists()
                    .col(string_len(Members::Id, 36).primary_key())
                    .col(string_len(Members::SiteId, 32))
                    .col(string_len(Members::LoginId, 64))
                    // NFKC + lowercase form: case-insensitive uniqueness on every backend.
                    .col(string_len(Members::LoginIdKey, 64))
                    .col(string_len(Members::Email, 254))
                    .col(string_len(Members::Name, 200))
                    .col(string_len(Members::MemberType, 16))
                    .col(string_len(Members::JoinType, 16))
                    // HMAC-SHA256 under SECRET_KEY, hex; the clear value is never stored.
                    .col(string_len_null(Members::CiHash, 64))
                    .col(string_len_null(Members::PasswordHash, 255))
                    .col(date_time_null(Members::PasswordChangedAt))
                    .col(date_time(Members::JoinedAt))
                    .col(string_len(Members::Status, 16))
                    .col(date_time(Members::CreatedAt))
                    .col(date_time(Members::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_members_site")
                            .from(Members::Table, Members::SiteId)
                            .to(Sites::Table, Sites::Id),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes = [
            Index::create()
                .name("ux_members_site_login")
                .table(Members::Table)
                .col(Members::SiteId)
                .col(Members::LoginIdKey)
                .unique()
                .to_owned(),
            Index::create()
                .name("ix_members_site_email")
                .table(Members::Table)
                .col(Members::SiteId)
                .col(Members::Email)
                .to_owned(),
            Index::create()
                .name("ix_members_site_ci")
                .table(Members::Table)
                .col(Members::SiteId)
                .col(Members::CiHash)
                .to_owned(),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Members::Table).to_owned())
            .await
    }
}
