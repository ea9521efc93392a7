//! The e-mail reset paths behind their hand-off, on every backend pair (SQLite + table, and
//! PostgreSQL/MariaDB both with Redis's stream and with the table): the resolver applies every rule
//! in batches, a request resolved twice mails once, a lease that runs out hands the request to
//! another resolver, and an instance killed between hand-off and resolution loses nothing.
use std::time::Duration;

use serde_json::Value;

use crate::{
    helpers::{
        Backend, Endpoint, MailedGrant, TestApp, backend_settings, backend_test, mailed_grants,
        spawn_app_with,
    },
    operations::{by, credential},
    processes::{env_for, import_fixture, start_process},
    smtp_server::SmtpServer,
};

/// The hand-offs of `backend` (the settings of each, labelled): the one it gets by default (Redis
/// for a server database when TEST_REDIS_URL is set), plus for a server database with Redis the
/// table without it (claimed with `FOR UPDATE SKIP LOCKED`).
async fn hand_offs(
    backend: &Backend,
    extra: &[(&str, &str)],
) -> Vec<(String, account_recovery::config::Settings)> {
    let settings = backend_settings(backend, extra).await;
    let Some(_) = settings.redis.url else {
        return vec![(format!("{}+table", backend.name()), settings)];
    };
    let mut table = backend_settings(backend, extra).await;
    table.redis.url = None;
    vec![
        (format!("{}+redis", backend.name()), settings),
        (format!("{}+table", backend.name()), table),
    ]
}

async fn start(
    settings: account_recovery::config::Settings,
    backend: &Backend,
    smtp: &SmtpServer,
) -> TestApp {
    let mut settings = settings;
    settings.smtp.url = Some(secrecy::SecretString::from(smtp.url()));
    spawn_app_with(backend, settings).await.with_fixture().await
}

/// Asserts that every mailed grant's link still verifies.
async fn assert_live(api: &Endpoint, grants: &[MailedGrant], label: &str) {
    for grant in grants {
        let verified = api.verify_reset(credential::token(&grant.token)).await;
        assert!(verified.valid, "[{label}] {verified}");
    }
}

