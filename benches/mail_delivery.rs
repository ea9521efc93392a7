//! Delivery throughput of one instance draining a backlog over 100,000 old outbox rows: mail against
//! a fast and a slow SMTP server, next to what the SMTP mailer alone sends; then webhook events
//! (the other channel of the same queue) against a receiver answering at once and after 100 ms,
//! next to what the HTTP client alone posts.
//! `cargo bench --bench mail_delivery`; its variables and goals are in docs/PERFORMANCE.md.
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/mail.rs"]
mod mail;
#[path = "support/service.rs"]
mod service;
#[path = "../tests/api/smtp_server.rs"]
mod smtp_server;
#[path = "../tests/api/webhook_receiver.rs"]
mod webhook_receiver;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use account_recovery::{
    domain::{
        grant::{GrantOwner, GrantPurpose, NewGrant, ResetToken},
        keyring::Keyring,
        mail_kind::MailKind,
        member::MemberId,
        site::SiteId,
    },
    infra::{
        db::{self, outbox::SeaOutbox},
        redis::RedisStore,
        sealer::Sealer,
    },
    recovery::ports::{KeyedMail, MailMeta, MailOutbox, TokenStore},
};
use mail::{mailer_alone, sample_mail};
use service::{BENCH_SECRET_KEY, BenchDatabase, Service, cli, env_or, psql};
use smtp_server::SmtpServer;
use webhook_receiver::WebhookReceiver;

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const OLD_ROWS: u64 = 100_000;
const FAST_GOAL: f64 = 500.0;
const SLOW_GOAL: f64 = 100.0;

/// Fills the new database: 100,000 old rows as a day of traffic leaves them (bodies erased,
/// finished within the last day, 10 % dropped, each with its request key), then `mails` reset mails
/// due now, each with a live grant.
async fn seed(database_url: &str, redis_url: &str, prefix: &str, run: &str, mails: usize) {
    psql(
        database_url,
        &format!(
            "insert into outbox (site_id, member_id, kind, recipient, sealed, grant_ref, status, attempts, \
             next_attempt_at, last_error, created_at, sent_at, dedup_key) \
             select 'main', null, 'RESET_REQUESTED', 'old' || g || '@example.com', null, null, \
             case when g % 10 = 0 then 'DROPPED' else 'SENT' end, 1, \
             now() - make_interval(secs => g % 86000), null, now() - make_interval(secs => g % 86000 + 1), \
             case when g % 10 = 0 then null else now() - make_interval(secs => g % 86000) end, 'old-' || g \
             from generate_series(1, {OLD_ROWS}) g; analyze outbox"
        ),
    );
    let db = db::connect(database_url, 4, Duration::from_secs(10), db::StatementLimit::None)
        .await
        .unwrap();
    let outbox = SeaOutbox::new(db, Sealer::new(&Keyring::single(BENCH_SECRET_KEY.as_bytes())));
    let tokens = Arc::new(
        RedisStore::connect_trusting(redis_url, prefix, Duration::from_secs(5), None)
            .await
            .unwrap(),
    );
    let site = SiteId::parse("main").unwrap();
    let mut batch = Vec::new();
    let mut issuing = tokio::task::JoinSet::new();
    for i in 0..mails {
        let owner = GrantOwner {
            site: site.clone(),
            member: MemberId(uuid::Uuid::new_v4().to_string()),
        };
        let grant = NewGrant::new(
            GrantPurpose::Email,
            ResetToken::generate().hash(),
            None,
            Duration::from_secs(3600),
        );
        batch.push(KeyedMail {
            key: format!("{run}-{i}"),
            meta: MailMeta {
                site: site.clone(),
                member: Some(owner.member.clone()),
                kind: MailKind::ResetRequested,
                grants: vec![(owner.clone(), grant.id.clone())],
            },
            mail: sample_mail(run, i),
        });
        let tokens = tokens.clone();
        issuing.spawn(async move { tokens.issue_grant(&owner, &grant, None).await.unwrap() });
        if issuing.len() >= 64 {
            issuing.join_next().await.unwrap().unwrap();
        }
        if batch.len() == 500 {
            outbox.enqueue_resolved(&batch, &[]).await.unwrap();
            batch.clear();
        }
    }
    while issuing.join_next().await.is_some() {}
    outbox.enqueue_resolved(&batch, &[]).await.unwrap();
}

struct Measured {
    rate: f64,
    drained: Duration,
}

