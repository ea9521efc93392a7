//! The `SessionStore` and `Limiter` contracts: functions that check every rule of the two ports against a
//! live store, so the in-process and the Redis adapters are held to the same semantics. Every check uses
//! fresh owners and keys (random uuids), so it can run against a Redis shared with other tests. Panics
//! on a violation.
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use account_recovery::{
    domain::{
        grant::{GrantOwner, TokenHash},
        member::MemberId,
        session::{AccessToken, NewSession, SessionInfo},
        site::SiteId,
    },
    recovery::ports::{CounterHit, Limiter, SessionStore},
};

use crate::helpers::join_all;

const HOUR: Duration = Duration::from_secs(3600);
/// Short enough for a test, long enough for a slow CI machine to see the session alive first.
const SHORT: Duration = Duration::from_millis(300);

/// Runs every check of the session contract against `store`; takes about a second.
pub async fn run_session_contract(store: &dyn SessionStore) {
    let started = Instant::now();
    create_find_and_count(store).await;
    sessions_expire(store).await;
    elevation_needs_a_live_session(store).await;
    revoke_one_session(store).await;
    revoke_all_but_one(store).await;
    revoke_all(store).await;
    owners_do_not_interfere(store).await;
    reset_mark_is_taken_once(store).await;
    crate::device_store_contract::run_device_contract(store).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the session contract should run quickly"
    );
}

/// Runs every check of the limiter contract against `limiter`; takes about half a second.
pub async fn run_limiter_contract(limiter: &dyn Limiter) {
    let started = Instant::now();
    hits_count_up_to_the_limit(limiter).await;
    peek_does_not_count(limiter).await;
    clear_resets(limiter).await;
    keys_are_independent_and_may_hold_any_character(limiter).await;
    the_window_expires(limiter).await;
    concurrent_hits_are_all_counted(limiter).await;
    one_call_counts_every_limit_of_a_request(limiter).await;
    several_calls_count_as_if_each_were_alone(limiter).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the limiter contract should run quickly"
    );
}

fn new_owner() -> GrantOwner {
    GrantOwner {
        site: SiteId::parse("contract").expect("site"),
        member: MemberId(uuid::Uuid::new_v4().to_string()),
    }
}

fn new_token() -> TokenHash {
    AccessToken::generate().hash()
}

fn new_key(what: &str) -> String {
    format!("contract:{what}:{}", uuid::Uuid::new_v4())
}

async fn create(store: &dyn SessionStore, owner: &GrantOwner, ttl: Duration) -> TokenHash {
    let token = new_token();
    let session = NewSession {
        token: token.clone(),
        ttl,
        elevated_until: None,
    };
    store
        .create_session(owner, &session)
        .await
        .expect("create_session");
    token
}

async fn find(store: &dyn SessionStore, token: &TokenHash) -> Option<SessionInfo> {
    store.find_session(token).await.expect("find_session")
}

async fn count(store: &dyn SessionStore, owner: &GrantOwner) -> u32 {
    store.count_sessions(owner).await.expect("count_sessions")
}

/// Stores keep milliseconds.
fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

#[track_caller]
fn assert_about(actual: DateTime<Utc>, expected: DateTime<Utc>, what: &str) {
    let off = (actual - expected).num_milliseconds().abs();
    assert!(off < 5_000, "{what} is {off} ms away from what was expected");
}

async fn create_find_and_count(store: &dyn SessionStore) {
    let owner = new_owner();
    assert_eq!(count(store, &owner).await, 0, "a new member has no sessions");
    assert_eq!(
        find(store, &new_token()).await,
        None,
        "an unknown token has no session"
    );

    let token = create(store, &owner, HOUR).await;
    let info = find(store, &token).await.expect("the new session is found");
    assert_eq!(info.owner, owner);
    assert_eq!(info.token, token);
    assert_eq!(info.elevated_until, None);
    assert_about(info.expires_at, Utc::now() + HOUR, "expires_at");
    assert_eq!(count(store, &owner).await, 1);

    // Elevated from the start (the first sign-in after a reset).
    let until = Utc::now() + chrono::Duration::minutes(10);
    let elevated = new_token();
    let session = NewSession {
        token: elevated.clone(),
        ttl: HOUR,
        elevated_until: Some(until),
    };
    store
        .create_session(&owner, &session)
        .await
        .expect("create_session");
    let info = find(store, &elevated)
        .await
        .expect("the elevated session is found");
    assert_eq!(ms(info.elevated_until), ms(Some(until)));
    assert!(info.is_elevated(Utc::now()));
    assert_eq!(count(store, &owner).await, 2);
    // Looking does not change anything.
    assert!(find(store, &token).await.is_some());
    assert_eq!(count(store, &owner).await, 2);
}

