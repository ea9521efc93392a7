//! Standard Webhooks to the host, on every backend, over HTTP with a real receiver on loopback:
//! every event arrives signed (checked with the reference library), a receiver that was down gets
//! every event once it is back, 410 disables the endpoint, 429 and 503 are retried after their
//! `Retry-After`, a SIGTERM in the middle of a delivery loses nothing, and two instances never
//! deliver one event twice at once.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, TEST_SECRET_KEY, TestApp, backend_settings, backend_test, fresh_database, http_client,
        redis_url, spawn_app_with, spawn_app_with_smtp, test_settings, unique_name,
    },
    operations::{change, credential::recovery_code},
    scim::{TOKEN, TOKENS, user},
    service_process::ServiceProcess,
    smtp_server::ReceivedMail,
    webhook_receiver::{Delivery, WebhookReceiver},
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BINARY: &str = env!("CARGO_BIN_EXE_account-recovery");
const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "Blue-Harbor-47";

/// What an app needs to post events to `receiver` quickly: retries 1 s apart in tests.
fn webhook_env(receiver: &WebhookReceiver) -> Vec<(&'static str, String)> {
    vec![
        ("WEBHOOK_URL", receiver.url()),
        ("WEBHOOK_SECRET", SECRET.into()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ("WEBHOOK_POLL_MS", "100".into()),
        ("WEBHOOK_RETRY_SCHEDULE", "1s,1s,1s,1s,1s".into()),
        ("SCIM_TOKENS", TOKENS.into()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn app_for(backend: &Backend, receiver: &WebhookReceiver) -> TestApp {
    let env = webhook_env(receiver);
    spawn_app_with(backend, backend_settings(backend, &borrowed(&env)).await).await
}

/// Provisions `n` members over SCIM and withdraws them: `n` `member.withdrawn` events. Their ids.
async fn withdraw_members(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = app
            .provision(user(
                &format!("{prefix}{i:02}"),
                &format!("{prefix}{i:02}@example.com"),
                json!({}),
            ))
            .await;
        let deleted = app.scim("DELETE", &format!("/Users/{id}"), None).await;
        assert_eq!(deleted.status, 204, "[{}] {deleted:?}", app.backend);
        ids.push(id);
    }
    ids
}

/// The accepted deliveries by `webhook-id`, each verified; fails on two ids for one event body.
fn accepted_by_id(deliveries: &[Delivery]) -> HashMap<String, Vec<Value>> {
    let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
    for delivery in deliveries.iter().filter(|d| d.accepted()) {
        by_id
            .entry(delivery.id.clone())
            .or_default()
            .push(delivery.verified(SECRET));
    }
    by_id
}

async fn webhook_rows(app: &TestApp) -> Vec<String> {
    app.sql_strings("SELECT status FROM outbox WHERE channel = 'WEBHOOK' ORDER BY id")
        .await
}

/// Waits (bounded) until the webhook rows are `expected`: outcomes are written shortly after the
/// receiver answers.
async fn settled_rows(app: &TestApp, expected: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = webhook_rows(app).await;
        if rows == expected || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A SCIM call to the service at `base` with the main site's token: status and body.
async fn scim_call(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http_client()
        .request(method, format!("{base}/scim/v2{path}"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("SCIM call");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The report token of a password-changed notice's link.
fn report_token(notice: &ReceivedMail) -> String {
    let line = notice
        .text
        .lines()
        .find(|l| l.contains("#report="))
        .expect("a report link");
    line[line.find("#report=").unwrap() + 8..].trim().to_owned()
}

#[backend_test]
async fn every_event_reaches_the_host_signed_once_and_without_secrets(backend: Backend) {
    let receiver = WebhookReceiver::start().await;
    let env = webhook_env(&receiver);
    let (app, smtp) = spawn_app_with_smtp(&backend, &borrowed(&env)).await;
    // Changed last in 2020: expired under the default 90 days, so it can be extended.
    app.recovery
        .members
        .import(
            &format!(
                "{}\n",
                json!({"loginId": "kim01", "email": "kim@example.com", "password": PASSWORD,
                       "passwordChangedAt": "2020-01-01T00:00:00Z"})
            ),
            chrono::Utc::now(),
        )
        .await
        .expect("member");
    let session = app.access_token("kim01", PASSWORD).await;
    let extended = app.change_password(session.as_str(), change::extend()).await;
    assert!(extended.errors.is_empty(), "[{}] {extended}", app.backend);
    let changed = app
        .change_password(
            session.as_str(),
            change::with_current(PASSWORD, "Green-Valley-58"),
        )
        .await;
    assert!(changed.errors.is_empty(), "[{}] {changed}", app.backend);
    let session = app.access_token("kim01", "Green-Valley-58").await;
    let elevated = app.reauthenticate(&session, "Green-Valley-58").await;
    assert!(elevated.elevated_until.is_some(), "[{}] {elevated}", app.backend);
    let codes = app
        .generate_recovery_codes(session.as_str())
        .await
        .codes
        .clone()
        .expect("codes");
    let reset = app
        .reset_password(recovery_code("kim01", &codes[0]), "Amber-Falcon-36", None)
        .await;
    assert_eq!(reset.profile().login_id, "kim01", "[{}] {reset}", app.backend);
    let notice = smtp
        .wait_for_messages(1, WAIT)
        .await
        .into_iter()
        .find(|m| m.text.contains("#report="))
        .expect("a password-changed notice");
    let reported = app.report_unrecognized_change(&report_token(&notice)).await;
    assert!(reported.errors.is_empty(), "[{}] {reported}", app.backend);
    let member = app
        .sql_strings("SELECT id FROM members WHERE login_id = 'kim01'")
        .await[0]
        .clone();
    let withdrawn = app.scim("DELETE", &format!("/Users/{member}"), None).await;
    assert_eq!(withdrawn.status, 204, "[{}] {withdrawn:?}", app.backend);

    let deliveries = receiver.wait_for_accepted(7, WAIT).await;
    let by_id = accepted_by_id(&deliveries);
    let mut types: Vec<String> = by_id
        .values()
        .map(|b| b[0]["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "member.change.reported",
            "member.password.changed",
            "member.password.extended",
            "member.password.reset",
            "member.recovery_code.used",
            "member.recovery_codes.generated",
            "member.withdrawn",
        ],
        "[{}] one delivery per event, each under its own id",
        app.backend
    );
    for delivery in deliveries.iter().filter(|d| d.accepted()) {
        let body = delivery.verified(SECRET);
        assert!(delivery.id.starts_with("msg_"), "{}", delivery.id);
        assert!((chrono::Utc::now().timestamp() - delivery.timestamp).abs() < 120);
        let data = &body["data"];
        assert_eq!(data["memberId"], json!(member), "{body}");
        assert_eq!(
            (data["siteId"].as_str(), data["loginId"].as_str()),
            (Some("main"), Some("kim01"))
        );
        assert_eq!(data["at"], body["timestamp"], "{body}");
        // Callers speak from 127.0.0.1: only its /24 travels (SCIM's withdrawal names the host's
        // call the same way).
        assert_eq!(data["clientAddress"], json!("127.0.0.0/24"), "{body}");
        for secret in [
            PASSWORD,
            "Green-Valley-58",
            "Amber-Falcon-36",
            &codes[0],
            "127.0.0.1",
        ] {
            assert!(!delivery.body.contains(secret), "{body}");
        }
    }
    assert_eq!(
        settled_rows(&app, &["SENT"; 7]).await,
        ["SENT"; 7],
        "[{}]",
        app.backend
    );
    // Stored bodies are erased once delivered.
    let kept = app
        .sql_strings("SELECT COUNT(*) FROM outbox WHERE channel = 'WEBHOOK' AND payload IS NOT NULL")
        .await;
    assert_eq!(kept, ["0"]);
}

#[backend_test]
async fn a_receiver_that_was_down_gets_every_event_once_it_is_back(backend: Backend) {
    let receiver = WebhookReceiver::start().await;
    let app = app_for(&backend, &receiver).await;
    receiver.go_down();
    let ids = withdraw_members(&app, "down", 3).await;
    // The first attempts meet a closed port and are kept for later.
    let deadline = Instant::now() + WAIT;
    loop {
        let tried = app
            .sql_strings("SELECT COUNT(*) FROM outbox WHERE channel = 'WEBHOOK' AND attempts >= 2 AND status = 'PENDING'")
            .await;
        if tried == ["3"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] not retried: {:?}",
            app.backend,
            webhook_rows(&app).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.come_back().await;
    let deliveries = receiver.wait_for_accepted(3, WAIT).await;
    let by_id = accepted_by_id(&deliveries);
    let members: HashSet<String> = by_id
        .values()
        .map(|bodies| {
            // A repeat (none expected here) may only carry the same event under the same id.
            assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
            bodies[0]["data"]["memberId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        members,
        ids.into_iter().collect(),
        "[{}] every event, once",
        app.backend
    );
    assert_eq!(by_id.len(), 3, "[{}]", app.backend);
    assert_eq!(
        settled_rows(&app, &["SENT"; 3]).await,
        ["SENT"; 3],
        "[{}]",
        app.backend
    );
}

#[backend_test]
async fn gone_disables_the_endpoint_and_nothing_more_goes_there(backend: Backend) {
    let receiver = WebhookReceiver::start().await;
    let app = app_for(&backend, &receiver).await;
    receiver.answer_next(&[(410, None)]);
    withdraw_members(&app, "gone", 1).await;
    let deliveries = receiver.wait_for_accepted(1, Duration::from_secs(3)).await;
    assert_eq!(
        deliveries.iter().map(|d| d.status).collect::<Vec<_>>(),
        [410],
        "[{}]",
        app.backend
    );
    let endpoints = app.recovery.webhooks.list().await.unwrap();
    assert_eq!(endpoints.len(), 1);
    let reason = endpoints[0].disabled.clone().expect("disabled");
    assert!(reason.contains("410"), "{reason}");
    assert_eq!(
        settled_rows(&app, &["FAILED"]).await,
        ["FAILED"],
        "[{}]",
        app.backend
    );
    // Later changes queue nothing for it, and nothing is retried.
    withdraw_members(&app, "later", 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.deliveries().len(), 1, "[{}]", app.backend);
    assert_eq!(webhook_rows(&app).await, ["FAILED"], "[{}]", app.backend);
}

/// A withdrawal wakes the webhook worker like a password change does: its event goes out at
/// once, not at the next poll (a minute away here).
#[backend_test]
async fn a_withdrawal_is_delivered_without_waiting_for_the_poll(backend: Backend) {
    let receiver = WebhookReceiver::start().await;
    let mut env = webhook_env(&receiver);
    env.retain(|(name, _)| *name != "WEBHOOK_POLL_MS");
    env.push(("WEBHOOK_POLL_MS", "60000".into()));
    let app = spawn_app_with(&backend, backend_settings(&backend, &borrowed(&env)).await).await;
    // The worker's first poll at start has passed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    withdraw_members(&app, "woken", 1).await;
    let deliveries = receiver.wait_for_accepted(1, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 1, "[{}]", app.backend);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "[{}] delivered after {:?}",
        app.backend,
        started.elapsed()
    );
}

#[backend_test]
async fn retry_after_is_honoured_on_429_and_503(backend: Backend) {
    let receiver = WebhookReceiver::start().await;
    let app = app_for(&backend, &receiver).await;
    // The schedule would try again after 1 s; the receiver asks for 3 s, twice.
    receiver.answer_next(&[(429, Some(3)), (503, Some(3))]);
    withdraw_members(&app, "busy", 1).await;
    let deliveries = receiver.wait_for_accepted(1, WAIT).await;
    let statuses: Vec<u16> = deliveries.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [429, 503, 204], "[{}]", app.backend);
    for pair in deliveries.windows(2) {
        let waited = pair[1].at - pair[0].at;
        assert!(
            waited >= Duration::from_millis(2900),
            "[{}] retried after {waited:?}",
            app.backend
        );
        assert_eq!(pair[0].id, pair[1].id, "one event, one id on every attempt");
    }
}

#[backend_test]
async fn two_instances_never_deliver_one_event_twice_at_once(backend: Backend) {
    let receiver = WebhookReceiver::start().await;
    // Slow answers keep many deliveries in flight on both instances at once.
    receiver.delay(Duration::from_millis(300));
    let env = webhook_env(&receiver);
    let mut vars = borrowed(&env);
    vars.push(("WEBHOOK_CONCURRENCY", "4"));
    // Both instances on one database (and one Redis prefix where there is Redis).
    let url = fresh_database(&backend).await;
    let prefix = unique_name();
    let redis = redis_url();
    if let (Some(redis), false) = (&redis, matches!(backend, Backend::Sqlite)) {
        vars.extend([
            ("REDIS_URL", redis.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
        ]);
    }
    let first = spawn_app_with(&backend, test_settings(&url, &vars)).await;
    let _second = spawn_app_with(&backend, test_settings(&url, &vars)).await;
    let ids = withdraw_members(&first, "pair", 24).await;
    let deliveries = receiver.wait_for_accepted(24, Duration::from_secs(60)).await;
    assert_eq!(receiver.overlaps(), Vec::<String>::new(), "[{}]", first.backend);
    let by_id = accepted_by_id(&deliveries);
    assert!(
        by_id.values().all(|b| b.len() == 1),
        "[{}] a repeat: {by_id:?}",
        first.backend
    );
    let members: HashSet<&str> = by_id
        .values()
        .map(|b| b[0]["data"]["memberId"].as_str().unwrap())
        .collect();
    assert_eq!(members.len(), ids.len(), "[{}]", first.backend);
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_in_the_middle_of_a_delivery_loses_nothing(backend: Backend) {
    let receiver = WebhookReceiver::start().await;
    receiver.delay(Duration::from_secs(2));
    let url = fresh_database(&backend).await;
    let prefix = unique_name();
    let redis = redis_url();
    let env = webhook_env(&receiver);
    let mut vars = borrowed(&env);
    vars.extend([
        ("DATABASE_URL", url.as_str()),
        ("SECRET_KEY", TEST_SECRET_KEY),
        ("DEMO", "false"),
        ("RUST_LOG", "info"),
        ("NO_COLOR", "1"),
        ("WEBHOOK_CONCURRENCY", "2"),
    ]);
    if let (Some(redis), false) = (&redis, matches!(backend, Backend::Sqlite)) {
        vars.extend([
            ("REDIS_URL", redis.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
        ]);
    }
    let mut first = ServiceProcess::start(BINARY, &["serve"], &vars).await;
    let base = first.base_url();
    let mut members = Vec::new();
    for i in 0..6 {
        let body = user(&format!("term{i}"), &format!("term{i}@example.com"), json!({}));
        let (status, created) = scim_call(&base, "POST", "/Users", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        members.push(created["id"].as_str().unwrap().to_owned());
    }
    for id in &members {
        let (status, body) = scim_call(&base, "DELETE", &format!("/Users/{id}"), None).await;
        assert_eq!(status, 204, "{body}");
    }
    let deadline = Instant::now() + WAIT;
    while receiver.in_flight() == 0 {
        assert!(Instant::now() < deadline, "no delivery started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    let code = first.stop(Duration::from_secs(10)).await;
    let stopped_in = signalled.elapsed();
    assert_eq!(code, Some(0), "{}", first.output_plain());
    assert!(
        stopped_in < Duration::from_secs(10),
        "stopped after {stopped_in:?}"
    );
    // The deliveries it had started were finished, not cut off.
    assert_eq!(receiver.in_flight(), 0);
    let before = receiver.deliveries().len();
    assert!(before >= 1, "{}", first.output_plain());
    // Another instance delivers the rest.
    let mut second = ServiceProcess::start(BINARY, &["serve"], &vars).await;
    let deliveries = receiver.wait_for_accepted(6, Duration::from_secs(60)).await;
    second.stop(Duration::from_secs(10)).await;
    let by_id = accepted_by_id(&deliveries);
    let delivered: HashSet<&str> = by_id
        .values()
        .map(|b| b[0]["data"]["memberId"].as_str().unwrap())
        .collect();
    assert_eq!(
        delivered,
        members.iter().map(String::as_str).collect(),
        "[{}] every event, after the SIGTERM\n{}",
        backend.name(),
        second.output_plain()
    );
    assert_eq!(receiver.overlaps(), Vec::<String>::new());
}

/// `account-recovery webhook …` against the test's database.
fn cli(database_url: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(BINARY)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("SECRET_KEY", TEST_SECRET_KEY)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("run account-recovery");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[backend_test]
async fn endpoints_are_added_listed_and_removed_from_the_command_line(backend: Backend) {
    let url = fresh_database(&backend).await;
    let receiver = WebhookReceiver::start().await;
    // A private target needs the switch; an unknown event is refused.
    let (ok, refused) = cli(&url, &[], &["webhook", "add", &receiver.url()]);
    assert!(!ok && refused.contains("WEBHOOK_ALLOW_PRIVATE"), "{refused}");
    let (ok, refused) = cli(
        &url,
        &[],
        &[
            "webhook",
            "add",
            "https://host.example/",
            "--events",
            "member.deleted",
        ],
    );
    assert!(!ok && refused.contains("member.deleted"), "{refused}");
    let allow = [("WEBHOOK_ALLOW_PRIVATE", "true")];
    let (ok, added) = cli(
        &url,
        &allow,
        &["webhook", "add", &receiver.url(), "--events", "member.withdrawn"],
    );
    assert!(ok, "{added}");
    let id = added
        .split_whitespace()
        .find(|w| w.starts_with("ep_"))
        .expect("an id")
        .to_owned();
    let secret = added
        .split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .expect("a secret")
        .to_owned();
    let (_, listed) = cli(&url, &[], &["webhook", "list"]);
    assert!(
        listed.contains(&id) && listed.contains("ACTIVE") && listed.contains("member.withdrawn"),
        "{listed}"
    );
    // Stored sealed: the secret is nowhere in the table.
    let stored = crate::helpers::sql_rows(&url, "SELECT secrets FROM webhook_endpoints").await;
    assert!(
        !stored[0][0].contains(secret.trim_start_matches("whsec_")),
        "{stored:?}"
    );
    // A serving instance posts to it, signed with that secret.
    let env = [
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_POLL_MS", "100"),
        ("SCIM_TOKENS", TOKENS),
    ];
    let redis = redis_url();
    let prefix = unique_name();
    let mut vars = env.to_vec();
    if let (Some(redis), false) = (&redis, matches!(backend, Backend::Sqlite)) {
        vars.extend([
            ("REDIS_URL", redis.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
        ]);
    }
    let app = spawn_app_with(&backend, test_settings(&url, &vars)).await;
    withdraw_members(&app, "cli", 1).await;
    let deliveries = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(deliveries.len(), 1, "[{}]", backend.name());
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(deliveries[0].body.as_bytes(), &deliveries[0].headers)
        .expect("signed with the added secret");
    // `keys status` counts the sealed secret under the key that sealed it, until the endpoint goes.
    let webhook_secrets = |status: &str| -> Vec<String> {
        status
            .lines()
            .skip(1)
            .filter(|l| l.contains("current"))
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
            .collect()
    };
    let (ok, status) = cli(&url, &[], &["keys", "status"]);
    assert!(ok && status.contains("WEBHOOK SECRETS"), "{status}");
    assert_eq!(webhook_secrets(&status), ["1"], "{status}");
    let (ok, removed) = cli(&url, &[], &["webhook", "remove", &id]);
    assert!(ok, "{removed}");
    assert_eq!(webhook_secrets(&cli(&url, &[], &["keys", "status"]).1), ["0"]);
    let (ok, again) = cli(&url, &[], &["webhook", "remove", &id]);
    assert!(!ok && again.contains("no webhook endpoint"), "{again}");
    assert!(!cli(&url, &[], &["webhook", "list"]).1.contains(&id));
}
