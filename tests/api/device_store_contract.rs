//! The device half of the `SessionStore` contract: a device is found by its token with its owner
//! and targets until its ttl ends or its owner's devices are revoked, and owners do not interfere.
//! Run by `run_session_contract` against the in-process store, Redis and Redis Cluster.
use std::time::Duration;

use account_recovery::{
    domain::{
        device::{DeviceToken, NewDevice},
        grant::GrantOwner,
        member::MemberId,
        site::SiteId,
    },
    recovery::ports::SessionStore,
};

fn new_owner() -> GrantOwner {
    GrantOwner {
        site: SiteId::parse("contract").expect("site"),
        member: MemberId(uuid::Uuid::new_v4().to_string()),
    }
}

async fn remember(store: &dyn SessionStore, owner: &GrantOwner, ttl: Duration) -> NewDevice {
    let device = NewDevice {
        token: DeviceToken::generate().hash(),
        targets: vec![
            format!("contract:login:{}", owner.member.0),
            "contract:email:a@example.com".to_owned(),
        ],
        ttl,
    };
    store.create_device(owner, &device).await.expect("create device");
    device
}

pub async fn run_device_contract(store: &dyn SessionStore) {
    let (alice, bob) = (new_owner(), new_owner());
    let hour = Duration::from_secs(3600);
    let first = remember(store, &alice, hour).await;
    let second = remember(store, &alice, hour).await;
    let bobs = remember(store, &bob, hour).await;
    let found = store
        .find_device(&first.token)
        .await
        .unwrap()
        .expect("a live device is found");
    assert_eq!(found.owner, alice);
    assert_eq!(found.token, first.token);
    assert_eq!(found.targets, first.targets, "targets kept in order");
    assert!(
        store
            .find_device(&DeviceToken::generate().hash())
            .await
            .unwrap()
            .is_none(),
        "an unknown token is no device"
    );

    // Revoking alice's devices leaves bob's alone.
    assert_eq!(store.revoke_devices(&alice).await.unwrap(), 2);
    for gone in [&first, &second] {
        assert!(store.find_device(&gone.token).await.unwrap().is_none(), "revoked");
    }
    assert_eq!(
        store.find_device(&bobs.token).await.unwrap().map(|d| d.owner),
        Some(bob.clone())
    );
    assert_eq!(store.revoke_devices(&alice).await.unwrap(), 0, "nothing left");

    // A device lives as long as its ttl.
    let short = remember(store, &bob, Duration::from_millis(300)).await;
    assert!(store.find_device(&short.token).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        store.find_device(&short.token).await.unwrap().is_none(),
        "expired"
    );
}
