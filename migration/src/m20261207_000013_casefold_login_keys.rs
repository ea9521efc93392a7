//! Login-ID keys become NFKC_Casefold (`straße` = `STRASSE`, final sigma = sigma, invisible
//! Hangul fillers dropped), and every member gets `login_id_skeleton`, the digest of the UTS #39
//! skeleton of its key, indexed per site, so a new look-alike login ID can be refused.
//!
//! Members whose recomputed keys would collide on a site (or whose key would be empty or longer
//! than 50 characters) are reported by id and site, and nothing is changed: merging them would
//! hand one member's sign-ins and resets to the other, and keeping an old key would let one member
//! reach the other's account by typing their own ID. The operator renames one, then migrates again.
//!
//! Not recomputed: e-mails (printable ASCII, stored lowercased, which NFKC_Casefold leaves as is);
//! the audit log's identifier keys, which are HMACs of the key under SECRET_KEYS, made from an
//! identifier that is not stored (an affected ID's older attempts keep the old hash).
use std::collections::{BTreeMap, BTreeSet};

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizer;
use icu_properties::{CodePointSetData, props::DefaultIgnorableCodePoint};
use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, QueryResult},
};
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Members {
    Table,
    Id,
    SiteId,
    LoginId,
    LoginIdKey,
    LoginIdSkeleton,
}

const INDEX: &str = "ix_members_site_skeleton";
/// Longest key, in characters: the domain's limit for a login ID and its key.
const MAX_KEY_CHARS: usize = 50;
const PAGE: u64 = 1000;