async fn sessions_expire(store: &dyn SessionStore) {
    let owner = new_owner();
    let long = create(store, &owner, HOUR).await;
    let short = create(store, &owner, SHORT).await;
    assert!(find(store, &short).await.is_some(), "alive before its ttl");
    assert_eq!(count(store, &owner).await, 2);
    tokio::time::sleep(SHORT * 2).await;
    assert_eq!(find(store, &short).await, None, "gone after its ttl");
    assert_eq!(count(store, &owner).await, 1, "an expired session is not counted");
    assert!(find(store, &long).await.is_some(), "the other session lives on");
    assert!(
        !store
            .elevate_session(&owner, &short, Utc::now() + HOUR)
            .await
            .expect("elevate_session"),
        "an expired session cannot be elevated"
    );
    assert_eq!(
        store
            .revoke_sessions(&owner, None)
            .await
            .expect("revoke_sessions"),
        1,
        "an expired session is not counted as revoked"
    );
}

async fn elevation_needs_a_live_session(store: &dyn SessionStore) {
    let owner = new_owner();
    let token = create(store, &owner, HOUR).await;
    let before = find(store, &token).await.expect("session");
    assert!(!before.reauthenticated);
    let until = Utc::now() + chrono::Duration::minutes(10);
    assert!(
        store
            .elevate_session(&owner, &token, until)
            .await
            .expect("elevate_session")
    );
    let after = find(store, &token).await.expect("session");
    assert_eq!(ms(after.elevated_until), ms(Some(until)));
    assert_eq!(after.expires_at, before.expires_at, "elevation keeps the expiry");
    assert!(after.is_elevated(Utc::now()));
    assert!(
        after.reauthenticated,
        "elevate_session is the password's (reauthenticate)"
    );

    assert!(
        !store
            .elevate_session(&owner, &new_token(), until)
            .await
            .expect("elevate_session"),
        "an unknown session cannot be elevated"
    );
    assert_eq!(
        count(store, &owner).await,
        1,
        "elevating an unknown token creates nothing"
    );
    let other = new_owner();
    assert!(
        !store
            .elevate_session(&other, &token, until)
            .await
            .expect("elevate_session"),
        "another member's session cannot be elevated"
    );
    store
        .revoke_session(&owner, &token)
        .await
        .expect("revoke_session");
    assert!(
        !store
            .elevate_session(&owner, &token, until)
            .await
            .expect("elevate_session"),
        "a revoked session cannot be elevated"
    );
    assert_eq!(find(store, &token).await, None, "elevating does not revive it");
}

async fn revoke_one_session(store: &dyn SessionStore) {
    let owner = new_owner();
    let a = create(store, &owner, HOUR).await;
    let b = create(store, &owner, HOUR).await;
    store.revoke_session(&owner, &a).await.expect("revoke_session");
    assert_eq!(find(store, &a).await, None);
    assert!(find(store, &b).await.is_some());
    assert_eq!(count(store, &owner).await, 1);
    // Again, and an unknown token: nothing happens.
    store.revoke_session(&owner, &a).await.expect("revoke_session");
    store
        .revoke_session(&owner, &new_token())
        .await
        .expect("revoke_session");
    assert_eq!(count(store, &owner).await, 1);
}

async fn revoke_all_but_one(store: &dyn SessionStore) {
    let owner = new_owner();
    let keep = create(store, &owner, HOUR).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(create(store, &owner, HOUR).await);
    }
    assert_eq!(count(store, &owner).await, 4);
    assert_eq!(
        store
            .revoke_sessions(&owner, Some(&keep))
            .await
            .expect("revoke_sessions"),
        3
    );
    assert!(find(store, &keep).await.is_some(), "the kept session lives on");
    for token in &others {
        assert_eq!(find(store, token).await, None, "the others are revoked");
    }
    assert_eq!(count(store, &owner).await, 1);
    assert_eq!(
        store
            .revoke_sessions(&owner, Some(&keep))
            .await
            .expect("revoke_sessions"),
        0,
        "nothing left to revoke"
    );
    // A `keep` that is no session of the owner keeps nothing.
    assert_eq!(
        store
            .revoke_sessions(&owner, Some(&new_token()))
            .await
            .expect("revoke_sessions"),
        1
    );
    assert_eq!(find(store, &keep).await, None);
    assert_eq!(count(store, &owner).await, 0);
}

