//! Many instances, one outbox: three service processes on one database (PostgreSQL, then MariaDB)
//! and one Redis deliver 10,000 reset mails — 1,500 from e-mail reset requests made over HTTP,
//! spread over the three, the rest queued into the outbox as the resolver queues them (sealed, with
//! a live grant each), since a debug build on a shared machine resolves 10,000 requests too slowly
//! for a test — and the test SMTP server receives each exactly once (none twice, none lost), while
//! one instance is stopped with SIGTERM half-way: it exits within seconds, the requests it is
//! serving finish, and the mail it had claimed is sent by the others.
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
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
    recovery::ports::{KeyedMail, MailMeta, MailOutbox, OutgoingMail, TokenStore},
};
use serde_json::json;

use crate::{
    helpers::{
        Backend, TEST_SECRET_KEY, backend_test, fresh_database, http_client, members_file, post_graphql,
        redis_url, unique_name,
    },
    service_process::ServiceProcess,
    smtp_server::SmtpServer,
};

const BINARY: &str = env!("CARGO_BIN_EXE_account-recovery");
const MAILS: usize = 10_000;
/// Of which come from reset requests over HTTP.
const REQUESTS: usize = 1_500;
/// Requests on their way at once, over the three instances.
const CLIENTS: usize = 24;
/// Requests in flight on the stopped instance at its SIGTERM.
const PROBES: usize = 20;
/// The stopped instance must be gone within this after its SIGTERM.
const STOP_BOUND: Duration = Duration::from_secs(10);
const LIMITS: &str = "issueResetToken.client=1000000/600,issueResetToken.id=1000000/600,\
resetMail.id=1000000/600,signIn.client=1000000/600,signIn.id=1000000/600";

fn email(i: usize) -> String {
    format!("member{i:05}@example.com")
}

/// Queues the mails not requested over HTTP straight into the outbox, as the resolver does: a live
/// grant in Redis for each (so the worker's grant check passes) and one sealed reset mail carrying it.
async fn queue_directly(database_url: &str, redis: &str, prefix: &str) {
    let db = db::connect(database_url, 4, Duration::from_secs(10), db::StatementLimit::None)
        .await
        .unwrap();
    let outbox = SeaOutbox::new(db, Sealer::new(&Keyring::single(TEST_SECRET_KEY.as_bytes())));
    let tokens = Arc::new(
        RedisStore::connect_trusting(redis, prefix, Duration::from_secs(5), None)
            .await
            .unwrap(),
    );
    let site = SiteId::parse("main").unwrap();
    let mut batch = Vec::new();
    let mut issuing = tokio::task::JoinSet::new();
    for i in REQUESTS..MAILS {
        let owner = GrantOwner {
            site: site.clone(),
            member: MemberId(uuid::Uuid::new_v4().to_string()),
        };
        let grant = NewGrant::new(
            GrantPurpose::Email,
            ResetToken::generate().hash(),
            None,
            Duration::from_secs(900),
        );
        batch.push(KeyedMail {
            key: format!("direct-{i}"),
            meta: MailMeta {
                site: site.clone(),
                member: Some(owner.member.clone()),
                kind: MailKind::ResetRequested,
                grants: vec![(owner.clone(), grant.id.clone())],
            },
            mail: OutgoingMail {
                to: email(i),
                subject: "Reset your password".into(),
                text: format!("Your code is 123456 ({i})."),
                html: format!("<p>Your code is 123456 ({i}).</p>"),
            },
        });
        let tokens = tokens.clone();
        issuing.spawn(async move { tokens.issue_grant(&owner, &grant, None).await.unwrap() });
        if issuing.len() >= 32 {
            issuing.join_next().await.unwrap().unwrap();
        }
        if batch.len() == 500 {
            outbox.enqueue_resolved(&batch, &[]).await.unwrap();
            batch.clear();
        }
    }
    while let Some(issued) = issuing.join_next().await {
        issued.unwrap();
    }
    outbox.enqueue_resolved(&batch, &[]).await.unwrap();
}

/// The last lines of a service's log that are not access lines.
fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| !l.contains("finished processing request"))
        .collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

#[backend_test(servers, flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_outbox_and_mail_each_reset_once_through_a_sigterm(backend: Backend) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is unset: instances cannot share state; not exercised");
        return;
    };
    three_instances_share_one_outbox(&backend, &redis).await;
}

