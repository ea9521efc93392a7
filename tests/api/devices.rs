//! Trusted devices, over HTTP on every backend: `signIn` hands out a device token; the owner's
//! calls that carry it (`X-Device-Token`) count against that device, so while strangers on other
//! addresses hold every budget of the account the owner's device still signs in and gets a reset
//! mail at once. Strangers never make the address receive more than the member's mail budget: the
//! last mail of the hour is kept for a proven call (a solved challenge or the member's device).
//! A reported change forgets every device.
use std::time::Duration;

use crate::{
    challenges::{DIFFICULTY, solve},
    helpers::{Backend, backend_test, mailed_grants, spawn_app_with_smtp},
    operations::{Caller, by, change},
};

#[backend_test]
async fn the_owners_device_is_not_slowed_by_strangers(backend: Backend) {
    let vars = [
        (
            "RATE_LIMITS",
            "issueResetToken.client=10/600,issueResetToken.id=2/600,signIn.client=100/600",
        ),
        ("SIGNIN_MAX_FAILURES", "3"),
        ("POW_DIFFICULTY", DIFFICULTY),
    ];
    let (app, smtp) = spawn_app_with_smtp(&backend, &vars).await;
    let app = app.with_fixture().await;
    let (owner, stranger, fresh) = (
        app.calling_from("127.0.0.1"),
        app.calling_from("127.0.0.2"),
        app.calling_from("127.0.0.3"),
    );
    let signed_in = owner.sign_in("alice01", "Blue-Harbor-47").await;
    let device = signed_in
        .device_token
        .clone()
        .unwrap_or_else(|| panic!("[{}] a device token: {signed_in}", app.backend));
    assert_eq!(device.len(), 43, "256 bits, URL-safe base64");

    // Strangers spend the account's reset budget and its sign-in failures.
    for _ in 0..2 {
        let asked = stranger.issue_reset(by::account("alice01", "x@x.io")).await;
        assert!(asked.accepted, "[{}] {asked}", app.backend);
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
    // A fresh device of the owner's would now need a challenge for each.
    let fresh_sign_in = fresh.sign_in("alice01", "Blue-Harbor-47").await;
    assert_eq!(
        fresh_sign_in.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {fresh_sign_in}",
        app.backend
    );
    let own = by::account("alice01", "alice@example.com");
    let fresh_reset = fresh.issue_reset(own.clone()).await;
    assert_eq!(
        fresh_reset.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {fresh_reset}",
        app.backend
    );

    // The owner's device: no challenge, same device token back, and the mail.
    let again = owner
        .sign_in_as(Caller::device(&device), "alice01", "Blue-Harbor-47")
        .await;
    assert!(again.access_token.is_some(), "[{}] {again}", app.backend);
    assert_eq!(
        again.device_token.as_deref(),
        Some(device.as_str()),
        "renewed, not replaced"
    );
    let asked = owner.issue_reset_as(Caller::device(&device), own.clone()).await;
    assert!(
        asked.accepted,
        "[{}] the device's own budget: {asked}",
        app.backend
    );
    let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(
        mailed_grants(&mails[0])[0].login_id,
        "alice01",
        "[{}]",
        app.backend
    );

    // The device's wrong passwords count against the device, not the login ID: three of them,
    // then the device too needs a challenge, and the right password still works with one.
    for _ in 0..3 {
        let typo = owner
            .sign_in_as(Caller::device(&device), "alice01", "Blue-Harbor-74")
            .await;
        assert_eq!(typo.codes(), ["INVALID_CREDENTIALS"], "[{}] {typo}", app.backend);
    }
    let past = owner
        .sign_in_as(Caller::device(&device), "alice01", "Blue-Harbor-47")
        .await;
    assert_eq!(past.top_code(), Some("RATE_LIMITED"), "[{}] {past}", app.backend);

    // A made-up device token counts as a fresh device's call.
    let made_up = "A".repeat(43);
    let other = fresh.issue_reset_as(Caller::device(&made_up), own.clone()).await;
    assert_eq!(
        other.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {other}",
        app.backend
    );
}

#[backend_test]
async fn strangers_never_exceed_the_mail_budget_yet_the_owner_gets_a_mail(backend: Backend) {
    let vars = [
        (
            "RATE_LIMITS",
            "issueResetToken.client=50/600,issueResetToken.id=3/600,resetMail.id=3/3600",
        ),
        ("RESET_COOLDOWN_SECS", "1"),
        ("POW_DIFFICULTY", DIFFICULTY),
    ];
    let (app, smtp) = spawn_app_with_smtp(&backend, &vars).await;
    let app = app.with_fixture().await;
    let (owner, stranger) = (app.calling_from("127.0.0.1"), app.calling_from("127.0.0.2"));
    let device = owner
        .sign_in("alice01", "Blue-Harbor-47")
        .await
        .device_token
        .clone()
        .expect("a device token");
    let address = by::email("alice@example.com");

    // Three requests fit the address's budget; two of the member's three mails go to strangers'
    // requests, the last one is kept.
    for _ in 0..3 {
        let asked = stranger.issue_reset(address.clone()).await;
        assert!(asked.accepted, "[{}] {asked}", app.backend);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    smtp.wait_for_messages(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        smtp.messages().len(),
        2,
        "[{}] the last mail is kept",
        app.backend
    );

    // The owner, without the device: refused with a challenge, solved, and the kept mail comes.
    let refused = owner.issue_reset(address.clone()).await;
    assert_eq!(
        refused.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {refused}",
        app.backend
    );
    let asked = owner
        .issue_reset_as(Caller::solving(&solve(&refused)), address.clone())
        .await;
    assert!(asked.accepted, "[{}] {asked}", app.backend);
    smtp.wait_for_messages(3, Duration::from_secs(10)).await;

    // A stranger who solves challenges too gets nothing more to that address.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refused = stranger.issue_reset(address.clone()).await;
    let solved = stranger
        .issue_reset_as(Caller::solving(&solve(&refused)), address.clone())
        .await;
    assert!(solved.accepted, "[{}] the same answer: {solved}", app.backend);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        smtp.messages().len(),
        3,
        "[{}] the member's budget holds",
        app.backend
    );

    // The owner's device mails on its own budget.
    let asked = owner
        .issue_reset_as(Caller::device(&device), address.clone())
        .await;
    assert!(asked.accepted, "[{}] {asked}", app.backend);
    let mails = smtp.wait_for_messages(4, Duration::from_secs(10)).await;
    assert!(
        mails.iter().all(|m| mailed_grants(m)[0].login_id == "alice01"),
        "[{}] every mail is alice01's",
        app.backend
    );
}

#[backend_test]
async fn a_reported_change_forgets_every_device(backend: Backend) {
    let vars = [
        (
            "RATE_LIMITS",
            "issueResetToken.client=20/600,issueResetToken.id=2/600",
        ),
        ("POW_DIFFICULTY", DIFFICULTY),
    ];
    let (app, smtp) = spawn_app_with_smtp(&backend, &vars).await;
    let app = app.with_fixture().await;
    let (owner, stranger) = (app.calling_from("127.0.0.1"), app.calling_from("127.0.0.2"));
    let intruder = owner.sign_in("alice01", "Blue-Harbor-47").await;
    let (session, device) = (
        intruder.access_token.clone().unwrap(),
        intruder.device_token.clone().unwrap(),
    );
    let own = by::account("alice01", "x@x.io");
    for _ in 0..2 {
        assert!(stranger.issue_reset(own.clone()).await.accepted);
    }
    // Before the report the device is past the account's spent budget, with one call of its own
    // left.
    let asked = owner.issue_reset_as(Caller::device(&device), own.clone()).await;
    assert!(asked.accepted, "[{}] {asked}", app.backend);

    let changed = app
        .change_password(
            &session,
            change::with_current("Blue-Harbor-47", "Green-Valley-58"),
        )
        .await;
    assert!(changed.errors.is_empty(), "[{}] {changed}", app.backend);
    let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    let line = mails[0]
        .text
        .lines()
        .find(|l| l.contains("#report="))
        .unwrap_or_else(|| panic!("a report link in {:?}", mails[0].text));
    let report = line[line.find("#report=").unwrap() + 8..].trim().to_owned();
    assert!(app.report_unrecognized_change(&report).await.locked);

    // After it the device counts as a fresh one: refused, with a challenge.
    let asked = owner.issue_reset_as(Caller::device(&device), own).await;
    assert_eq!(
        asked.top_code(),
        Some("RATE_LIMITED"),
        "[{}] {asked}",
        app.backend
    );
}