async fn revoke_all(store: &dyn SessionStore) {
    let owner = new_owner();
    let tokens = [
        create(store, &owner, HOUR).await,
        create(store, &owner, HOUR).await,
    ];
    assert_eq!(
        store
            .revoke_sessions(&owner, None)
            .await
            .expect("revoke_sessions"),
        2
    );
    for token in &tokens {
        assert_eq!(find(store, token).await, None);
    }
    assert_eq!(count(store, &owner).await, 0);
    assert_eq!(
        store
            .revoke_sessions(&owner, None)
            .await
            .expect("revoke_sessions"),
        0
    );
    // The member can sign in again afterwards.
    let again = create(store, &owner, HOUR).await;
    assert!(find(store, &again).await.is_some());
    assert_eq!(count(store, &owner).await, 1);
}

async fn owners_do_not_interfere(store: &dyn SessionStore) {
    let alice = new_owner();
    let bob = new_owner();
    let a = create(store, &alice, HOUR).await;
    let b1 = create(store, &bob, HOUR).await;
    let b2 = create(store, &bob, HOUR).await;
    assert_eq!(count(store, &alice).await, 1);
    assert_eq!(count(store, &bob).await, 2);
    assert_eq!(find(store, &b1).await.expect("bob's session").owner, bob);

    // Alice's hand on Bob's token changes nothing.
    store.revoke_session(&alice, &b1).await.expect("revoke_session");
    assert_eq!(
        store
            .revoke_sessions(&alice, Some(&b1))
            .await
            .expect("revoke_sessions"),
        1,
        "only alice's own session"
    );
    assert_eq!(find(store, &a).await, None);
    assert_eq!(find(store, &b1).await.expect("bob's session survives").owner, bob);
    assert_eq!(count(store, &bob).await, 2);

    // Revoking all of Bob's leaves Alice's new one.
    let a2 = create(store, &alice, HOUR).await;
    assert_eq!(
        store.revoke_sessions(&bob, None).await.expect("revoke_sessions"),
        2
    );
    assert_eq!(find(store, &b2).await, None);
    assert_eq!(find(store, &a2).await.expect("alice's session").owner, alice);

    // Reset marks are per member too.
    store.mark_reset(&alice, HOUR).await.expect("mark_reset");
    assert!(!store.take_reset_mark(&bob).await.expect("take_reset_mark"));
    assert!(store.take_reset_mark(&alice).await.expect("take_reset_mark"));
}

async fn reset_mark_is_taken_once(store: &dyn SessionStore) {
    let owner = new_owner();
    assert!(
        !store.take_reset_mark(&owner).await.expect("take_reset_mark"),
        "no mark yet"
    );
    store.mark_reset(&owner, HOUR).await.expect("mark_reset");
    assert!(store.take_reset_mark(&owner).await.expect("take_reset_mark"));
    assert!(
        !store.take_reset_mark(&owner).await.expect("take_reset_mark"),
        "taken once"
    );

    // Marking twice still gives one mark.
    store.mark_reset(&owner, HOUR).await.expect("mark_reset");
    store.mark_reset(&owner, HOUR).await.expect("mark_reset");
    assert!(store.take_reset_mark(&owner).await.expect("take_reset_mark"));
    assert!(!store.take_reset_mark(&owner).await.expect("take_reset_mark"));

    // A mark expires.
    store.mark_reset(&owner, SHORT).await.expect("mark_reset");
    tokio::time::sleep(SHORT * 2).await;
    assert!(
        !store.take_reset_mark(&owner).await.expect("take_reset_mark"),
        "expired"
    );

    // Twenty concurrent sign-ins: exactly one is elevated.
    store.mark_reset(&owner, HOUR).await.expect("mark_reset");
    let taken = join_all((0..20).map(|_| store.take_reset_mark(&owner)).collect()).await;
    let winners = taken
        .into_iter()
        .map(|r| r.expect("take_reset_mark"))
        .filter(|t| *t)
        .count();
    assert_eq!(winners, 1, "exactly one concurrent take wins");
}

async fn hits_count_up_to_the_limit(limiter: &dyn Limiter) {
    let key = new_key("hits");
    let window = Duration::from_secs(60);
    for n in 1..=5u32 {
        let d = limiter.hit(&key, 3, window).await.expect("hit");
        assert_eq!(d.count, n, "hit {n} is counted");
        assert_eq!(d.allowed, n <= 3, "hit {n} of limit 3");
        assert!(
            d.retry_after > Duration::ZERO && d.retry_after <= window,
            "retry_after {:?} lies within the window",
            d.retry_after
        );
        assert!(
            d.retry_after > window - Duration::from_secs(5),
            "the window started with the first hit"
        );
    }

    // Fixed, not sliding: a later hit does not push the end of the window out.
    let key = new_key("fixed");
    let first = limiter.hit(&key, 3, window).await.expect("hit");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = limiter.hit(&key, 3, window).await.expect("hit");
    assert_eq!(second.count, 2);
    assert!(
        second.retry_after + Duration::from_millis(40) <= first.retry_after,
        "the window ends where the first hit put it ({:?} then {:?})",
        first.retry_after,
        second.retry_after
    );
}

