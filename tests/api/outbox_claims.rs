//! The outbox's claims on every backend: concurrent claimers never share a row, a claim not
//! settled within its lease is claimed again and the stale claimer can no longer settle it, a
//! release hands mail back without counting an attempt, and pruning deletes only finished mail
//! past its retention.
use std::{collections::HashSet, sync::Arc, time::Duration};

use account_recovery::{
    domain::{keyring::Keyring, mail_kind::MailKind, site::SiteId},
    infra::{
        db::{self, entities::outbox, outbox::SeaOutbox},
        sealer::Sealer,
    },
    recovery::ports::{DeliveryOutcome, DeliveryQueue, MailMeta, MailOutbox, OutgoingMail, Queued, Settled},
};
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::helpers::{Backend, TEST_SECRET_KEY, backend_test, fresh_database};

async fn outbox_on(backend: &Backend) -> (Arc<SeaOutbox>, DatabaseConnection) {
    let url = fresh_database(backend).await;
    let db = db::connect(&url, 10, Duration::from_secs(5), db::StatementLimit::None)
        .await
        .unwrap();
    db::migrate(&db).await.unwrap();
    let sealer = Sealer::new(&Keyring::single(TEST_SECRET_KEY.as_bytes()));
    (Arc::new(SeaOutbox::new(db.clone(), sealer)), db)
}

fn meta() -> MailMeta {
    MailMeta {
        site: SiteId::parse("main").unwrap(),
        member: None,
        kind: MailKind::PasswordChanged,
        grants: Vec::new(),
    }
}

fn mail(i: usize) -> OutgoingMail {
    OutgoingMail {
        to: format!("m{i}@example.com"),
        subject: format!("Notice {i}"),
        text: "text".into(),
        html: "<p>html</p>".into(),
    }
}

async fn row(db: &DatabaseConnection, id: i64) -> outbox::Model {
    outbox::Entity::find_by_id(id).one(db).await.unwrap().unwrap()
}

#[backend_test]
async fn concurrent_claimers_never_share_a_row(backend: Backend) {
    let label = backend.name();
    let (outbox, _db) = outbox_on(&backend).await;
    for i in 0..300 {
        outbox.enqueue(&meta(), &mail(i)).await.unwrap();
    }
    let mut claimers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let outbox = outbox.clone();
        claimers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = outbox.claim_due(7, Duration::from_secs(60), true).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|c| (c.id, c.attempts, c.mail.to)));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(mine) = claimers.join_next().await {
        all.extend(mine.unwrap());
    }
    let ids: HashSet<i64> = all.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(all.len(), 300, "[{label}] every row claimed once");
    assert_eq!(ids.len(), 300, "[{label}] no row claimed twice");
    assert!(all.iter().all(|(_, attempts, _)| *attempts == 1), "[{label}]");
    let recipients: HashSet<&str> = all.iter().map(|(_, _, to)| to.as_str()).collect();
    assert_eq!(recipients.len(), 300, "[{label}] bodies opened");
    assert!(
        outbox
            .claim_due(10, Duration::from_secs(60), true)
            .await
            .unwrap()
            .is_empty(),
        "[{label}] claimed rows are leased"
    );
}

#[backend_test]
async fn a_lapsed_claim_is_claimed_again_and_its_claimer_settles_nothing(backend: Backend) {
    let label = backend.name();
    let (outbox, db) = outbox_on(&backend).await;
    outbox.enqueue(&meta(), &mail(1)).await.unwrap();
    let first = outbox.claim_due(5, Duration::from_secs(1), true).await.unwrap();
    assert_eq!(first.len(), 1, "[{label}]");
    assert!(
        outbox
            .claim_due(5, Duration::from_secs(1), true)
            .await
            .unwrap()
            .is_empty()
    );
    // MariaDB keeps whole seconds: wait out any rounding.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        outbox
            .claim_due(5, Duration::from_secs(60), false)
            .await
            .unwrap()
            .is_empty(),
        "[{label}] a claim of pending mail alone leaves lapsed claims to the sweep"
    );
    let second = outbox.claim_due(5, Duration::from_secs(60), true).await.unwrap();
    assert_eq!(second.len(), 1, "[{label}] claimed again after the lease");
    assert_eq!((second[0].id, second[0].attempts), (first[0].id, 2), "[{label}]");

    let sent = |claim| Settled {
        claim,
        outcome: DeliveryOutcome::Sent,
    };
    outbox.settle(&[sent(first[0].claim())], &[]).await.unwrap();
    let stale = row(&db, first[0].id).await;
    assert_eq!(
        stale.status, "SENDING",
        "[{label}] the lapsed claim changed nothing"
    );
    assert!(stale.sealed.is_some());

    let retry = Settled {
        claim: second[0].claim(),
        outcome: DeliveryOutcome::Retry {
            error: "421 try later".into(),
            after: Duration::ZERO,
        },
    };
    outbox.settle(&[retry], &[]).await.unwrap();
    let retried = row(&db, first[0].id).await;
    assert_eq!(retried.status, "PENDING", "[{label}]");
    assert_eq!(retried.last_error.as_deref(), Some("421 try later"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = outbox.claim_due(5, Duration::from_secs(60), false).await.unwrap();
    assert_eq!(third[0].attempts, 3, "[{label}]");
    outbox.settle(&[sent(third[0].claim())], &[]).await.unwrap();
    let done = row(&db, first[0].id).await;
    assert_eq!(done.status, "SENT", "[{label}]");
    assert!(done.sealed.is_none() && done.sent_at.is_some() && done.last_error.is_none());
}

#[backend_test]
async fn released_mail_is_due_at_once_and_the_release_is_no_attempt(backend: Backend) {
    let label = backend.name();
    let (outbox, _db) = outbox_on(&backend).await;
    for i in 0..3 {
        outbox.enqueue(&meta(), &mail(i)).await.unwrap();
    }
    let claimed = outbox
        .claim_due(3, Duration::from_secs(600), false)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3, "[{label}]");
    let claims: Vec<_> = claimed.iter().map(|c| c.claim()).collect();
    outbox.release(&claims[..2]).await.unwrap();
    let again = outbox
        .claim_due(10, Duration::from_secs(600), true)
        .await
        .unwrap();
    let ids: Vec<i64> = again.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![claimed[0].id, claimed[1].id], "[{label}]");
    assert!(again.iter().all(|c| c.attempts == 1), "[{label}]");
}