#[backend_test]
async fn the_resolver_applies_every_rule_of_the_email_paths_in_one_batch(backend: Backend) {
    for (label, settings) in hand_offs(&backend, &[("RESET_RESOLVER", "false")]).await {
        let smtp = SmtpServer::start().await;
        let app = start(settings, &backend, &smtp).await;
        // Handed off while no resolver runs, so one batch holds them all.
        let requests = [
            by::email("alice@example.com"),
            by::email("nobody@example.com"),
            by::account("alice01", "mallory@example.com"),
            by::email("bob@example.com"),
            by::email("locked@example.com"),
            by::account("alice01", "alice@example.com"),
        ];
        let mut answers = Vec::new();
        for by in requests {
            let issued = app.issue_reset(by).await;
            assert!(issued.accepted, "[{label}] {issued}");
            assert_eq!(issued.channel.as_deref(), Some("EMAIL"), "[{label}]");
            // Whole answers, but for the masked form of the address each caller typed.
            let mut body = issued.body;
            body["data"]["issueResetToken"]["maskedDestination"] = Value::Null;
            answers.push(body);
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "[{label}] the same answer for every address: {answers:?}"
        );
        assert_eq!(
            app.recovery.ports.reset_queue.backlog().await.unwrap(),
            6,
            "[{label}] one hand-off per request, nothing resolved yet"
        );
        assert!(
            app.sql_strings("SELECT id FROM outbox").await.is_empty(),
            "[{label}] the request path queues no mail"
        );
        let resolved = app
            .recovery
            .password_reset
            .resolve_pending(100, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(resolved, 6, "[{label}]");
        assert_eq!(app.recovery.ports.reset_queue.backlog().await.unwrap(), 0);

        // One mail for alice@example.com listing both password accounts (not the withdrawn one);
        // the repeated request for alice01 in the same batch is inside the cooldown.
        let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let mails_now = smtp.messages();
        assert_eq!(mails_now.len(), 1, "[{label}] only the real address got mail");
        assert_eq!(mails[0].to, vec!["alice@example.com".to_owned()]);
        let grants = mailed_grants(&mails[0]);
        let ids: Vec<&str> = grants.iter().map(|g| g.login_id.as_str()).collect();
        assert_eq!(ids, ["alice01", "AliceBiz"], "[{label}]");
        assert_live(&app, &grants, &label).await;
        let mut outcomes = app
            .sql_strings("SELECT outcome FROM audit_events WHERE kind = 'RESET_REQUESTED'")
            .await;
        outcomes.sort();
        assert_eq!(
            outcomes,
            [
                "cooldown",
                "mail_queued",
                "mail_queued",
                "no_account",
                "no_account",
                "no_account",
                "no_account"
            ],
            "[{label}]"
        );
    }
}

#[backend_test]
async fn the_per_member_mail_budget_holds_behind_the_hand_off(backend: Backend) {
    // Three mails an hour, the last of which only a proven request (a solved challenge, the
    // member's device) may take: plain requests get two.
    let limits = crate::helpers::GENEROUS_LIMITS.replace("resetMail.id=10000/600", "resetMail.id=3/3600");
    for (label, settings) in hand_offs(
        &backend,
        &[("RATE_LIMITS", &limits), ("RESET_COOLDOWN_SECS", "1")],
    )
    .await
    {
        let smtp = SmtpServer::start().await;
        let app = start(settings, &backend, &smtp).await;
        for _ in 0..4 {
            app.issue_reset(by::account("alice01", "alice@example.com")).await;
            app.wait_until_resolved().await;
            // Past the cooldown: only the budget can refuse the next one.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        smtp.wait_for_messages(2, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            smtp.messages().len(),
            2,
            "[{label}] two mails, then the budget is spent but for the kept one"
        );
        let limited = app
            .sql_strings("SELECT outcome FROM audit_events WHERE outcome = 'member_limited'")
            .await;
        assert_eq!(limited.len(), 2, "[{label}]");
    }
}

#[backend_test]
async fn a_request_resolved_again_after_a_crash_before_its_acknowledgement_mails_once(backend: Backend) {
    for (label, settings) in hand_offs(&backend, &[("RESET_RESOLVER", "false")]).await {
        let smtp = SmtpServer::start().await;
        let app = start(settings, &backend, &smtp).await;
        app.issue_reset(by::email("alice@example.com")).await;
        let queue = app.recovery.ports.reset_queue.clone();
        let claimed = queue.claim(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(claimed.len(), 1, "[{label}]");
        let reset = &app.recovery.password_reset;
        reset.resolve_batch(&claimed).await.unwrap();
        let first = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
        let grants = mailed_grants(&first[0]);
        assert_eq!(grants.len(), 2, "[{label}]");
        // The same request again, as a resolver that issued the grants and queued the mail but
        // died before acknowledging would leave it: once as redelivered, once as if new.
        for redelivered in [true, false] {
            let mut again = claimed[0].clone();
            again.redelivered = redelivered;
            again.id = "0".into();
            reset.resolve_batch(&[again]).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(smtp.messages().len(), 1, "[{label}] no second mail");
        assert_eq!(
            app.sql_strings("SELECT id FROM outbox").await.len(),
            1,
            "[{label}] no second outbox row"
        );
        // The mailed grants are still the live ones.
        assert_live(&app, &grants, &label).await;
    }
}

#[backend_test]
async fn a_claim_whose_lease_ran_out_is_resolved_by_the_next_resolver_once(backend: Backend) {
    for (label, settings) in hand_offs(&backend, &[("RESET_RESOLVER", "false")]).await {
        let smtp = SmtpServer::start().await;
        let app = start(settings, &backend, &smtp).await;
        app.issue_reset(by::account("alice01", "alice@example.com")).await;
        let queue = app.recovery.ports.reset_queue.clone();
        let lease = Duration::from_secs(2);
        // A resolver claims the request and dies; the next one to claim it does too.
        let first = queue.claim(10, lease).await.unwrap();
        assert_eq!(first.len(), 1, "[{label}]");
        assert!(
            !first[0].redelivered,
            "[{label}] a first claim is not a redelivery"
        );
        let reset = &app.recovery.password_reset;
        assert_eq!(
            reset.resolve_pending(10, lease).await.unwrap(),
            0,
            "[{label}] nobody else takes it while the lease runs"
        );
        tokio::time::sleep(lease + Duration::from_millis(1200)).await;
        let again = queue.claim(10, lease).await.unwrap();
        assert_eq!(again.len(), 1, "[{label}]");
        assert!(again[0].redelivered, "[{label}] claimed again after its lease");
        tokio::time::sleep(lease + Duration::from_millis(1200)).await;
        assert_eq!(reset.resolve_pending(10, lease).await.unwrap(), 1, "[{label}]");
        assert_eq!(reset.resolve_pending(10, lease).await.unwrap(), 0, "[{label}]");
        smtp.wait_for_messages(1, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(smtp.messages().len(), 1, "[{label}]");
    }
}

#[backend_test]
async fn concurrent_claimers_never_share_a_request_and_leave_none(backend: Backend) {
    use account_recovery::{
        domain::{email::Email, lang::Lang, reset_nonce::ResetNonce, site::SiteId},
        recovery::ports::{HandedOffReset, ResetTarget},
    };
    const REQUESTS: usize = 120;
    for (label, settings) in hand_offs(&backend, &[("RESET_RESOLVER", "false")]).await {
        let smtp = SmtpServer::start().await;
        let app = start(settings, &backend, &smtp).await;
        let queue = app.recovery.ports.reset_queue.clone();
        for i in 0..REQUESTS {
            let request = HandedOffReset {
                site: SiteId::parse("main").unwrap(),
                lang: Lang::En,
                client: None,
                target: ResetTarget::Email(Email::parse(&format!("nobody{i}@example.com")).unwrap()),
                nonce: ResetNonce::generate(),
                admission: account_recovery::domain::device::Admission::Budget,
            };
            queue.hand_off(&request).await.unwrap();
        }
        // Four claimers at once (as two loops on each of two instances), each until it finds none.
        let claimers: Vec<_> = (0..4)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    loop {
                        let batch = queue.claim(8, Duration::from_secs(60)).await.unwrap();
                        if batch.is_empty() {
                            return ids;
                        }
                        assert!(batch.iter().all(|c| !c.redelivered));
                        ids.extend(batch.into_iter().map(|c| c.id));
                    }
                })
            })
            .collect();
        let mut ids = Vec::new();
        for claimer in claimers {
            ids.extend(claimer.await.unwrap());
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "[{label}] no request claimed twice");
        assert_eq!(ids.len(), REQUESTS, "[{label}] every request claimed");
    }
}

