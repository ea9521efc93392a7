//! Runs the `TokenStore` contract against both adapters, and checks what the Redis one leaves in Redis.
use std::time::{Duration, Instant};

use crate::token_store_contract::run_contract;
use account_recovery::{
    domain::{
        email::Email,
        grant::{
            AttemptLimits, CodeLookup, GrantOwner, GrantPurpose, IdentifierKey, IndexedCode, NewGrant,
            ResetCode, ResetToken,
        },
        keyed_hash::KeyedHasher,
        login_id::LoginId,
        member::MemberId,
        site::SiteId,
    },
    infra::{memory::MemoryStore, redis::RedisStore},
    recovery::ports::{StoreError, TokenStore},
};

/// The Redis of the tests, when TEST_REDIS_URL is set (CI always sets it; `.ci/run` fails when
/// that Redis is unreachable). Without it only the in-process adapter is exercised.
fn redis_url() -> Option<String> {
    let url = crate::helpers::redis_url();
    if url.is_none() {
        eprintln!("TEST_REDIS_URL is unset: the Redis adapter is not exercised by this test");
    }
    url
}

fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

async fn redis_store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(url, prefix, Duration::from_secs(2))
        .await
        .expect("connect to Redis")
}

#[tokio::test]
async fn memory_store_meets_the_contract() {
    run_contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn redis_store_meets_the_contract() {
    let Some(url) = redis_url() else { return };
    run_contract(&redis_store(&url, &unique_prefix()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_meets_the_contract_on_a_multi_threaded_runtime() {
    let Some(url) = redis_url() else { return };
    run_contract(&redis_store(&url, &unique_prefix()).await).await;
}

#[tokio::test]
async fn redis_cluster_meets_the_contract() {
    let Some(url) = crate::helpers::redis_cluster_url() else {
        return;
    };
    run_contract(&redis_store(&url, &unique_prefix()).await).await;
}

/// Every key has a TTL and holds only hashes: never the token or the code in clear.
#[tokio::test]
async fn redis_keys_expire_and_hold_no_secrets() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let store = redis_store(&url, &prefix).await;
    let keys = KeyedHasher::new(b"test");
    let owner = |n: &str| GrantOwner {
        site: SiteId::parse("main").unwrap(),
        member: MemberId(format!("{n}-{}", uuid::Uuid::new_v4())),
    };
    let mut secrets = Vec::new();
    let limits = AttemptLimits::default();
    let ttl = Duration::from_secs(900);

    let identifiers = |n: &str| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let site = SiteId::parse("main").unwrap();
        [
            IdentifierKey::email(&site, &Email::parse(&format!("{n}-{id}@example.com")).unwrap()),
            IdentifierKey::login(&site, &LoginId::parse(&format!("{n}{}", &id[..8])).unwrap()),
        ]
    };
    let mailed = |owner: &GrantOwner, token: &ResetToken, code: &ResetCode, ids: &[IdentifierKey; 2]| {
        NewGrant::new(
            GrantPurpose::Email,
            token.hash(),
            Some(code.hash(&keys, owner)),
            ttl,
        )
        .indexed_under(
            ids.iter()
                .map(|identifier| IndexedCode {
                    identifier: identifier.clone(),
                    code: code.index_hash(&keys, identifier),
                })
                .collect(),
        )
    };
    async fn judged(
        store: &RedisStore,
        keys: &KeyedHasher,
        identifier: &IdentifierKey,
        code: &ResetCode,
    ) -> Result<CodeLookup, StoreError> {
        let limits = AttemptLimits::default();
        store
            .judge_code(identifier, &[code.index_hash(keys, identifier)], &limits)
            .await
    }
    let other_code = |code: &ResetCode| {
        ResetCode::parse(if code.expose() == "000000" {
            "111111"
        } else {
            "000000"
        })
        .unwrap()
    };

    // An e-mail grant with a cooldown, a wrong code by e-mail, then an exchange.
    let alice = owner("alice");
    let alice_ids = identifiers("alice");
    let token = ResetToken::generate();
    let code = ResetCode::generate();
    let grant = mailed(&alice, &token, &code, &alice_ids);
    store
        .issue_grant(&alice, &grant, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let wrong = other_code(&code);
    assert_eq!(
        judged(&store, &keys, &alice_ids[0], &wrong).await.unwrap(),
        CodeLookup::Wrong
    );
    assert!(matches!(
        judged(&store, &keys, &alice_ids[0], &code).await.unwrap(),
        CodeLookup::Found { .. }
    ));
    let exchanged = ResetToken::generate();
    let replacement = NewGrant::new(
        GrantPurpose::Exchanged,
        exchanged.hash(),
        None,
        Duration::from_secs(300),
    );
    let info = store
        .exchange_code(&alice, &code.hash(&keys, &alice), &grant.id, &replacement)
        .await
        .unwrap();
    assert!(info.is_some());
    secrets.extend([
        token.expose().to_owned(),
        code.expose().to_owned(),
        exchanged.expose().to_owned(),
    ]);

    // Wrong codes by login ID past the limit.
    let bob = owner("bob");
    let bob_ids = identifiers("bob");
    let token = ResetToken::generate();
    let code = ResetCode::generate();
    let grant = mailed(&bob, &token, &code, &bob_ids);
    store.issue_grant(&bob, &grant, None).await.unwrap();
    let wrong = other_code(&code);
    for _ in 0..limits.per_identifier {
        judged(&store, &keys, &bob_ids[1], &wrong).await.unwrap();
    }
    assert_eq!(
        judged(&store, &keys, &bob_ids[1], &code).await.unwrap(),
        CodeLookup::TooMany
    );
    secrets.extend([token.expose().to_owned(), code.expose().to_owned()]);

    // A direct grant.
    let carol = owner("carol");
    let token = ResetToken::generate();
    let grant = NewGrant::new(GrantPurpose::Direct, token.hash(), None, Duration::from_secs(300));
    store.issue_grant(&carol, &grant, None).await.unwrap();
    secrets.push(token.expose().to_owned());

    // Look at everything under the prefix with a raw connection.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut found = crate::helpers::redis_keys(&mut conn, &format!("{prefix}:*")).await;
    found.sort();
    found.dedup();
    let kinds = |suffix: &str| found.iter().filter(|k| k.ends_with(suffix)).count();
    assert_eq!(
        kinds(":grant"),
        3,
        "alice's exchanged grant, bob's (wrong codes burn nothing) and carol's: {found:?}"
    );
    assert_eq!(kinds(":cooldown"), 1, "{found:?}");
    assert_eq!(
        kinds(":code_failures"),
        2,
        "alice's e-mail and bob's login ID: {found:?}"
    );
    assert_eq!(
        found.iter().filter(|k| k.contains(":code:")).count(),
        4,
        "two index entries each for alice and bob: {found:?}"
    );
    assert_eq!(
        found.iter().filter(|k| k.contains(":tok:")).count(),
        4,
        "four routes: {found:?}"
    );
    assert_eq!(found.len(), 14, "{found:?}");
    for key in &found {
        if !key.contains(":tok:") {
            assert!(
                key.contains(":{m:main:") || key.contains(":{i:main:"),
                "owner and identifier keys carry their hash tag: {key}"
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
            assert!(!key.contains(secret.as_str()), "{key} holds a secret");
            for value in &values {
                // Numeric fields (counters, expiry) are not secrets; a 6-digit code must not equal them.
                let numeric = value.bytes().all(|b| b.is_ascii_digit());
                if numeric {
                    assert_ne!(value, secret, "{key} holds a secret");
                } else {
                    assert!(!value.contains(secret.as_str()), "{key} holds a secret");
                }
            }
        }
    }
    // The grant hash holds the token's hash, not the token.
    let grant_key = format!("{prefix}:{{m:{}}}:grant", carol.tag());
    let stored: String = redis::cmd("HGET")
        .arg(&grant_key)
        .arg("token")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, ResetToken::parse(&secrets[5]).unwrap().hash().0);
}

/// A Redis that does not answer makes the store fail fast with `Unavailable`.
#[tokio::test]
async fn a_closed_port_is_unavailable_quickly() {
    let started = Instant::now();
    let result = RedisStore::connect("redis://127.0.0.1:1", &unique_prefix(), Duration::from_secs(2)).await;
    match result {
        Err(StoreError::Unavailable(message)) => assert!(message.starts_with("redis:"), "{message}"),
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(store) => assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_)))),
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// A non-routable address (no RST) runs into the timeout instead of hanging.
#[tokio::test]
async fn an_unreachable_host_times_out() {
    let started = Instant::now();
    let result = RedisStore::connect(
        "redis://10.255.255.1:6379",
        &unique_prefix(),
        Duration::from_millis(500),
    )
    .await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_cluster_url_that_is_no_cluster_fails_cleanly() {
    let Some(url) = redis_url() else { return };
    let started = Instant::now();
    let url = url.replacen("redis://", "redis+cluster://", 1);
    let result = RedisStore::connect(&url, &unique_prefix(), Duration::from_secs(2)).await;
    if let Ok(store) = &result {
        assert!(
            store.ping().await.is_err(),
            "a standalone server is not a cluster"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn braces_in_the_prefix_are_refused() {
    let result = RedisStore::connect("redis://127.0.0.1:6379", "a{b}", Duration::from_secs(2)).await;
    assert!(matches!(result, Err(StoreError::Internal(_))));
}

#[test]
fn the_store_is_shareable() {
    fn shareable<T: TokenStore + Send + Sync + 'static>() {}
    shareable::<RedisStore>();
}
