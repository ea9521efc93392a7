//! The mail pipeline end to end (issue 28, point 4): `issueResetToken(by: {email})` once for each of
//! `BENCH_PIPELINE_MEMBERS` distinct members, so every request is a hand-off, a grant, a sealed mail
//! and an SMTP conversation; mails/s until the last one arrives and the machine's CPU per mail
//! (service, PostgreSQL, Redis), next to the SMTP mailer alone, and a light query's p99 beside it.
//! `cargo bench --bench mail_pipeline`; its variables and goals are in docs/PERFORMANCE.md.
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/documents.rs"]
mod documents;
#[path = "support/driver.rs"]
mod driver;
#[path = "support/mail.rs"]
mod mail;
#[path = "support/service.rs"]
mod service;
#[path = "../tests/api/smtp_server.rs"]
mod smtp_server;

use std::{
    collections::{BTreeMap, HashSet},
    io::{BufWriter, Write},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use documents::{CHECK_LOGIN_ID, ISSUE_BY_EMAIL, PASSWORD};
use driver::{Run, body, payload_ok};
use mail::mailer_alone;
use serde_json::json;
use service::{BenchDatabase, Service, env_or};
use smtp_server::SmtpServer;

const RATE_GOAL: f64 = 2000.0;
const CPU_GOAL_MS: f64 = 1.0;

fn login_id(i: u64) -> String {
    format!("pipe{i:06}")
}
fn email(i: u64) -> String {
    format!("pipe{i:06}@bench.example")
}

/// Redis's own count of calls per command so far (commands inside scripts included).
fn redis_calls(url: &str) -> BTreeMap<String, u64> {
    let info: String = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .and_then(|mut conn| redis::cmd("INFO").arg("commandstats").query(&mut conn))
        .unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Members sharing one argon2id hash, written as `member import` reads them.
fn write_members(path: &std::path::Path, members: u64) {
    use argon2::PasswordHasher as _;
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for i in 0..members {
        writeln!(
            out,
            r#"{{"loginId":"{}","email":"{}","name":"Member {i}","passwordHash":"{hash}"}}"#,
            login_id(i),
            email(i)
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// A paced checkLoginId probe (4 connections, one request each per 40 ms: 100 req/s) in 2 s runs
/// until `stop`, merged into one for the whole window and one for the runs begun after `drain`
/// turned true (requests answered, mail still flowing).
async fn probe_until(port: u16, members: u64, drain: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> (Run, Run) {
    let (mut total, mut draining) = (Run::default(), Run::default());
    while !stop.load(Ordering::Relaxed) {
        let after_requests = drain.load(Ordering::Relaxed);
        let run = probe(port, members, Duration::from_secs(2)).await;
        for into in [Some(&mut total), after_requests.then_some(&mut draining)]
            .into_iter()
            .flatten()
        {
            into.ok += run.ok;
            into.errors += run.errors;
            into.latencies_us.extend(&run.latencies_us);
            into.first_error = into.first_error.take().or(run.first_error.clone());
        }
    }
    (total, draining)
}

async fn probe(port: u16, members: u64, seconds: Duration) -> Run {
    driver::run_paced(
        port,
        4,
        seconds,
        Duration::from_millis(40),
        Arc::new(move |i| {
            Some(body(
                CHECK_LOGIN_ID,
                json!({"id": login_id((i * 7919) % members)}),
            ))
        }),
        |v| payload_ok(v, "checkLoginId"),
    )
    .await
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin = env_or("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let redis_url = env_or("BENCH_REDIS_URL", "redis://127.0.0.1:6379");
    let members: u64 = env_or("BENCH_PIPELINE_MEMBERS", "50000").parse().unwrap();
    let connections: usize = env_or("BENCH_PIPELINE_CONNECTIONS", "32").parse().unwrap();
    let settle = Duration::from_secs(env_or("BENCH_STATS_SETTLE_SECS", "11").parse().unwrap());
    let dir = std::env::temp_dir().join(format!("ar-pipeline-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    let smtp = SmtpServer::start().await;
    let (alone_rate, alone_cpu_ms) = mailer_alone(&smtp, 8, 5000).await;
    println!(
        "limit measured now: the SMTP mailer alone, 8 connections: {alone_rate:.0} mails/s, \
         {alone_cpu_ms:.3} ms CPU per mail (mailer and test server, one process)"
    );

    let db = BenchDatabase::create(&admin, "pipe");
    let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(String, String)> = [
        ("DATABASE_URL", db.url()),
        ("REDIS_URL", redis_url.clone()),
        ("REDIS_KEY_PREFIX", prefix),
        ("SMTP_URL", smtp.url()),
        ("DEMO", "false".into()),
        ("SECRET_KEY", service::BENCH_SECRET_KEY.into()),
        ("RATE_LIMITS", service::HIGH_LIMITS.into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Ok(concurrency) = std::env::var("BENCH_MAIL_CONCURRENCY") {
        env.push(("MAIL_CONCURRENCY".into(), concurrency));
    }
    let file = dir.join("members.jsonl");
    write_members(&file, members);
    service::cli(&env, &["migrate"]);
    let imported = Instant::now();
    service::cli(&env, &["member", "import", file.to_str().unwrap()]);
    println!("{members} members imported in {:.1?}", imported.elapsed());

    let service = Service::start(&env, &dir);
    let idle = probe(service.port, members, Duration::from_secs(5)).await;
    // Statistics of the idle probe's backends are flushed before the window opens.
    tokio::time::sleep(settle).await;
    let transactions_before = db.transactions();
    let redis_before = redis_calls(&redis_url);
    let (mails_before, connections_before) = (smtp.count(), smtp.connections());

    let (stop_probe, drain) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let probing = tokio::spawn(probe_until(
        service.port,
        members,
        drain.clone(),
        stop_probe.clone(),
    ));
    let cpu_before = cpu::Snapshot::take(service.pid());
    let started = Instant::now();
    let requests = tokio::spawn(driver::run(
        service.port,
        connections,
        Duration::from_secs(900),
        Arc::new(move |i| (i < members).then(|| body(ISSUE_BY_EMAIL, json!({"e": email(i)})))),
        driver::reset_accepted,
    ));
    let deadline = started + Duration::from_secs(900);
    // Mails received by the time the last request was answered.
    let mut while_requests = None;
    while smtp.count() - mails_before < members as usize && Instant::now() < deadline {
        if while_requests.is_none() && requests.is_finished() {
            while_requests = Some((smtp.count() - mails_before, started.elapsed()));
            drain.store(true, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let window = started.elapsed();
    let cpu_after = cpu::Snapshot::take(service.pid());
    let unsettled = db.scalar("select count(*) from outbox where status <> 'SENT'");
    stop_probe.store(true, Ordering::Relaxed);
    let requests = requests.await.unwrap();
    let (loaded, draining) = probing.await.unwrap();
    let used = cpu_before.used_until(&cpu_after, &db.name);

    // Every outcome written (a row left in SENDING would be sent again when its lease ends), then
    // the statistics flushed; late or repeated mail would show within these waits.
    let last_mail = Instant::now();
    while db.scalar("select count(*) from outbox where status <> 'SENT'") != "0"
        && last_mail.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled_after = last_mail.elapsed();
    tokio::time::sleep(settle).await;
    let transactions = db.transactions().saturating_sub(transactions_before);
    let redis_after = redis_calls(&redis_url);
    let smtp_connections = smtp.connections() - connections_before;
    let received = smtp.messages().split_off(mails_before);
    let recipients: HashSet<&str> = received
        .iter()
        .flat_map(|m| m.to.iter().map(String::as_str))
        .collect();
    let missing = (0..members)
        .filter(|&i| !recipients.contains(email(i).as_str()))
        .count();
    let statuses = db.scalar(
        "select string_agg(status || '=' || n, ' ' order by status) from \
         (select status, count(*) n from outbox group by status) s",
    );
    let audit = db.scalar("select count(*) from audit_events where kind = 'RESET_MAILED'");
    drop(service);

    let mails = members as f64;
    let rate = mails / window.as_secs_f64();
    let per_mail_ms = |d: Duration| d.as_secs_f64() * 1000.0 / mails;
    println!(
        "\n== Mail pipeline end to end: {members} distinct members, issueResetToken(by: {{email}}) once each, \
         {connections} connections"
    );
    println!(
        "requests: {} accepted in {:.2?} = {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
        requests.ok,
        requests.elapsed,
        requests.rate(),
        requests.percentile_ms(0.5),
        requests.percentile_ms(0.99),
        requests.errors,
        requests
            .first_error
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!(
        "mails: {} received {window:.2?} after the first request = {rate:.0} mails/s = {:.2} × the mailer alone ({alone_rate:.0}/s)",
        received.len(),
        rate / alone_rate
    );
    if let Some((mails, at)) = while_requests {
        println!(
            "    {mails} of them by the time the last request was answered ({at:.2?}: {:.0} mails/s), the rest in the {:.2?} after; \
             outbox rows not yet settled as sent when the last arrived: {unsettled}, all settled {settled_after:.1?} later",
            mails as f64 / at.as_secs_f64(),
            window - at
        );
    }
    println!(
        "CPU per mail over that window: service {:.3} ms + PostgreSQL {:.3} ms (its backends for this database {:.3}) \
         + Redis {:.3} ms = {:.3} ms; the mailer alone {alone_cpu_ms:.3} ms",
        per_mail_ms(used.service),
        per_mail_ms(used.postgres),
        per_mail_ms(used.postgres_own_backends),
        per_mail_ms(used.redis),
        per_mail_ms(used.pipeline())
    );
    println!(
        "    beside it: this process (driver, probe, SMTP server) {:.3} ms; the machine's busy time {:.3} ms per mail \
         ({:.1} of {:.1} core-seconds available; other users' work included)",
        per_mail_ms(used.bench),
        per_mail_ms(used.machine),
        used.machine.as_secs_f64(),
        window.as_secs_f64() * std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
    );
    let redis_per_mail: Vec<String> = redis_after
        .iter()
        .map(|(name, after)| (name, after - redis_before.get(name).copied().unwrap_or(0)))
        .filter(|(_, calls)| *calls as f64 / mails >= 0.005)
        .map(|(name, calls)| format!("{name} {:.2}", calls as f64 / mails))
        .collect();
    let redis_total: u64 = redis_after
        .iter()
        .map(|(name, after)| after - redis_before.get(name).copied().unwrap_or(0))
        .sum();
    println!(
        "per mail: {:.2} database transactions (the probe's {} requests included), {:.4} SMTP connections, \
         {:.2} Redis commands ({}; scripts' inner calls included, this bench's INFO too)",
        transactions as f64 / mails,
        loaded.requests(),
        smtp_connections as f64 / mails,
        redis_total as f64 / mails,
        redis_per_mail.join(", ")
    );
    println!(
        "checkLoginId probe at 100 req/s: p99 idle {:.2} ms, while the pipeline runs {:.2} ms, of which once the \
         requests were answered and mail still flowed {:.2} ms ({} requests; {} + {} errors)",
        idle.percentile_ms(0.99),
        loaded.percentile_ms(0.99),
        draining.percentile_ms(0.99),
        draining.requests(),
        idle.errors,
        loaded.errors
    );
    println!(
        "check: {} mails for {members} members, {} distinct recipients, {missing} members without mail; outbox {statuses}; \
         RESET_MAILED audit rows {audit}",
        received.len(),
        recipients.len()
    );
    let exact = received.len() == members as usize && recipients.len() == received.len() && missing == 0;
    println!("\ngoals (issue 28, point 4):");
    println!(
        "  [{}] {rate:.0} mails/s end to end; goal ≥ {RATE_GOAL:.0}",
        verdict(rate >= RATE_GOAL && exact)
    );
    println!(
        "  [{}] {:.3} ms of service + PostgreSQL + Redis CPU per mail; goal ≤ {CPU_GOAL_MS} ms",
        verdict(per_mail_ms(used.pipeline()) <= CPU_GOAL_MS),
        per_mail_ms(used.pipeline())
    );
    println!(
        "  [{}] checkLoginId p99 while the pipeline runs = {:.2} × idle; goal ≤ 1.5 ×",
        verdict(loaded.percentile_ms(0.99) <= 1.5 * idle.percentile_ms(0.99)),
        loaded.percentile_ms(0.99) / idle.percentile_ms(0.99)
    );
    println!(
        "  [{}] checkLoginId p99 while only mail flows (requests answered) = {:.2} × idle; goal ≤ 1.5 ×",
        verdict(draining.percentile_ms(0.99) <= 1.5 * idle.percentile_ms(0.99)),
        draining.percentile_ms(0.99) / idle.percentile_ms(0.99)
    );
    println!("  [{}] exactly one mail per member", verdict(exact));
    let _ = std::fs::remove_dir_all(&dir);
}