/// `hit_all` (the client, target and session limits of one request in one call) counts each
/// counter as `hit` would, each with its own limit and window, in order, and stops after the
/// first one over its limit: a call its client's budget refuses does not count against its target.
async fn one_call_counts_every_limit_of_a_request(limiter: &dyn Limiter) {
    // Keys of one call share their first segment, as one operation's limits do.
    let (client, target) = (new_key("all-client"), new_key("all-target"));
    let (long, short) = (Duration::from_secs(60), Duration::from_secs(30));
    for n in 1..=4u32 {
        let hits = [
            CounterHit {
                key: &client,
                limit: 2,
                window: long,
            },
            CounterHit {
                key: &target,
                limit: 3,
                window: short,
            },
        ];
        let d = limiter.hit_all(&hits).await.expect("hit_all");
        assert_eq!((d[0].count, d[0].allowed), (n, n <= 2), "client, hit {n}");
        assert!(d[0].retry_after > long - Duration::from_secs(5) && d[0].retry_after <= long);
        if n <= 2 {
            assert_eq!(d.len(), 2, "one decision per counter");
            assert_eq!((d[1].count, d[1].allowed), (n, true), "target, hit {n}");
            assert!(d[1].retry_after > short - Duration::from_secs(5) && d[1].retry_after <= short);
        } else {
            assert_eq!(d.len(), 1, "the client's refusal ends the counting");
        }
    }
    // The same counters as single hits see: the target counted only what the client admitted.
    assert_eq!(limiter.hit(&client, 2, long).await.expect("hit").count, 5);
    assert_eq!(limiter.peek(&target, 10).await.expect("peek").count, 2);
    // A refused first counter of a later call still ends it; an allowed one lets the next count.
    let fresh = new_key("all-fresh");
    let d = limiter
        .hit_all(&[
            CounterHit {
                key: &fresh,
                limit: 1,
                window: long,
            },
            CounterHit {
                key: &target,
                limit: 3,
                window: short,
            },
        ])
        .await
        .expect("hit_all");
    assert_eq!(d.len(), 2);
    assert_eq!((d[1].count, d[1].allowed), (3, true));
    assert!(limiter.hit_all(&[]).await.expect("no counters").is_empty());
}

