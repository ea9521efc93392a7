//! Runs the `SessionStore` and `Limiter` contracts against both adapters, and checks what the Redis one
//! leaves in Redis.
use std::{sync::Arc, time::Duration};

use crate::session_store_contract::{run_limiter_contract, run_session_contract};
use account_recovery::{
    domain::{
        grant::{GrantOwner, TokenHash},
        member::MemberId,
        session::{AccessToken, NewSession},
        site::SiteId,
    },
    infra::{counter_batches::BatchedCounters, memory::MemoryStore, redis::RedisStore},
    recovery::ports::{Limiter, SessionStore},
};

/// The Redis of the tests (TEST_REDIS_URL; CI always sets it and fails when it is unreachable).
fn redis_url() -> String {
    crate::helpers::redis_url().unwrap_or_default()
}

/// Whether the Redis adapter can be exercised; says so when it cannot.
fn redis_configured() -> bool {
    let configured = crate::helpers::redis_url().is_some();
    if !configured {
        eprintln!("TEST_REDIS_URL is unset: the Redis adapter is not exercised by this test");
    }
    configured
}

fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

async fn redis_store(prefix: &str) -> RedisStore {
    store_at(&redis_url(), prefix).await
}

async fn store_at(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(url, prefix, Duration::from_secs(2))
        .await
        .expect("connect to Redis")
}