/// The key as `domain::casefold::nfkc_casefold` makes it: NFKC, case folding and removal of
/// default-ignorables until stable. A copy, because migrations cannot use the service's crate;
/// `tests/api/casefold_keys.rs` holds the two equal.
#[doc(hidden)]
pub fn login_id_key(login_id: &str) -> String {
    if login_id.is_ascii() {
        return login_id.to_ascii_lowercase();
    }
    let nfkc = ComposingNormalizer::new_nfkc();
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    let mut current = login_id.to_owned();
    for _ in 0..4 {
        let folded = CaseMapper::new()
            .fold_string(&nfkc.normalize(&current))
            .into_owned();
        let visible: String = folded.chars().filter(|c| !ignorable.contains(*c)).collect();
        let next = nfkc.normalize(&visible).into_owned();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// The stored skeleton of a key, as `domain::confusables::LoginIdSkeleton` makes it.
#[doc(hidden)]
pub fn login_id_skeleton(key: &str) -> String {
    let skeleton: String = unicode_security::skeleton(key).collect();
    Sha256::digest(skeleton.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key before this migration: NFKC, then lowercase.
fn old_key(login_id: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    login_id.nfkc().collect::<String>().to_lowercase()
}

struct Row {
    id: String,
    site: String,
    login_id: String,
    key: String,
}

fn text(row: &QueryResult, column: &str) -> Result<String, DbErr> {
    row.try_get::<String>("", column)
}

async fn members_after(manager: &SchemaManager<'_>, after: &str) -> Result<Vec<Row>, DbErr> {
    let query = Query::select()
        .columns([
            Members::Id,
            Members::SiteId,
            Members::LoginId,
            Members::LoginIdKey,
        ])
        .from(Members::Table)
        .and_where(Expr::col(Members::Id).gt(after))
        .order_by(Members::Id, Order::Asc)
        .limit(PAGE)
        .to_owned();
    let rows = manager.get_connection().query_all(&query).await?;
    rows.iter()
        .map(|r| {
            Ok(Row {
                id: text(r, "id")?,
                site: text(r, "site_id")?,
                login_id: text(r, "login_id")?,
                key: text(r, "login_id_key")?,
            })
        })
        .collect()
}

/// Every member, a page at a time in id order.
#[derive(Default)]
struct Pages {
    after: String,
}

impl Pages {
    async fn next(&mut self, manager: &SchemaManager<'_>) -> Result<Option<Vec<Row>>, DbErr> {
        let page = members_after(manager, &self.after).await?;
        Ok(page.last().map(|last| last.id.clone()).map(|last| {
            self.after = last;
            page
        }))
    }
}

async fn set(manager: &SchemaManager<'_>, id: &str, column: Members, value: String) -> Result<(), DbErr> {
    let update = Query::update()
        .table(Members::Table)
        .value(column, value)
        .and_where(Expr::col(Members::Id).eq(id))
        .to_owned();
    manager.get_connection().execute(&update).await.map(|_| ())
}

/// The ids of the members on `site` whose key is `key`.
async fn holders(manager: &SchemaManager<'_>, site: &str, key: &str) -> Result<Vec<String>, DbErr> {
    let query = Query::select()
        .column(Members::Id)
        .from(Members::Table)
        .and_where(Expr::col(Members::SiteId).eq(site))
        .and_where(Expr::col(Members::LoginIdKey).eq(key))
        .to_owned();
    let rows = manager.get_connection().query_all(&query).await?;
    rows.iter().map(|r| text(r, "id")).collect()
}

/// Every problem that would keep the new keys from being stored, before anything is written. Keys
/// were unique per site before, so a collision involves at least one key that changes.
async fn problems(manager: &SchemaManager<'_>) -> Result<(Vec<(String, String)>, Vec<String>), DbErr> {
    let mut changed = Vec::new();
    let mut problems = Vec::new();
    let mut pages = Pages::default();
    while let Some(page) = pages.next(manager).await? {
        for row in page {
            let key = login_id_key(&row.login_id);
            let length = key.chars().count();
            if length == 0 || length > MAX_KEY_CHARS {
                problems.push(format!(
                    "member {} on site {}: the login ID's key would be {length} characters \
                     (1 to {MAX_KEY_CHARS} allowed)",
                    row.id, row.site
                ));
            }
            if key != row.key {
                changed.push((row, key));
            }
        }
    }
    let moving: BTreeSet<&str> = changed.iter().map(|(row, _)| row.id.as_str()).collect();
    let mut sharing: BTreeMap<(&str, &str), BTreeSet<String>> = BTreeMap::new();
    for (row, key) in &changed {
        let ids = sharing.entry((row.site.as_str(), key.as_str())).or_default();
        ids.insert(row.id.clone());
        for holder in holders(manager, &row.site, key).await? {
            if !moving.contains(holder.as_str()) {
                ids.insert(holder);
            }
        }
    }
    for ((site, _), ids) in &sharing {
        if ids.len() > 1 {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            problems.push(format!(
                "members {} on site {site} would share one login-ID key",
                ids.join(", ")
            ));
        }
    }
    let updates = changed.into_iter().map(|(row, key)| (row.id, key)).collect();
    Ok((updates, problems))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (updates, problems) = problems(manager).await?;
        if !problems.is_empty() {
            return Err(DbErr::Migration(format!(
                "login-ID keys not recomputed, nothing changed: {}. Give all but one of each group \
                 another login ID (docs/OPERATIONS.md, \"Login-ID keys\"), then migrate again",
                problems.join("; ")
            )));
        }
        // Each step can be run again: MySQL/MariaDB and SQLite do not roll back schema changes.
        if !manager.has_column("members", "login_id_skeleton").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Members::Table)
                        .add_column(string_len(Members::LoginIdSkeleton, 64).default(""))
                        .to_owned(),
                )
                .await?;
        }
        for (id, key) in updates {
            set(manager, &id, Members::LoginIdKey, key).await?;
        }
        let mut pages = Pages::default();
        while let Some(page) = pages.next(manager).await? {
            for row in page {
                let skeleton = login_id_skeleton(&login_id_key(&row.login_id));
                set(manager, &row.id, Members::LoginIdSkeleton, skeleton).await?;
            }
        }
        if !manager.has_index("members", INDEX).await? {
            manager
                .create_index(
                    Index::create()
                        .name(INDEX)
                        .table(Members::Table)
                        .col(Members::SiteId)
                        .col(Members::LoginIdSkeleton)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// Back to NFKC + lowercase keys, which tell apart every pair NFKC_Casefold does, so the
    /// unique index holds.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Members::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Members::Table)
                    .drop_column(Members::LoginIdSkeleton)
                    .to_owned(),
            )
            .await?;
        let mut pages = Pages::default();
        while let Some(page) = pages.next(manager).await? {
            for row in page {
                let key = old_key(&row.login_id);
                if key != row.key {
                    set(manager, &row.id, Members::LoginIdKey, key).await?;
                }
            }
        }
        Ok(())
    }
}
