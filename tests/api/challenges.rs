//! A proof of work past a target's limit, over HTTP on every backend: while strangers hold an
//! account's budgets, the owner on a fresh address gets `RATE_LIMITED` with a challenge, solves
//! it, and signs in and gets the reset mail; a solution works once, for its own call; a call the
//! client's own budget refuses gets no challenge.
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    helpers::{Backend, backend_test, mailed_grants, spawn_app_with_smtp},
    operations::{Answer, Caller, by},
};

/// Small enough for a test to solve at once; the default (16) is measured in the browser test.
pub const DIFFICULTY: &str = "10";

/// The challenge of a RATE_LIMITED answer, solved as a client does: `<nonce>:<counter>` whose
/// SHA-256 starts with `difficulty` zero bits.
pub fn solve<P>(answer: &Answer<P>) -> String {
    let challenge = &answer.body["errors"][0]["extensions"]["challenge"];
    assert_eq!(challenge["algorithm"], "sha256", "{answer}");
    let nonce = challenge["nonce"]
        .as_str()
        .unwrap_or_else(|| panic!("no challenge: {answer}"));
    let difficulty = challenge["difficulty"].as_u64().unwrap() as u32;
    assert!(
        challenge["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{answer}"
    );
    (0u64..)
        .map(|counter| format!("{nonce}:{counter}"))
        .find(|text| {
            let digest = Sha256::digest(text.as_bytes());
            let zeros = digest
                .iter()
                .position(|b| *b != 0)
                .map_or(256, |i| i as u32 * 8 + digest[i].leading_zeros());
            zeros >= difficulty
        })
        .unwrap()
}

fn challenge<P>(answer: &Answer<P>) -> &Value {
    &answer.body["errors"][0]["extensions"]["challenge"]
}

#[backend_test]
async fn the_owner_solves_a_challenge_past_the_budgets_strangers_hold(backend: Backend) {
    let vars = [
        (
            "RATE_LIMITS",
            "issueResetToken.client=4/600,issueResetToken.id=2/600,signIn.client=100/600",
        ),
        ("SIGNIN_MAX_FAILURES", "3"),
        ("POW_DIFFICULTY", DIFFICULTY),
    ];
    let (app, smtp) = spawn_app_with_smtp(&backend, &vars).await;
    let app = app.with_fixture().await;
    let (owner, stranger) = (app.calling_from("127.0.0.1"), app.calling_from("127.0.0.2"));

    // Strangers spend the account's reset budget and its sign-in failures.
    for _ in 0..2 {
        assert!(
            stranger
                .issue_reset(by::account("alice01", "x@x.io"))
                .await
                .accepted
        );
    }
    for _ in 0..3 {
        let guess = stranger.sign_in("alice01", "Wrong-Guess-0000").await;
        assert_eq!(
            guess.codes(),
            ["INVALID_CREDENTIALS"],
            "[{}] {guess}",
            app.backend
        );
    }

    // The owner: refused with a challenge, then through with it solved.
    let own = by::account("alice01", "alice@example.com");
    let refused = owner.issue_reset(own.clone()).await;
    assert_eq!(
        refused.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {refused}",
        app.backend
    );
    assert_eq!(challenge(&refused)["difficulty"], 10);
    let solution = solve(&refused);
    let asked = owner
        .issue_reset_as(Caller::solving(&solution), own.clone())
        .await;
    assert!(
        asked.accepted,
        "[{}] past the account's limit: {asked}",
        app.backend
    );
    let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(
        mailed_grants(&mails[0])[0].login_id,
        "alice01",
        "[{}] the owner's mail",
        app.backend
    );
    // Once only.
    let again = owner
        .issue_reset_as(Caller::solving(&solution), own.clone())
        .await;
    assert_eq!(
        again.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {again}",
        app.backend
    );
    assert!(
        challenge(&again)["nonce"].is_string(),
        "a fresh challenge: {again}"
    );

    let locked = owner.sign_in("alice01", "Blue-Harbor-47").await;
    assert_eq!(
        locked.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {locked}",
        app.backend
    );
    // A solution is for its own call: the reset's does not open the sign-in.
    let other_call = solve(&again);
    let wrong_call = owner
        .sign_in_as(Caller::solving(&other_call), "alice01", "Blue-Harbor-47")
        .await;
    assert_eq!(
        wrong_call.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {wrong_call}",
        app.backend
    );
    let solution = solve(&wrong_call);
    let signed_in = owner
        .sign_in_as(Caller::solving(&solution), "alice01", "Blue-Harbor-47")
        .await;
    assert!(signed_in.access_token.is_some(), "[{}] {signed_in}", app.backend);
    // The owner's sign-in forgot the failures; strangers spend them again. Past them, a wrong
    // password with a solved challenge is still wrong, and each guess costs a new one.
    for _ in 0..3 {
        stranger.sign_in("alice01", "Wrong-Guess-0000").await;
    }
    let guess = stranger.sign_in("alice01", "Wrong-Guess-0000").await;
    let solved = stranger
        .sign_in_as(Caller::solving(&solve(&guess)), "alice01", "Wrong-Guess-0000")
        .await;
    assert_eq!(
        solved.codes(),
        ["INVALID_CREDENTIALS"],
        "[{}] {solved}",
        app.backend
    );

    // A stranger past its own client budget gets no challenge.
    for _ in 0..3 {
        stranger.issue_reset(by::account("alice01", "x@x.io")).await;
    }
    let own_budget = stranger.issue_reset(by::account("alice01", "x@x.io")).await;
    assert_eq!(own_budget.top_code(), Some("RATE_LIMITED"), "{own_budget}");
    assert!(challenge(&own_budget).is_null(), "[{}] {own_budget}", app.backend);
}