/// One instance draining `mails` queued mails on a fresh database with 100,000 old rows.
async fn run(label: &str, smtp: &SmtpServer, concurrency: usize, mails: usize, explain: bool) -> Measured {
    let admin = env_or("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let redis = env_or("BENCH_REDIS_URL", "redis://127.0.0.1:6379");
    let database = BenchDatabase::create(&admin, "mail");
    let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let run_key = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", database.url()),
        ("SECRET_KEY", BENCH_SECRET_KEY.into()),
        ("DEMO", "false".into()),
        ("SMTP_URL", smtp.url()),
        ("REDIS_URL", redis.clone()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("MAIL_CONCURRENCY", concurrency.to_string()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    cli(&env, &["migrate"]);
    seed(&database.url(), &redis, &prefix, &run_key, mails).await;
    if explain {
        let now = "now()";
        for status in ["SENDING", "PENDING"] {
            // The statement the worker's claim runs on PostgreSQL (src/infra/db/outbox/mod.rs).
            let plan = psql(
                &database.url(),
                &format!(
                    "explain update outbox set status = 'SENDING', attempts = attempts + 1, \
                     next_attempt_at = {now} + interval '120 seconds' where id in (select id from outbox \
                     where channel = 'MAIL' and status = '{status}' and next_attempt_at <= {now} order by next_attempt_at limit 16 \
                     for update skip locked) returning *"
                ),
            );
            println!("claim of {status} rows, {OLD_ROWS} old rows + {mails} due:\n{plan}");
        }
    }
    let dir = std::env::temp_dir().join(format!("ar-bench-mail-{run_key}"));
    std::fs::create_dir_all(&dir).unwrap();
    let before = smtp.count();
    let started = Instant::now();
    let service = Service::start(&env, &dir);
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut first: Option<Instant> = None;
    loop {
        let got = smtp.count() - before;
        if got > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if got >= mails {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{label}] only {got} of {mails} delivered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();
    let first = first.unwrap();
    let rate = (mails - 1) as f64 / first.elapsed().as_secs_f64();
    drop(service);
    let statuses = database.scalar(
        "select string_agg(status || '=' || n, ' ' order by status) from \
         (select status, count(*) n from outbox group by status) s",
    );
    let audit = database.scalar("select count(*) from audit_events where kind = 'RESET_MAILED'");
    println!(
        "{label:<34} {mails:>6} mails in {:>6.2?} (start to last): {rate:>7.1} mails/s from the first; outbox {statuses}; RESET_MAILED audit rows {audit}",
        drained
    );
    Measured { rate, drained }
}

/// A signed event as the service posts it.
fn event_body(i: usize) -> String {
    format!(
        "{{\"type\":\"member.password.reset\",\"timestamp\":\"2026-12-07T00:00:00.000Z\",\"data\":{{\"memberId\":\"m-{i}\",\"siteId\":\"main\",\"loginId\":\"member{i:06}\",\"at\":\"2026-12-07T00:00:00.000Z\",\"clientAddress\":\"203.0.113.0/24\"}}}}"
    )
}

/// What the HTTP client alone (no queue, no database) posts to `receiver` from `concurrency`
/// senders, signing each as the service does: the ceiling.
async fn http_alone(receiver: &WebhookReceiver, concurrency: usize, events: usize) -> f64 {
    use account_recovery::domain::webhook::{WebhookSecret, signature_header};
    let client = reqwest::Client::new();
    let secret = [WebhookSecret::parse(WEBHOOK_SECRET).unwrap()];
    let before = receiver.deliveries().len();
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for c in 0..concurrency {
        let (client, secret, url) = (client.clone(), secret.clone(), receiver.url());
        senders.spawn(async move {
            for i in (c..events).step_by(concurrency) {
                let (id, body, now) = (
                    format!("msg_raw{i}"),
                    event_body(i),
                    chrono::Utc::now().timestamp(),
                );
                let answer = client
                    .post(&url)
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", now.to_string())
                    .header("webhook-signature", signature_header(&secret, &id, now, &body))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(answer.status().is_success());
            }
        });
    }
    while senders.join_next().await.is_some() {}
    assert_eq!(receiver.deliveries().len() - before, events);
    events as f64 / started.elapsed().as_secs_f64()
}

/// One instance delivering `events` queued events (one endpoint, WEBHOOK_URL) on a fresh database
/// beside 100,000 old mail rows; events/s from the first delivery to the last.
async fn run_events(label: &str, receiver: &WebhookReceiver, concurrency: usize, events: usize) -> f64 {
    let admin = env_or("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let redis = env_or("BENCH_REDIS_URL", "redis://127.0.0.1:6379");
    let database = BenchDatabase::create(&admin, "hook");
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", database.url()),
        ("SECRET_KEY", BENCH_SECRET_KEY.into()),
        ("DEMO", "false".into()),
        ("REDIS_URL", redis),
        (
            "REDIS_KEY_PREFIX",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        ),
        ("WEBHOOK_URL", receiver.url()),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ("WEBHOOK_CONCURRENCY", concurrency.to_string()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    cli(&env, &["migrate"]);
    // The old rows a day of mail leaves, then the due events as changes queue them.
    psql(
        &database.url(),
        &format!(
            "insert into outbox (site_id, member_id, kind, recipient, status, attempts, next_attempt_at, \
             created_at, sent_at, dedup_key) select 'main', gen_random_uuid()::text, 'RESET_REQUESTED', \
             'old' || g || '@example.com', 'SENT', 1, now() - interval '1 hour', now() - interval '1 hour', \
             now() - interval '1 hour', 'old-' || g from generate_series(1, {OLD_ROWS}) g; \
             insert into outbox (channel, site_id, member_id, kind, recipient, payload, status, attempts, \
             next_attempt_at, created_at, dedup_key) select 'WEBHOOK', 'main', 'm-' || g, \
             'member.password.reset', 'configured', '{}', 'PENDING', 0, now(), now(), 'msg_bench' || g \
             from generate_series(1, {events}) g; analyze outbox",
            event_body(0).replace('\'', "''")
        ),
    );
    let dir = std::env::temp_dir().join(format!(
        "ar-bench-hook-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let accepted = || receiver.deliveries().iter().filter(|d| d.accepted()).count();
    let before = accepted();
    let started = Instant::now();
    let service = Service::start(&env, &dir);
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut first: Option<Instant> = None;
    loop {
        let got = accepted() - before;
        if got > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if got >= events {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{label}] only {got} of {events} delivered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();
    let rate = (events - 1) as f64 / first.unwrap().elapsed().as_secs_f64();
    drop(service);
    let statuses = database.scalar(
        "select string_agg(status || '=' || n, ' ' order by status) from \
         (select status, count(*) n from outbox where channel = 'WEBHOOK' group by status) s",
    );
    println!(
        "{label:<38} {events:>6} events in {drained:>6.2?} (start to last): {rate:>7.1} events/s from the first; webhook rows {statuses}"
    );
    rate
}

/// Webhook events through the same queue, beside the mail figures.
async fn webhook_figures(fast_events: usize) {
    let receiver = WebhookReceiver::start().await;
    println!("== Webhook receiver answering at once");
    let raw_fast = http_alone(&receiver, 16, 5000).await;
    println!("the HTTP client alone, 16 senders:      {raw_fast:>7.1} events/s");
    let fast = run_events("service, WEBHOOK_CONCURRENCY=16", &receiver, 16, fast_events).await;
    println!("== Webhook receiver answering after 100 ms");
    receiver.delay(Duration::from_millis(100));
    let raw_slow = http_alone(&receiver, 16, 800).await;
    println!("the HTTP client alone, 16 senders:      {raw_slow:>7.1} events/s");
    let slow = run_events("service, WEBHOOK_CONCURRENCY=16", &receiver, 16, 2000).await;
    println!(
        "webhooks, receiver at once:  {fast:>7.1} events/s = {:.2} × the HTTP client alone",
        fast / raw_fast
    );
    println!(
        "webhooks, receiver at 100 ms: {slow:>7.1} events/s = {:.2} × the HTTP client alone (16 in flight: ≤ 160/s)",
        slow / raw_slow
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fast_mails: usize = env_or("BENCH_MAILS", "20000").parse().unwrap();
    let slow_mails: usize = env_or("BENCH_SLOW_MAILS", "3000").parse().unwrap();
    let smtp = SmtpServer::start().await;

    println!("== SMTP server answering at once");
    let raw_fast = mailer_alone(&smtp, 8, 5000).await.0;
    println!("the SMTP mailer alone, 8 connections: {raw_fast:>7.1} mails/s");
    let fast = run("service, MAIL_CONCURRENCY=8", &smtp, 8, fast_mails, true).await;

    println!("== SMTP server answering each command after 100 ms");
    smtp.set_reply_delay(Duration::from_millis(100));
    let raw_slow_8 = mailer_alone(&smtp, 8, 160).await.0;
    println!("the SMTP mailer alone, 8 connections: {raw_slow_8:>7.1} mails/s");
    let slow_8 = run("service, MAIL_CONCURRENCY=8", &smtp, 8, slow_mails / 6, false).await;
    let raw_slow_64 = mailer_alone(&smtp, 64, 1280).await.0;
    println!("the SMTP mailer alone, 64 connections: {raw_slow_64:>7.1} mails/s");
    let slow_64 = run("service, MAIL_CONCURRENCY=64", &smtp, 64, slow_mails, false).await;

    println!("== Summary (one instance, PostgreSQL with {OLD_ROWS} old rows, reset mails with live grants)");
    let verdict = |rate: f64, goal: f64| if rate >= goal { "met" } else { "MISSED" };
    println!(
        "fast server, MAIL_CONCURRENCY=8:    {:>7.1} mails/s = {:.2} × the mailer alone; goal ≥ {FAST_GOAL}: {} ({:.1?} to drain)",
        fast.rate,
        fast.rate / raw_fast,
        verdict(fast.rate, FAST_GOAL),
        fast.drained
    );
    println!(
        "100 ms server, MAIL_CONCURRENCY=8:  {:>7.1} mails/s = {:.2} × the mailer alone (each message is 4 replies on a reused connection: ≤ 20/s on 8)",
        slow_8.rate,
        slow_8.rate / raw_slow_8
    );
    println!(
        "100 ms server, MAIL_CONCURRENCY=64: {:>7.1} mails/s = {:.2} × the mailer alone; goal ≥ {SLOW_GOAL}: {}",
        slow_64.rate,
        slow_64.rate / raw_slow_64,
        verdict(slow_64.rate, SLOW_GOAL)
    );
    webhook_figures(env_or("BENCH_EVENTS", "20000").parse().unwrap()).await;
}
