//! Latency of `issueResetToken` over HTTP while the SMTP server answers slowly: the request must
//! not contain the SMTP time (mail goes through the outbox). `cargo bench --bench reset_latency`
//! (SQLite and the in-process store; BENCH_DATABASE_URL / BENCH_REDIS_URL for server backends).
#[path = "../tests/api/smtp_server.rs"]
mod smtp_server;

use std::time::{Duration, Instant};

use account_recovery::{app::Application, config::Settings};
use serde_json::json;
use smtp_server::SmtpServer;

const MEMBERS: usize = 200;
const SMTP_DELAY: Duration = Duration::from_secs(2);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<42} n={:<4} p50={:>7.2?} p90={:>7.2?} p99={:>7.2?} max={:>7.2?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let smtp = SmtpServer::start().await;
    smtp.set_reply_delay(SMTP_DELAY);
    let dir = std::env::temp_dir().join(format!("ar-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
    let smtp_url = smtp.url();
    let mut vars = vec![
        ("DATABASE_URL".to_owned(), database_url),
        ("BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("DEMO".to_owned(), "false".to_owned()),
        (
            "SECRET_KEY".to_owned(),
            "bench-secret-key-0123456789abcdef0123456789".to_owned(),
        ),
        ("SMTP_URL".to_owned(), smtp_url),
        ("SMTP_TIMEOUT_MS".to_owned(), "60000".to_owned()),
        // One client issues hundreds of resets here: measure the work, not the rate limits.
        (
            "RATE_LIMITS".to_owned(),
            "issueResetToken.client=0/1,issueResetToken.id=0/1,checkLoginId.client=0/1,checkLoginId.id=0/1"
                .to_owned(),
        ),
    ];
    if let Ok(redis) = std::env::var("BENCH_REDIS_URL") {
        vars.push(("REDIS_URL".to_owned(), redis));
        vars.push((
            "REDIS_KEY_PREFIX".to_owned(),
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        ));
    }
    let settings =
        Settings::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    let app = Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}/graphql", app.port());
    let recovery = app.recovery();
    let members: String = (0..MEMBERS)
        .map(|i| {
            format!(
                "{{\"loginId\":\"bench{i:04}\",\"email\":\"bench{i:04}@example.com\",\"passwordHash\":\"$2b$04$KM2WBkWlJ6cHQrBkHkkkAuL6Ygs/eTbbHvUfb4/gR/wTr.T5sPeTC\"}}\n"
            )
        })
        .collect();
    recovery
        .members
        .import(&members, chrono::Utc::now())
        .await
        .unwrap();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();

    let query = "mutation($by: ResetRequest!) { issueResetToken(by: $by) { accepted errors { code } } }";
    let mut issue = Vec::new();
    let started = Instant::now();
    for i in 0..MEMBERS {
        let by = json!({"account": {"loginId": format!("bench{i:04}"), "email": format!("bench{i:04}@example.com")}});
        let t = Instant::now();
        let body: serde_json::Value = client
            .post(&address)
            .json(&json!({"query": query, "variables": {"by": by}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        issue.push(t.elapsed());
        assert_eq!(body["data"]["issueResetToken"]["accepted"], true, "{body}");
    }
    let issuing = started.elapsed();
    let mut unknown = Vec::new();
    for i in 0..MEMBERS {
        let by = json!({"email": format!("nobody{i}@example.com")});
        let t = Instant::now();
        client
            .post(&address)
            .json(&json!({"query": query, "variables": {"by": by}}))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        unknown.push(t.elapsed());
    }
    let mut check = Vec::new();
    for i in 0..MEMBERS {
        let t = Instant::now();
        client
            .post(&address)
            .json(&json!({"query": "query($id: String!) { checkLoginId(loginId: $id) { exists } }", "variables": {"id": format!("bench{i:04}")}}))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        check.push(t.elapsed());
    }
    println!("SMTP answers every reply after {SMTP_DELAY:?} (≈7 replies per message)");
    report("issueResetToken (account, mail queued)", issue);
    report("issueResetToken (unknown address)", unknown);
    report("checkLoginId", check);
    println!(
        "{MEMBERS} resets issued in {issuing:.2?}; mails delivered meanwhile: {}",
        smtp.count()
    );
}