async fn three_instances_share_one_outbox(backend: &Backend, redis: &str) {
    let label = backend.name();
    let began = Instant::now();
    let smtp = SmtpServer::start().await;
    // 10 ms a reply, about 50 ms a message: at most ~480 mails/s over 3 × 8 connections, so the
    // SIGTERM finds a backlog however fast the machine, and messages in the middle of their sending.
    smtp.set_reply_delay(Duration::from_millis(10));
    let url = fresh_database(backend).await;
    let prefix = unique_name();
    let smtp_url = smtp.url();
    let env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &url),
        ("SECRET_KEY", TEST_SECRET_KEY),
        ("DEMO", "false"),
        ("SMTP_URL", &smtp_url),
        ("REDIS_URL", redis),
        ("REDIS_KEY_PREFIX", &prefix),
        ("RATE_LIMITS", LIMITS),
        ("MAIL_POLL_MS", "200"),
        // Above 5 + 2 + 3 × 2 + 1 s, with room for claimed mail to wait its turn on a loaded machine
        // (the SIGTERM releases it, so the test never waits for a lease).
        ("MAIL_LEASE_SECS", "30"),
        ("SMTP_TIMEOUT_MS", "5000"),
        ("REDIS_TIMEOUT_MS", "2000"),
        ("DB_TIMEOUT_MS", "2000"),
        ("RUST_LOG", "info"),
        ("NO_COLOR", "1"),
    ];
    let imported = std::process::Command::new(BINARY)
        .args([
            "member",
            "import",
            members_file("member", REQUESTS).to_str().unwrap(),
        ])
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );

    // The one to be stopped hashes one password at a time, so sign-ins queue there and are in
    // flight when its SIGTERM comes.
    let mut stopped_env = env.clone();
    stopped_env.push(("HASH_CONCURRENCY", "1"));
    let mut stopped = ServiceProcess::start(BINARY, &["serve"], &stopped_env).await;
    let b = ServiceProcess::start(BINARY, &["serve"], &env).await;
    let c = ServiceProcess::start(BINARY, &["serve"], &env).await;
    let bases = Arc::new([stopped.base_url(), b.base_url(), c.base_url()]);

    // The requests over the three; once the first is marked down, its share goes to the others
    // (a load balancer taking it out before its SIGTERM).
    let down = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let queued_at = Instant::now();
    let mut drivers = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (bases, down, next) = (bases.clone(), down.clone(), next.clone());
        drivers.spawn(async move {
            let client = http_client();
            let mut per_instance = [0usize; 3];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= REQUESTS {
                    return per_instance;
                }
                let mut target = i % 3;
                if target == 0 && down.load(Ordering::Relaxed) {
                    target = 1 + i % 2;
                }
                let body = post_graphql(
                    &client,
                    &bases[target],
                    "mutation($e: String!) { issueResetToken(by: {email: $e}) { accepted errors { code } } }",
                    json!({"e": email(i)}),
                )
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
                assert_eq!(body["data"]["issueResetToken"]["accepted"], true, "{body}");
                per_instance[target] += 1;
            }
        });
    }

    let mut per_instance = [0usize; 3];
    while let Some(counts) = drivers.join_next().await {
        for (total, n) in per_instance.iter_mut().zip(counts.unwrap()) {
            *total += n;
        }
    }
    let requests_took = queued_at.elapsed();
    queue_directly(&url, redis, &prefix).await;
    let queued_directly_at = queued_at.elapsed();

    // Half-way through delivery: everything queued and a fifth of the mail sent.
    let before_stop = smtp.wait_for_messages(MAILS / 5, Duration::from_secs(120)).await;
    assert!(
        before_stop.len() >= MAILS / 5,
        "[{label}] only {} mails sent after {:?}, {} requests made; the logs end:\n{}",
        before_stop.len(),
        queued_at.elapsed(),
        next.load(Ordering::Relaxed),
        [&stopped, &b, &c]
            .map(|s| tail(&s.output_plain()))
            .join("\n---\n")
    );
    down.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_at_sigterm = smtp.messages().len();
    let backlog = crate::helpers::sql_rows(
        &url,
        "SELECT COUNT(*) FROM outbox WHERE status IN ('PENDING', 'SENDING')",
    )
    .await[0][0]
        .parse::<usize>()
        .unwrap();
    assert!(
        backlog >= 1000,
        "[{label}] {sent_at_sigterm} of {MAILS} sent, {backlog} unsent: too little backlog to test the SIGTERM with"
    );
    // Sign-ins on fresh connections: with one hashing thread they queue there, so when the first
    // is answered the others have been accepted and are in flight; the SIGTERM comes then.
    let probes: Vec<reqwest::Client> = (0..PROBES).map(|_| http_client()).collect();
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for (i, client) in probes.into_iter().enumerate() {
        let (base, answered) = (bases[0].clone(), answered.clone());
        tokio::spawn(async move {
            let body = post_graphql(
                &client,
                &base,
                "mutation($l: String!) { signIn(loginId: $l, password: \"Wrong-Guess-93\") { errors { code } } }",
                json!({"l": format!("nobody{i:03}")}),
            )
            .await;
            let _ = answered.send((Instant::now(), body));
        });
    }
    drop(answered);
    let mut sign_ins = vec![answers.recv().await.unwrap()];
    let sigterm = Instant::now();
    let status = stopped.stop(STOP_BOUND + Duration::from_secs(20)).await;
    let stopping_took = sigterm.elapsed();
    let stopped_logs = stopped.output_plain();
    assert_eq!(status, Some(0), "[{label}] {stopped_logs}");
    assert!(
        stopping_took < STOP_BOUND,
        "[{label}] SIGTERM with a backlog took {stopping_took:?}"
    );
    assert!(stopped_logs.contains("mail delivery stopped"), "[{label}]");
    while let Some(answer) = answers.recv().await {
        sign_ins.push(answer);
    }
    assert_eq!(sign_ins.len(), PROBES, "[{label}]");
    for (_, answer) in &sign_ins {
        let body = answer
            .as_ref()
            .unwrap_or_else(|e| panic!("[{label}] a request in flight at SIGTERM failed: {e}"));
        assert_eq!(
            body["data"]["signIn"]["errors"][0]["code"], "INVALID_CREDENTIALS",
            "[{label}] {body}"
        );
    }
    let finished_after_sigterm = sign_ins.iter().filter(|(at, _)| *at > sigterm).count();
    assert!(
        finished_after_sigterm > 0,
        "[{label}] no request was in flight at the SIGTERM"
    );

    let mail = smtp.wait_for_messages(MAILS, Duration::from_secs(180)).await;
    let delivery_took = queued_at.elapsed();
    // Anything sent twice would come now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mail = if smtp.messages().len() > mail.len() {
        smtp.messages()
    } else {
        mail
    };
    let mut per_recipient: HashMap<&str, usize> = HashMap::new();
    for m in &mail {
        assert_eq!(m.to.len(), 1, "[{label}]");
        *per_recipient.entry(m.to[0].as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "[{label}] mailed more than once: {twice:?}");
    let lost: Vec<String> = (0..MAILS)
        .map(email)
        .filter(|e| !per_recipient.contains_key(e.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "[{label}] {} never mailed, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    assert_eq!(mail.len(), MAILS, "[{label}]");

    let sent_by = |logs: &str| logs.lines().filter(|l| l.contains("mail sent")).count();
    let (b_logs, c_logs) = (b.output_plain(), c.output_plain());
    let sent = [sent_by(&stopped_logs), sent_by(&b_logs), sent_by(&c_logs)];
    assert_eq!(sent.iter().sum::<usize>(), MAILS, "[{label}] {sent:?}");
    assert!(
        sent.iter().all(|n| *n > 0),
        "[{label}] every instance sent: {sent:?}"
    );
    let statuses = crate::helpers::sql_rows(
        &url,
        "SELECT status, COUNT(*), MAX(attempts) FROM outbox GROUP BY status",
    )
    .await;
    assert_eq!(statuses.len(), 1, "[{label}] {statuses:?}");
    assert_eq!(statuses[0][0], "SENT", "[{label}] {statuses:?}");
    assert_eq!(statuses[0][1], MAILS.to_string(), "[{label}] {statuses:?}");
    let released = stopped_logs
        .lines()
        .find(|l| l.contains("claimed mail released"))
        .unwrap_or("none released");
    eprintln!(
        "[{label}] {MAILS} mails: {REQUESTS} requests, per instance {per_instance:?}, answered in \
         {requests_took:?}; {} more queued directly by {queued_directly_at:?}; all delivered {delivery_took:?} after the \
         first request; sent per \
         instance {sent:?}; SIGTERM at {sent_at_sigterm} sent and {backlog} unsent, with {finished_after_sigterm} of {PROBES} \
         sign-ins in flight, exit after {stopping_took:?} ({released}); \
         outbox {statuses:?}; total {:?}",
        MAILS - REQUESTS,
        began.elapsed()
    );
    for mut service in [b, c] {
        assert_eq!(service.stop(Duration::from_secs(20)).await, Some(0), "[{label}]");
    }
}