#[tokio::test]
async fn a_failed_hand_off_is_service_unavailable_for_every_address() {
    let backend = Backend::Sqlite;
    let smtp = SmtpServer::start().await;
    let app = start(backend_settings(&backend, &[]).await, &backend, &smtp).await;
    // The hand-off table is gone: every e-mail request fails alike, known address or not.
    let db = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&db, "DROP TABLE reset_requests")
        .await
        .unwrap();
    let mut answers = Vec::new();
    for by in [by::email("alice@example.com"), by::email("alicf@example.com")] {
        let refused = app.issue_reset(by).await;
        assert_eq!(refused.top_code(), Some("SERVICE_UNAVAILABLE"), "{refused}");
        answers.push(refused.body);
    }
    assert_eq!(answers[0], answers[1]);
}

/// Instance A hands the request off and is killed (SIGKILL) before any resolver ran; instance B,
/// started on the same database (and Redis), resolves it: the mail goes out exactly once.
#[backend_test]
async fn an_instance_killed_between_hand_off_and_resolution_loses_no_mail_and_sends_one(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let url = crate::helpers::fresh_database(&backend).await;
    let prefix = crate::helpers::unique_name();
    let mut shared: Vec<(&str, &str)> = Vec::new();
    let redis = crate::helpers::redis_url();
    if let (Some(redis), false) = (&redis, matches!(backend, Backend::Sqlite)) {
        shared.push(("REDIS_URL", redis));
        shared.push(("REDIS_KEY_PREFIX", &prefix));
    }
    let env_b = env_for(&url, &smtp, &shared);
    let mut with_a = shared.clone();
    with_a.push(("RESET_RESOLVER", "false"));
    let env_a = env_for(&url, &smtp, &with_a);
    import_fixture(&env_a);

    let mut a = start_process(&env_a).await;
    let issued = Endpoint::new(a.base_url(), backend.name())
        .issue_reset(by::email("alice@example.com"))
        .await;
    assert!(issued.accepted, "{issued}");
    let pid = libc::pid_t::try_from(a.pid().expect("A runs")).unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own unreaped child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    a.stop(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        smtp.messages().is_empty(),
        "[{}] A resolved nothing",
        backend.name()
    );

    let mut b = start_process(&env_b).await;
    let mails = smtp.wait_for_messages(1, Duration::from_secs(15)).await;
    assert_eq!(mails.len(), 1, "[{}] B resolved A's request", backend.name());
    let grants = mailed_grants(&mails[0]);
    assert_eq!(grants.len(), 2, "[{}]", backend.name());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1, "[{}] exactly once", backend.name());
    let on_b = Endpoint::new(b.base_url(), backend.name());
    assert_live(&on_b, &grants[..1], backend.name()).await;
    b.stop(Duration::from_secs(10)).await;
}