#[backend_test]
async fn pruning_deletes_only_finished_mail_past_its_retention(backend: Backend) {
    let label = backend.name();
    let (outbox, db) = outbox_on(&backend).await;
    let now = Utc::now();
    let days = |n: i64| (now - chrono::Duration::days(n)).naive_utc();
    let rows = [
        ("SENT", days(2)),
        ("SENT", days(0)),
        ("DROPPED", days(2)),
        ("FAILED", days(2)),
        ("FAILED", days(40)),
        ("PENDING", days(40)),
        ("SENDING", days(40)),
    ];
    for (i, (status, at)) in rows.iter().enumerate() {
        outbox::Entity::insert(outbox::ActiveModel {
            site_id: Set("main".into()),
            member_id: Set(None),
            kind: Set("PASSWORD_CHANGED".into()),
            recipient: Set(format!("p{i}@example.com")),
            sealed: Set(None),
            grant_ref: Set(None),
            status: Set((*status).into()),
            attempts: Set(1),
            next_attempt_at: Set(*at),
            last_error: Set(None),
            created_at: Set(*at),
            sent_at: Set(None),
            dedup_key: Set(Some(format!("key-{i}"))),
            ..Default::default()
        })
        .exec(&db)
        .await
        .unwrap();
    }
    let deleted = outbox.prune(
        now - chrono::Duration::days(1),
        now - chrono::Duration::days(30),
        1000,
    );
    assert_eq!(deleted.await.unwrap(), 3, "[{label}]");
    let mut left: Vec<String> = outbox::Entity::find()
        .filter(outbox::Column::Id.is_not_null())
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect();
    left.sort();
    assert_eq!(left, ["FAILED", "PENDING", "SENDING", "SENT"], "[{label}]");
    let none_left = outbox.prune(
        now - chrono::Duration::days(1),
        now - chrono::Duration::days(30),
        1000,
    );
    assert_eq!(none_left.await.unwrap(), 0, "[{label}]");
}

/// A sealed body is bound to its row (associated data: the row's unique key): copied into another
/// row it does not open there, and that row is given up instead of sending someone else's mail.
#[backend_test]
async fn a_sealed_body_moved_to_another_row_does_not_open(backend: Backend) {
    let label = backend.name();
    let (outbox, db) = outbox_on(&backend).await;
    outbox.enqueue(&meta(), &mail(1)).await.unwrap();
    outbox.enqueue(&meta(), &mail(2)).await.unwrap();
    let rows = outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(&db)
        .await
        .unwrap();
    let (first, second) = (&rows[0], &rows[1]);
    assert_eq!(first.seal_key_id.as_deref(), Some("legacy"), "[{label}]");
    assert_ne!(
        first.dedup_key, second.dedup_key,
        "[{label}] every row has its own key"
    );
    outbox::Entity::update(outbox::ActiveModel {
        id: Set(second.id),
        sealed: Set(first.sealed.clone()),
        ..Default::default()
    })
    .exec(&db)
    .await
    .unwrap();
    let claimed = outbox.claim_due(10, Duration::from_secs(60), true).await.unwrap();
    let opened: Vec<(i64, String)> = claimed.into_iter().map(|c| (c.id, c.mail.to)).collect();
    assert_eq!(opened, [(first.id, "m1@example.com".to_owned())], "[{label}]");
    let moved = row(&db, second.id).await;
    assert_eq!(moved.status, "FAILED", "[{label}] given up, not sent");
}