/// `hit_calls` (the limits of concurrent requests, gathered) answers each call as `hit_all` would
/// alone, in order, whatever operations (slots) the calls belong to: a call refused by its client
/// does not count against its target, and the next call sees the counts the earlier ones left.
async fn several_calls_count_as_if_each_were_alone(limiter: &dyn Limiter) {
    fn hit(key: &str, limit: u32) -> CounterHit<'_> {
        CounterHit {
            key,
            limit,
            window: Duration::from_secs(60),
        }
    }
    // Two operations: on a cluster their counters live in different slots.
    let (client, target) = (new_key("calls-client"), new_key("calls-target"));
    let other = format!("other{}:client:x", uuid::Uuid::new_v4().simple());
    let admitted = [hit(&client, 2), hit(&target, 5)];
    let other_call = [hit(&other, 1)];
    let calls: [&[CounterHit<'_>]; 5] = [&admitted, &other_call, &admitted, &other_call, &admitted];
    let answers = limiter.hit_calls(&calls).await;
    let answers: Vec<Vec<(u32, bool)>> = answers
        .into_iter()
        .map(|a| {
            a.expect("hit_calls")
                .iter()
                .map(|d| (d.count, d.allowed))
                .collect()
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            vec![(1, true), (1, true)],
            vec![(1, true)],
            vec![(2, true), (2, true)],
            vec![(2, false)],
            vec![(3, false)],
        ],
        "each call in order, the third call of the client refused before its target"
    );
    assert_eq!(limiter.peek(&target, 10).await.expect("peek").count, 2);
    let none: [&[CounterHit<'_>]; 2] = [&[], &admitted];
    let answers = limiter.hit_calls(&none).await;
    assert!(answers[0].as_ref().expect("no counters").is_empty());
    assert_eq!(answers[1].as_ref().expect("hit_calls")[0].count, 4);
}

async fn peek_does_not_count(limiter: &dyn Limiter) {
    let key = new_key("peek");
    let window = Duration::from_secs(60);
    let d = limiter.peek(&key, 2).await.expect("peek");
    assert!(d.allowed);
    assert_eq!(d.count, 0);
    assert_eq!(
        d.retry_after,
        Duration::ZERO,
        "nothing counted, nothing to wait for"
    );
    for _ in 0..3 {
        assert_eq!(
            limiter.peek(&key, 2).await.expect("peek").count,
            0,
            "peeks are not hits"
        );
    }

    assert!(limiter.hit(&key, 2, window).await.expect("hit").allowed);
    let d = limiter.peek(&key, 2).await.expect("peek");
    assert_eq!(
        (d.allowed, d.count),
        (true, 1),
        "one more hit would be within the limit"
    );
    assert!(d.retry_after > Duration::ZERO && d.retry_after <= window);

    assert!(limiter.hit(&key, 2, window).await.expect("hit").allowed);
    let d = limiter.peek(&key, 2).await.expect("peek");
    assert_eq!(
        (d.allowed, d.count),
        (false, 2),
        "the next hit would be over the limit"
    );
    assert!(d.retry_after > Duration::ZERO && d.retry_after <= window);
    assert!(
        limiter.peek(&key, 3).await.expect("peek").allowed,
        "a larger limit allows"
    );
    assert_eq!(limiter.hit(&key, 2, window).await.expect("hit").count, 3);
}

async fn clear_resets(limiter: &dyn Limiter) {
    let key = new_key("clear");
    let window = Duration::from_secs(60);
    for _ in 0..3 {
        limiter.hit(&key, 2, window).await.expect("hit");
    }
    assert!(!limiter.peek(&key, 2).await.expect("peek").allowed);
    limiter.clear(&key).await.expect("clear");
    let d = limiter.peek(&key, 2).await.expect("peek");
    assert_eq!((d.allowed, d.count, d.retry_after), (true, 0, Duration::ZERO));
    let d = limiter.hit(&key, 2, window).await.expect("hit");
    assert_eq!((d.allowed, d.count), (true, 1), "counting starts again");
    // Clearing an unknown key is fine.
    limiter.clear(&new_key("never")).await.expect("clear");
}

async fn keys_are_independent_and_may_hold_any_character(limiter: &dyn Limiter) {
    let id = uuid::Uuid::new_v4();
    let window = Duration::from_secs(60);
    let keys = [
        format!("signin:member:main:{id}"),
        format!("rl:findId:ip:127.0.0.1:{id}"),
        format!("rl:findId:ip:::1:{id}"),
        format!("rl:issue:email:Té st+{{x}}@example.com:{id}"),
        format!("rl:issue:email:te st+{{x}}@example.com:{id}"),
    ];
    for (i, key) in keys.iter().enumerate() {
        for _ in 0..=i {
            limiter.hit(key, 10, window).await.expect("hit");
        }
    }
    for (i, key) in keys.iter().enumerate() {
        let expected = u32::try_from(i + 1).expect("small");
        assert_eq!(
            limiter.peek(key, 10).await.expect("peek").count,
            expected,
            "{key}"
        );
    }
}

async fn the_window_expires(limiter: &dyn Limiter) {
    let key = new_key("window");
    for _ in 0..3 {
        limiter.hit(&key, 2, SHORT).await.expect("hit");
    }
    let d = limiter.peek(&key, 2).await.expect("peek");
    assert!(!d.allowed);
    assert!(d.retry_after <= SHORT, "retry_after {:?}", d.retry_after);
    tokio::time::sleep(SHORT * 2).await;
    let d = limiter.peek(&key, 2).await.expect("peek");
    assert_eq!(
        (d.allowed, d.count, d.retry_after),
        (true, 0, Duration::ZERO),
        "the window is over"
    );
    let d = limiter.hit(&key, 2, SHORT).await.expect("hit");
    assert_eq!(
        (d.allowed, d.count),
        (true, 1),
        "a new window starts with the next hit"
    );
}

async fn concurrent_hits_are_all_counted(limiter: &dyn Limiter) {
    let key = new_key("race");
    let window = Duration::from_secs(60);
    let decisions = join_all((0..50).map(|_| limiter.hit(&key, 10, window)).collect()).await;
    let mut counts: Vec<u32> = Vec::new();
    let mut allowed = 0;
    for d in decisions {
        let d = d.expect("hit");
        assert_eq!(d.allowed, d.count <= 10);
        allowed += usize::from(d.allowed);
        counts.push(d.count);
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<u32>>(),
        "every hit has its own count"
    );
    assert_eq!(allowed, 10, "exactly the limit is allowed");
    assert_eq!(limiter.peek(&key, 10).await.expect("peek").count, 50);
}
