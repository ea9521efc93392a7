//! SeaORM entities of the tables the migrations create. Only `infra::db` sees them.

pub mod site {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sites")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub password_policy: Option<String>,
        pub created_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub site_id: String,
        pub login_id: String,
        pub login_id_key: String,
        /// SHA-256 (hex) of the UTS #39 skeleton of the key: equal for look-alike login IDs.
        pub login_id_skeleton: String,
        pub email: String,
        pub name: String,
        pub member_type: String,
        pub join_type: String,
        pub ci_hash: Option<String>,
        /// The ring key of `ci_hash`; NULL for hashes made before the keyring.
        pub ci_key_id: Option<String>,
        pub password_hash: Option<String>,
        pub password_changed_at: Option<DateTime>,
        pub joined_at: DateTime,
        pub status: String,
        pub created_at: DateTime,
        pub updated_at: DateTime,
        pub sign_in_locked: bool,
        /// The host's own id of the member (SCIM `externalId`).
        pub external_id: Option<String>,
        /// Bumped by every provisioning write: the basis of SCIM's `meta.version`.
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// Read with the member by id (one query for a reset's member and its reuse check).
        #[sea_orm(has_many = "super::password_history::Entity")]
        History,
    }

    impl Related<super::password_history::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::History.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod password_history {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "password_history")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub member_id: String,
        pub password_hash: String,
        pub created_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::member::Entity",
            from = "Column::MemberId",
            to = "super::member::Column::Id"
        )]
        Member,
    }

    impl Related<super::member::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Member.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub site_id: String,
        pub member_id: Option<String>,
        pub kind: String,
        pub outcome: String,
        pub client_addr: Option<String>,
        pub occurred_at: DateTime,
        pub identifier_key: Option<String>,
        /// The ring key of `identifier_key`; NULL for attempts recorded before the keyring.
        pub identifier_key_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub site_id: String,
        pub member_id: Option<String>,
        pub kind: String,
        pub recipient: String,
        pub sealed: Option<String>,
        /// The ring key `sealed` was sealed under (bound to `dedup_key`); NULL: before the keyring.
        pub seal_key_id: Option<String>,
        pub grant_ref: Option<String>,
        pub status: String,
        pub attempts: i32,
        pub next_attempt_at: DateTime,
        pub last_error: Option<String>,
        pub created_at: DateTime,
        pub sent_at: Option<DateTime>,
        pub dedup_key: Option<String>,
        /// MAIL or WEBHOOK.
        pub channel: String,
        /// A webhook event's body (never a secret); NULL for mail and once finished.
        pub payload: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook_endpoint {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub url: String,
        /// The signing secrets, sealed under `seal_key_id`, bound to the endpoint's id.
        pub secrets: String,
        pub seal_key_id: String,
        /// Event type names, space-separated; NULL: every event.
        pub events: Option<String>,
        pub status: String,
        pub disabled_reason: Option<String>,
        pub created_at: DateTime,
        pub updated_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod reset_request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reset_requests")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub payload: String,
        pub claims: i32,
        pub claimed_until: Option<DateTime>,
        pub created_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod change_report {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_reports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub member_id: String,
        pub expires_at: DateTime,
        pub used_at: Option<DateTime>,
        pub created_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod recovery_code {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recovery_codes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub site_id: String,
        pub member_id: String,
        pub code_hash: String,
        /// The ring key of `code_hash`; NULL for codes saved before the keyring.
        pub key_id: Option<String>,
        pub set_id: String,
        pub created_at: DateTime,
        pub used_at: Option<DateTime>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
