//! The hashing pool's tests: formats, parameters, rehash decisions, the concurrency cap and
//! memory release.
use std::time::Duration;

use argon2::{PasswordHasher as _, PasswordVerifier as _};

use super::*;

fn hasher(memory_kib: u32) -> Argon2Hasher {
    Argon2Hasher::new(
        Argon2Settings {
            memory_kib,
            iterations: 1,
            parallelism: 1,
        },
        2,
    )
    .unwrap()
}

#[tokio::test]
async fn argon2id_round_trip() {
    let h = hasher(1024);
    let stored = h.hash(&"Correct-Horse-9".into()).await.unwrap();
    assert!(stored.0.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
    assert!(h.is_supported_hash(&stored.0));
    let ok = h.verify(&"Correct-Horse-9".into(), &stored).await.unwrap();
    assert_eq!(
        ok,
        Verification {
            matches: true,
            needs_rehash: false
        }
    );
    assert!(
        !h.verify(&"correct-horse-9".into(), &stored)
            .await
            .unwrap()
            .matches
    );
}

#[tokio::test]
async fn weaker_parameters_ask_for_a_rehash() {
    let weak = hasher(1024).hash(&"Correct-Horse-9".into()).await.unwrap();
    let strong = hasher(2048);
    let v = strong.verify(&"Correct-Horse-9".into(), &weak).await.unwrap();
    assert!(v.matches && v.needs_rehash);
}

#[tokio::test]
async fn bcrypt_hashes_verify_and_ask_for_a_rehash() {
    let legacy = bcrypt::hash("Legacy-Pass-42", 4).unwrap();
    let legacy = legacy.replacen("$2y$", "$2b$", 1);
    let h = hasher(1024);
    assert!(h.is_supported_hash(&legacy));
    let v = h
        .verify(&"Legacy-Pass-42".into(), &StoredHash(legacy.clone()))
        .await
        .unwrap();
    assert!(v.matches && v.needs_rehash);
    assert!(
        !h.verify(&"wrong".into(), &StoredHash(legacy))
            .await
            .unwrap()
            .matches
    );
}

#[tokio::test]
async fn unknown_formats_are_refused() {
    let h = hasher(1024);
    for bad in ["", "plain", "$1$md5$abc", "$2b$too-short", "$argon2id$garbage"] {
        assert!(!h.is_supported_hash(bad), "{bad:?}");
    }
    assert!(matches!(
        h.verify(&"x".into(), &StoredHash("plain".into())).await,
        Err(HashError::UnsupportedHash)
    ));
}

#[tokio::test]
async fn pool_hashes_match_the_crate_s_own_both_ways() {
    let settings = Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let h = Argon2Hasher::new(settings, 2).unwrap();
    let reference = argon2(&h.params);
    let old_way = reference.hash_password(b"Correct-Horse-9").unwrap().to_string();
    let v = h
        .verify(&"Correct-Horse-9".into(), &StoredHash(old_way.clone()))
        .await
        .unwrap();
    assert!(v.matches && !v.needs_rehash);
    assert!(
        !h.verify(&"Correct-Horse-8".into(), &StoredHash(old_way))
            .await
            .unwrap()
            .matches
    );

    let new_way = h.hash(&"Correct-Horse-9".into()).await.unwrap();
    let parsed = PasswordHash::new(&new_way.0).unwrap();
    assert!(reference.verify_password(b"Correct-Horse-9", &parsed).is_ok());
    assert!(reference.verify_password(b"Correct-Horse-8", &parsed).is_err());
    // Same layout as the crate's strings: 16-byte salt, 32-byte output.
    assert_eq!(parsed.salt.unwrap().len(), Salt::RECOMMENDED_LENGTH);
    assert_eq!(parsed.hash.unwrap().len(), Params::DEFAULT_OUTPUT_LEN);
}

#[tokio::test]
async fn hashes_made_with_more_memory_than_configured_still_verify() {
    let strong = hasher(2048).hash(&"Correct-Horse-9".into()).await.unwrap();
    let v = hasher(1024)
        .verify(&"Correct-Horse-9".into(), &strong)
        .await
        .unwrap();
    assert!(v.matches && !v.needs_rehash);
}

#[tokio::test]
async fn argon2i_and_argon2d_hashes_verify_and_ask_for_a_rehash() {
    let params = Params::new(1024, 1, 1, None).unwrap();
    for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d] {
        let stored = Argon2::new(algorithm, argon2::Version::V0x13, params.clone())
            .hash_password(b"Correct-Horse-9")
            .unwrap()
            .to_string();
        let v = hasher(1024)
            .verify(&"Correct-Horse-9".into(), &StoredHash(stored))
            .await
            .unwrap();
        assert!(v.matches && v.needs_rehash, "{algorithm:?}");
    }
}

#[tokio::test]
async fn an_idle_pool_gives_its_memory_back_and_takes_it_again_for_work() {
    let settings = Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let h = Argon2Hasher::with_idle_release(settings, 2, Duration::from_millis(100)).unwrap();
    let load = h.load();
    assert_eq!(load.areas(), 0, "nothing is held before any work");
    let stored = h.hash(&"Correct-Horse-9".into()).await.unwrap();
    assert_eq!(
        load.areas(),
        1,
        "the thread that hashed keeps its area while busy"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while load.areas() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(load.areas(), 0, "an idle thread gave its area back");
    assert!(
        h.verify(&"Correct-Horse-9".into(), &stored)
            .await
            .unwrap()
            .matches
    );
    assert_eq!(load.areas(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_callers_never_lift_the_cap() {
    // Production parameters: one hash outlives the 10 ms after which most callers give up.
    let h = Arc::new(Argon2Hasher::new(Argon2Settings::default(), 2).unwrap());
    let load = h.load();
    // Both threads take their memory first, so the first calls below start at once.
    let warm_up: Password = "Warm-Up-Pass-1".into();
    let warm = (0..4).map(|_| h.hash(&warm_up));
    for stored in futures_util::future::join_all(warm).await {
        stored.unwrap();
    }
    // One caller surely leaves while its hash runs: it is dropped once the pool has started it
    // (which of the calls below start first, and so whether one of them does, is up to timing).
    let leaving = {
        let h = h.clone();
        tokio::spawn(async move {
            let _ = h.hash(&"Some-Guess-1".into()).await;
        })
    };
    while load.running() == 0 && !leaving.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    leaving.abort();
    let calls: Vec<_> = (0..40)
        .map(|n| {
            let h = h.clone();
            tokio::spawn(async move {
                // New hashes and verifications share the pool and its cap.
                let call = async {
                    if n % 2 == 0 {
                        let _ = h.hash(&"Some-Guess-1".into()).await;
                    } else {
                        h.verify_dummy(&"Some-Guess-1".into()).await;
                    }
                };
                if n % 8 == 0 {
                    call.await;
                } else {
                    let _ = tokio::time::timeout(Duration::from_millis(10), call).await;
                }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    // Started jobs finish after their callers left; wait for the pool to go idle.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while load.running() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(load.running(), 0);
    assert!(
        load.orphaned() >= 1,
        "no hash outlived its caller: the case was not exercised"
    );
    assert_eq!(load.peak(), 2, "both threads busy at some point, never more");
}
