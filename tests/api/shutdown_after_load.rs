//! A SIGTERM right after a burst of full-work reset requests (each for a distinct known member:
//! hand-off, resolver, grant, sealed mail, SMTP) stops the instance within 10 s, with a backlog of
//! unresolved requests and unsent mail still behind it; a second instance then mails every request
//! exactly once. Measured before this test: one of two release instances was still up 10 s after
//! such a SIGTERM.
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
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
const MEMBERS: usize = 4_000;
const CLIENTS: usize = 16;
/// How long the requests go on before the SIGTERM.
const LOAD: Duration = Duration::from_secs(6);
const STOP_BOUND: Duration = Duration::from_secs(10);
const LIMITS: &str = "issueResetToken.client=1000000/600,issueResetToken.id=1000000/600,\
resetMail.id=1000000/600";

const ISSUE: &str = "mutation($e: String!) { issueResetToken(by: {email: $e}) { accepted errors { code } } }";

fn email(i: usize) -> String {
    format!("load{i:05}@example.com")
}

#[backend_test(servers, flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_right_after_a_burst_of_full_work_stops_within_ten_seconds(backend: Backend) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is unset: the hand-off of a serving pair is not exercised");
        return;
    };
    let label = backend.name();
    let smtp = SmtpServer::start().await;
    let url = fresh_database(&backend).await;
    let prefix = unique_name();
    let smtp_url = smtp.url();
    let env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &url),
        ("SECRET_KEY", TEST_SECRET_KEY),
        ("DEMO", "false"),
        ("SMTP_URL", &smtp_url),
        ("REDIS_URL", &redis),
        ("REDIS_KEY_PREFIX", &prefix),
        ("RATE_LIMITS", LIMITS),
        ("MAIL_POLL_MS", "200"),
        ("RUST_LOG", "info"),
        ("NO_COLOR", "1"),
    ];
    let imported = std::process::Command::new(BINARY)
        .args([
            "member",
            "import",
            members_file("load", MEMBERS).to_str().unwrap(),
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

    let mut first = ServiceProcess::start(BINARY, &["serve"], &env).await;
    let base = Arc::new(first.base_url());
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (base, next) = (base.clone(), next.clone());
        clients.spawn(async move {
            let client = http_client();
            let mut accepted = Vec::new();
            while began.elapsed() < LOAD {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= MEMBERS {
                    break;
                }
                let body = post_graphql(&client, &base, ISSUE, json!({"e": email(i)}))
                    .await
                    .unwrap_or_else(|e| panic!("{i}: {e}"));
                assert_eq!(body["data"]["issueResetToken"]["accepted"], true, "{body}");
                accepted.push(i);
            }
            accepted
        });
    }
    let mut accepted = Vec::new();
    while let Some(done) = clients.join_next().await {
        accepted.extend(done.unwrap());
    }
    let mailed_at_sigterm = smtp.messages().len();
    let signalled = Instant::now();
    let code = first.stop(Duration::from_secs(30)).await;
    let stopped_in = signalled.elapsed();
    let output = first.output_plain();
    assert_eq!(code, Some(0), "[{label}] {output}");
    assert!(
        stopped_in < STOP_BOUND,
        "[{label}] stopped {stopped_in:?} after its SIGTERM ({} requests, {mailed_at_sigterm} mailed)",
        accepted.len()
    );
    eprintln!(
        "[{label}] {} requests in {LOAD:?}, {mailed_at_sigterm} mailed at the SIGTERM, stopped in {stopped_in:?}",
        accepted.len()
    );
    // What it left behind, another instance finishes: one mail per request, none twice.
    let second = ServiceProcess::start(BINARY, &["serve"], &env).await;
    let mails = smtp
        .wait_for_messages(accepted.len(), Duration::from_secs(180))
        .await;
    let mut per_address: HashMap<String, usize> = HashMap::new();
    for mail in &mails {
        *per_address.entry(mail.to[0].clone()).or_default() += 1;
    }
    let missing: Vec<String> = accepted
        .iter()
        .map(|&i| email(i))
        .filter(|e| !per_address.contains_key(e))
        .collect();
    assert!(
        missing.is_empty(),
        "[{label}] {} never mailed, e.g. {:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(3)],
        second.output_plain()
    );
    let twice: Vec<_> = per_address.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "[{label}] mailed twice: {twice:?}");
}