#[tokio::test]
async fn memory_sessions_meet_the_session_contract() {
    run_session_contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_sessions_meet_the_limiter_contract() {
    run_limiter_contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn redis_meets_the_session_contract() {
    if !redis_configured() {
        return;
    }
    run_session_contract(&redis_store(&unique_prefix()).await).await;
}

#[tokio::test]
async fn redis_meets_the_limiter_contract() {
    if !redis_configured() {
        return;
    }
    run_limiter_contract(&redis_store(&unique_prefix()).await).await;
}

/// The service's limiter on Redis: concurrent requests' limits gathered into batches.
#[tokio::test]
async fn batched_counters_on_redis_meet_the_limiter_contract() {
    if !redis_configured() {
        return;
    }
    let redis = Arc::new(redis_store(&unique_prefix()).await);
    run_limiter_contract(&BatchedCounters::new(redis, Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_meets_both_contracts_on_a_multi_threaded_runtime() {
    if !redis_configured() {
        return;
    }
    let store = redis_store(&unique_prefix()).await;
    run_session_contract(&store).await;
    run_limiter_contract(&store).await;
}

#[tokio::test]
async fn redis_cluster_meets_both_contracts() {
    let Some(url) = crate::helpers::redis_cluster_url() else {
        return;
    };
    let store = Arc::new(store_at(&url, &unique_prefix()).await);
    run_session_contract(store.as_ref()).await;
    run_limiter_contract(store.as_ref()).await;
    run_limiter_contract(&BatchedCounters::new(store, Duration::from_secs(5))).await;
}

#[tokio::test]
async fn two_instances_share_sessions_and_limits() {
    if !redis_configured() {
        return;
    }
    two_instances_share(&redis_url()).await;
}

#[tokio::test]
async fn two_instances_share_sessions_and_limits_on_a_cluster() {
    let Some(url) = crate::helpers::redis_cluster_url() else {
        return;
    };
    two_instances_share(&url).await;
}

/// Two instances (two connections, one prefix) see the same sessions, marks and counters.
async fn two_instances_share(url: &str) {
    let prefix = unique_prefix();
    let (one, two) = (store_at(url, &prefix).await, store_at(url, &prefix).await);
    let owner = GrantOwner {
        site: SiteId::parse("main").unwrap(),
        member: MemberId(uuid::Uuid::new_v4().to_string()),
    };
    let token = AccessToken::generate().hash();
    let session = NewSession {
        token: token.clone(),
        ttl: Duration::from_secs(60),
        elevated_until: None,
    };
    one.create_session(&owner, &session).await.unwrap();
    assert_eq!(two.find_session(&token).await.unwrap().unwrap().owner, owner);
    assert_eq!(two.revoke_sessions(&owner, None).await.unwrap(), 1);
    assert_eq!(one.find_session(&token).await.unwrap(), None);

    one.mark_reset(&owner, Duration::from_secs(60)).await.unwrap();
    assert!(two.take_reset_mark(&owner).await.unwrap());
    assert!(!one.take_reset_mark(&owner).await.unwrap());

    let key = "signin:member:main:shared";
    for _ in 0..3 {
        one.hit(key, 3, Duration::from_secs(60)).await.unwrap();
    }
    assert!(!two.peek(key, 3).await.unwrap().allowed);
    assert!(!two.hit(key, 3, Duration::from_secs(60)).await.unwrap().allowed);
    one.clear(key).await.unwrap();
    assert!(two.peek(key, 3).await.unwrap().allowed);
}

/// Every key has a TTL and holds only hashes: never an access token in clear.
#[tokio::test]
async fn redis_session_keys_expire_and_hold_no_secrets() {
    if !redis_configured() {
        return;
    }
    let prefix = unique_prefix();
    let store = redis_store(&prefix).await;
    let owner = |n: &str| GrantOwner {
        site: SiteId::parse("main").unwrap(),
        member: MemberId(format!("{n}-{}", uuid::Uuid::new_v4())),
    };
    let hour = Duration::from_secs(3600);
    let mut secrets: Vec<AccessToken> = Vec::new();
    let mut create = async |store: &RedisStore, owner: &GrantOwner, elevated: bool| -> TokenHash {
        let token = AccessToken::generate();
        let session = NewSession {
            token: token.hash(),
            ttl: hour,
            elevated_until: elevated.then(|| chrono::Utc::now() + chrono::Duration::minutes(10)),
        };
        store.create_session(owner, &session).await.unwrap();
        let hash = token.hash();
        secrets.push(token);
        hash
    };

    // Alice: two sessions, one elevated later, a reset mark.
    let alice = owner("alice");
    let a1 = create(&store, &alice, false).await;
    create(&store, &alice, true).await;
    assert!(
        store
            .elevate_session(&alice, &a1, chrono::Utc::now() + chrono::Duration::minutes(10))
            .await
            .unwrap()
    );
    store.mark_reset(&alice, Duration::from_secs(600)).await.unwrap();
    // Bob: three sessions, two revoked (one alone, one by revoke-all-but-one).
    let bob = owner("bob");
    let b1 = create(&store, &bob, false).await;
    let b2 = create(&store, &bob, false).await;
    create(&store, &bob, false).await;
    store.revoke_session(&bob, &b2).await.unwrap();
    assert_eq!(store.revoke_sessions(&bob, Some(&b1)).await.unwrap(), 1);
    // Counters.
    store
        .hit("signin:member:main:someone", 5, Duration::from_secs(900))
        .await
        .unwrap();
    store
        .hit("rl:findId:ip:127.0.0.1", 20, Duration::from_secs(60))
        .await
        .unwrap();
    store.peek("rl:never-hit", 5).await.unwrap();
    assert_eq!(secrets.len(), 5);

    // Look at everything under the prefix with a raw connection.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut found = crate::helpers::redis_keys(&mut conn, &format!("{prefix}:*")).await;
    found.sort();
    found.dedup();
    let count = |f: &dyn Fn(&String) -> bool| found.iter().filter(|k| f(k)).count();
    assert_eq!(count(&|k| k.ends_with(":sessions")), 2, "{found:?}");
    assert_eq!(count(&|k| k.ends_with(":reset_mark")), 1, "{found:?}");
    assert_eq!(
        count(&|k| k.starts_with(&format!("{prefix}:sess:"))),
        4,
        "routes of alice's two, bob's kept one and the one revoked with the rest: {found:?}"
    );
    assert_eq!(
        count(&|k| k.starts_with(&format!("{prefix}:rl:"))),
        2,
        "{found:?}"
    );
    assert_eq!(found.len(), 9, "{found:?}");

    for key in &found {
        if key.ends_with(":sessions") || key.ends_with(":reset_mark") {
            assert!(
                key.contains(":{m:main:"),
                "owner keys carry the member hash tag: {key}"
            );
        }
        let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.unwrap();
        assert!(pttl > 0, "{key} has no TTL ({pttl})");
        let kind: String = redis::cmd("TYPE").arg(key).query_async(&mut conn).await.unwrap();
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap()],
            "hash" => redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            other => panic!("{key} is a {other}"),
        };
        for secret in &secrets {
            let secret = secret.expose();
            assert!(!key.contains(secret), "{key} holds a token");
            for value in &values {
                assert!(!value.contains(secret), "{key} holds a token");
            }
        }
    }

    // Alice's hash: two fields named by token hashes, values `<expires_ms>|<elevated_ms>` (and
    // `|p` when reauthenticate elevated it), and the key lives as long as the latest session.
    let sessions_key = format!("{prefix}:{{m:{}}}:sessions", alice.tag());
    let fields: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&sessions_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(fields.len(), 2);
    assert!(fields.iter().any(|(field, _)| *field == a1.0));
    assert!(
        fields
            .iter()
            .any(|(field, value)| *field == a1.0 && value.ends_with("|p")),
        "the elevation by reauthenticate is marked: {fields:?}"
    );
    for (_, value) in &fields {
        let parts: Vec<&str> = value.split('|').collect();
        let (expires, elevated) = (parts[0], parts[1]);
        assert!(parts.len() == 2 || parts[2..] == ["p"], "{value}");
        let expires: i64 = expires.parse().unwrap();
        let elevated: i64 = elevated.parse().unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        assert!((expires - now - 3_600_000).abs() < 5_000, "{value}");
        assert!((elevated - now - 600_000).abs() < 5_000, "{value}");
    }
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&sessions_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 3_590_000 && pttl <= 3_600_000, "{pttl}");
    // The route holds the owner tag, nothing else.
    let route: String = redis::cmd("GET")
        .arg(format!("{prefix}:sess:{}", a1.0))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(route, alice.tag());

    // Revoke-all deletes the hash: nothing of bob's is left but routes that find no session.
    assert_eq!(store.revoke_sessions(&bob, None).await.unwrap(), 1);
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}:{{m:{}}}:sessions", bob.tag()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    assert_eq!(store.find_session(&b1).await.unwrap(), None);
}

/// The key TTL follows the sessions: pushed out by a longer one, pulled in when it goes.
#[tokio::test]
async fn the_sessions_key_lives_as_long_as_its_latest_session() {
    if !redis_configured() {
        return;
    }
    let prefix = unique_prefix();
    let store = redis_store(&prefix).await;
    let owner = GrantOwner {
        site: SiteId::parse("main").unwrap(),
        member: MemberId(uuid::Uuid::new_v4().to_string()),
    };
    let key = format!("{prefix}:{{m:{}}}:sessions", owner.tag());
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let create = async |ttl: Duration| {
        let token = AccessToken::generate().hash();
        let session = NewSession {
            token: token.clone(),
            ttl,
            elevated_until: None,
        };
        store.create_session(&owner, &session).await.unwrap();
        token
    };
    let short = create(Duration::from_secs(60)).await;
    let long = create(Duration::from_secs(3600)).await;
    create(Duration::from_secs(120)).await;
    let pttl = async |conn: &mut redis::aio::MultiplexedConnection| -> i64 {
        redis::cmd("PTTL").arg(&key).query_async(conn).await.unwrap()
    };
    let after_long = pttl(&mut conn).await;
    assert!(after_long > 3_590_000, "pushed out to the longest: {after_long}");
    store.revoke_session(&owner, &long).await.unwrap();
    let after_revoke = pttl(&mut conn).await;
    assert!(
        after_revoke > 110_000 && after_revoke <= 120_000,
        "pulled in to the latest remaining: {after_revoke}"
    );
    assert_eq!(store.revoke_sessions(&owner, Some(&short)).await.unwrap(), 1);
    let kept = pttl(&mut conn).await;
    assert!(kept > 50_000 && kept <= 60_000, "the kept session's: {kept}");
    assert_eq!(store.count_sessions(&owner).await.unwrap(), 1);
}

#[test]
fn the_store_is_shareable() {
    fn shareable<T: SessionStore + Limiter + Send + Sync + 'static>() {}
    shareable::<RedisStore>();
    shareable::<MemoryStore>();
}
