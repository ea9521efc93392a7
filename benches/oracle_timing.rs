//! Existence-oracle bench: on every path a stranger can call, interleaved requests about an identifier
//! that names an account and one that names none (idle, saturated, a backend down), compared by
//! medians, Kolmogorov–Smirnov and answers. `cargo bench --bench oracle_timing`; docs/PERFORMANCE.md.
#[path = "support/driver.rs"]
mod driver;
#[path = "support/service.rs"]
mod service;
#[path = "../tests/api/smtp_server.rs"]
mod smtp_server;
#[path = "../tests/api/tcp_proxy.rs"]
mod tcp_proxy;
#[path = "support/timing.rs"]
mod timing;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use service::{BenchDatabase, Service, env_or};
use tcp_proxy::TcpProxy;
use timing::{
    ISSUE_BY_EMAIL, Path, email, identifier_paths, kolmogorov_smirnov, login_id, median, pair, stranger,
    timed,
};

const RESET_BY_EMAIL: &str = "mutation($e: String!) { resetPassword(input: {credential: {code: {email: $e, code: \"000000\"}}, newPassword: \"Qz7!b9d9f9h9\"}) { member { id } errors { code } } }";
const VERIFY_BY_RECOVERY_CODE: &str = "mutation($id: String!) { verifyResetToken(credential: {recoveryCode: {loginId: $id, code: \"0000-0000-0000-00\"}}) { valid errors { code } } }";
const RESET_BY_RECOVERY_CODE: &str = "mutation($id: String!) { resetPassword(input: {credential: {recoveryCode: {loginId: $id, code: \"0000-0000-0000-00\"}}, newPassword: \"Qz7!b9d9f9h9\"}) { member { id } errors { code } } }";
const RESET_BY_LOGIN: &str = "mutation($id: String!) { resetPassword(input: {credential: {code: {loginId: $id, code: \"000000\"}}, newPassword: \"Qz7!b9d9f9h9\"}) { member { id } errors { code } } }";

const ISSUE_BY_ASSERTION: &str = "mutation($id: String!, $a: String!) { issueResetToken(by: {verifiedIdentity: {loginId: $id, assertion: $a}}) { accepted channel errors { code } } }";

/// The bench's identity-assertion signer (Ed25519 seed), trusted through a JWKS file it writes.
static ASSERTION_SEED: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
const ASSERTION_ISSUER: &str = "https://idv.bench.example";

fn ci(i: usize) -> String {
    format!("BENCH-CI-{i:05}")
}

/// A fresh, valid reset assertion for `ci` (each request spends its own `jti`).
fn assertion(ci: &str) -> String {
    let seed = ASSERTION_SEED.get().expect("assertion key");
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    der.extend_from_slice(seed);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("idv+jwt".into());
    header.kid = Some("bench".into());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": ASSERTION_ISSUER, "aud": "account-recovery", "iat": now, "exp": now + 120,
        "jti": uuid::Uuid::new_v4().to_string(), "purpose": "reset_password", "ci": ci,
    });
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_der(&der)).unwrap()
}

/// The JWKS of the bench's signer, written to `path`.
fn write_jwks(path: &std::path::Path) {
    use base64::Engine as _;
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    ASSERTION_SEED.set(seed).expect("one signer");
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public);
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "bench", "x": x}]});
    std::fs::write(path, jwks.to_string()).unwrap();
}

fn paths() -> Vec<Path> {
    let mut paths = identifier_paths();
    paths.extend([
        Path {
            name: "resetPassword, wrong code by e-mail",
            known: |i| json!({"query": RESET_BY_EMAIL, "variables": {"e": email(i)}}),
            unknown: |i| json!({"query": RESET_BY_EMAIL, "variables": {"e": format!("{}@bench.example", stranger("re", i))}}),
        },
        Path {
            name: "resetPassword, wrong code by login ID",
            known: |i| json!({"query": RESET_BY_LOGIN, "variables": {"id": login_id(i)}}),
            unknown: |i| json!({"query": RESET_BY_LOGIN, "variables": {"id": stranger("rl", i)}}),
        },
        Path {
            // A valid assertion that names no account of the login ID: its login ID exists (the
            // proof is another member's) or it does not. Both answer IDENTITY_MISMATCH.
            name: "issueResetToken, valid assertion, mismatch",
            known: |i| json!({"query": ISSUE_BY_ASSERTION, "variables": {"id": login_id(i), "a": assertion(&ci(i + 1))}}),
            unknown: |i| json!({"query": ISSUE_BY_ASSERTION, "variables": {"id": stranger("ai", i), "a": assertion(&ci(i))}}),
        },
        Path {
            name: "verifyResetToken, wrong recovery code",
            known: |i| json!({"query": VERIFY_BY_RECOVERY_CODE, "variables": {"id": login_id(i)}}),
            unknown: |i| json!({"query": VERIFY_BY_RECOVERY_CODE, "variables": {"id": stranger("vr", i)}}),
        },
        Path {
            name: "resetPassword, wrong recovery code",
            known: |i| json!({"query": RESET_BY_RECOVERY_CODE, "variables": {"id": login_id(i)}}),
            unknown: |i| json!({"query": RESET_BY_RECOVERY_CODE, "variables": {"id": stranger("rr", i)}}),
        },
    ]);
    paths
}

/// `samples` interleaved pairs on one path, in random order within each pair.
async fn measure(
    client: &reqwest::Client,
    url: &str,
    label: &str,
    path: &Path,
    offset: usize,
    samples: usize,
) -> bool {
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Every request's time by what the request before it was about: [after unknown, after known].
    let mut after: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut previous_known = None;
    let mut mismatch = None;
    for s in 0..samples {
        let i = offset + s;
        let (known_first, k, u) = pair(client, url, path, i).await;
        if k.1 != u.1 && mismatch.is_none() {
            mismatch = Some(format!("known: {} / unknown: {}", k.1, u.1));
        }
        let (first, second) = if known_first { (k.0, u.0) } else { (u.0, k.0) };
        if let Some(previous_known) = previous_known {
            after[usize::from(previous_known)].push(first);
        }
        after[usize::from(known_first)].push(second);
        previous_known = Some(!known_first);
        known.push(k.0);
        unknown.push(u.0);
    }
    let (d, p) = kolmogorov_smirnov(&known, &unknown);
    let delta = median(&known) - median(&unknown);
    let met = p > 0.01 && delta.abs() < 0.5 && mismatch.is_none();
    println!(
        "{:<10} {:<42} {:>8.3} {:>8.3} {:>+7.3} {:>6.3} {:>9.2e}  {}",
        label,
        path.name,
        median(&known),
        median(&unknown),
        delta,
        d,
        p,
        if met { "met" } else { "MISSED" }
    );
    if let Some(m) = mismatch {
        println!("          answers differ: {m}");
    }
    if label == "saturated" {
        // Work a request leaves behind (a known address's resolution, its mail) runs after its
        // answer; on busy cores it may slow the next request, whatever that one is about.
        println!(
            "          carry-over: a request after a known one {:.3}, after an unknown one {:.3} (median ms)",
            median(&after[1]),
            median(&after[0])
        );
    }
    met
}

/// Members of the flood's own, beside the probed ones.
const FLOOD_MEMBERS: usize = 2000;

/// A closed-loop flood of `issueResetToken` by e-mail, known and unknown addresses in turn, from
/// `connections` connections until stopped: the service saturated while the probe measures.
struct Flood {
    stop: Arc<AtomicBool>,
    run: tokio::task::JoinHandle<driver::Run>,
}

impl Flood {
    /// Known addresses are those of members `first..first + FLOOD_MEMBERS`.
    fn start(port: u16, connections: usize, first: usize) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let load: driver::Load = Arc::new(move |i| {
            let n = usize::try_from(i / 2).unwrap_or(0) % FLOOD_MEMBERS;
            let e = if i % 2 == 0 {
                email(first + n)
            } else {
                format!("{}@bench.example", stranger("flood", n))
            };
            (!stopped.load(Ordering::Relaxed)).then(|| driver::body(ISSUE_BY_EMAIL, json!({"e": e})))
        });
        let run = tokio::spawn(driver::run(
            port,
            connections,
            Duration::from_secs(24 * 3600),
            load,
            driver::reset_accepted,
        ));
        Flood { stop, run }
    }

    async fn stop(self) -> driver::Run {
        self.stop.store(true, Ordering::Relaxed);
        self.run.await.expect("the flood")
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let samples: usize = env_or("SAMPLES", "300").parse().expect("SAMPLES");
    let backend = env_or("BENCH_BACKEND", "postgres");
    let dir = std::env::temp_dir().join(format!("ar-timing-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let smtp = smtp_server::SmtpServer::start().await;
    let mut _pg = None;
    let mut mysql_db = None;
    let (database, redis): (String, Option<String>) = match backend.as_str() {
        "postgres" => {
            let db = BenchDatabase::create(
                &env_or("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
                "timing",
            );
            let url = db.url();
            _pg = Some(db);
            (url, Some(env_or("BENCH_REDIS_URL", "redis://127.0.0.1:6379")))
        }
        "mysql" => {
            let name = format!(
                "ar_bench_timing_{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            let status = std::process::Command::new("mariadb")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-u",
                    "root",
                    "-e",
                    &format!("create database {name}"),
                ])
                .status()
                .expect("mariadb client on PATH");
            assert!(status.success(), "create database {name}");
            mysql_db = Some(name.clone());
            (
                format!(
                    "{}/{name}",
                    env_or("BENCH_MYSQL_SERVER", "mysql://root@127.0.0.1:3306")
                ),
                Some(env_or("BENCH_REDIS_URL", "redis://127.0.0.1:6379")),
            )
        }
        "sqlite" => (
            format!("sqlite://{}?mode=rwc", dir.join("timing.db").display()),
            None,
        ),
        other => panic!("BENCH_BACKEND={other}: postgres, mysql or sqlite"),
    };
    // The service reaches its backends through proxies the bench can cut.
    let db_host = url::Url::parse(&database)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port()?)));
    let db_proxy = match &db_host {
        Some(host) => Some(TcpProxy::start(host).await),
        None => None,
    };
    let redis_proxy = match &redis {
        Some(r) => {
            let u = url::Url::parse(r).unwrap();
            Some(TcpProxy::start(&format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(6379))).await)
        }
        None => None,
    };
    let proxied_db = match (&db_host, &db_proxy) {
        (Some(host), Some(p)) => database.replacen(host, &p.addr(), 1),
        _ => database.clone(),
    };
    let jwks = dir.join("jwks.json");
    write_jwks(&jwks);
    let mut env: Vec<(String, String)> = [
        ("IDENTITY_ASSERTION_JWKS", jwks.display().to_string()),
        ("IDENTITY_ASSERTION_ISSUERS", ASSERTION_ISSUER.into()),
        ("DATABASE_URL", proxied_db),
        ("SMTP_URL", smtp.url()),
        ("DEMO", "false".into()),
        ("SECRET_KEY", service::BENCH_SECRET_KEY.into()),
        ("RATE_LIMITS", service::HIGH_LIMITS.into()),
        ("RUST_LOG", "error".into()),
        ("OUTBOX_DIR", dir.join("outbox").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let (Some(r), Some(p)) = (&redis, &redis_proxy) {
        let u = url::Url::parse(r).unwrap();
        env.push(("REDIS_URL".into(), format!("redis://{}", p.addr()) + u.path()));
        env.push((
            "REDIS_KEY_PREFIX".into(),
            format!("timing-{}", uuid::Uuid::new_v4().simple()),
        ));
    }
    let paths = paths();
    // Identifiers in blocks of `samples`, one block per measured path and state: every path
    // healthy, every path saturated, then the two failure paths (with Redis down, then with the
    // database down, on the same identifiers). The flood has members of its own.
    let failure_paths = [0, 2];
    let block_paths: Vec<usize> = (0..2 * paths.len())
        .map(|b| b % paths.len())
        .chain(failure_paths)
        .collect();
    let probed = samples * block_paths.len();
    let members = probed + FLOOD_MEMBERS;
    let phc = {
        use argon2::PasswordHasher as _;
        argon2::Argon2::default()
            .hash_password(b"Harbor-Blue-47")
            .unwrap()
            .to_string()
    };
    let lines: String = (0..members)
        .map(|i| {
            json!({"loginId": login_id(i), "email": email(i), "passwordHash": phc, "ci": ci(i)}).to_string()
                + "\n"
        })
        .collect();
    let import = dir.join("members.jsonl");
    std::fs::write(&import, lines).unwrap();
    service::cli(&env, &["migrate"]);
    service::cli(&env, &["member", "import", import.to_str().unwrap()]);
    let service = Service::start(&env, &dir);
    let url = service.graphql_url();
    let client = reqwest::Client::new();

    // The accounts the code paths probe have a live mailed grant, as after a stranger's request.
    for (b, &path) in block_paths.iter().enumerate() {
        if path >= 2 {
            for i in b * samples..(b + 1) * samples {
                timed(
                    &client,
                    &url,
                    &json!({"query": ISSUE_BY_EMAIL, "variables": {"e": email(i)}}),
                )
                .await;
            }
        }
    }
    for i in 0..20 {
        timed(&client, &url, &(paths[0].unknown)(members + i)).await;
    }
    println!("backend {backend}: {samples} interleaved pairs per path, known vs unknown identifier (ms)");
    println!(
        "{:<10} {:<42} {:>8} {:>8} {:>7} {:>6} {:>9}",
        "state", "path", "known", "unknown", "Δ", "D", "p"
    );
    let mut all_met = true;
    for (n, path) in paths.iter().enumerate() {
        all_met &= measure(&client, &url, "healthy", path, n * samples, samples).await;
    }
    // The same paths while a flood of e-mail reset requests keeps the service saturated.
    let connections: usize = env_or("BENCH_FLOOD_CONNECTIONS", "32")
        .parse()
        .expect("BENCH_FLOOD_CONNECTIONS");
    let flood = Flood::start(service.port, connections, probed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (n, path) in paths.iter().enumerate() {
        let offset = (paths.len() + n) * samples;
        all_met &= measure(&client, &url, "saturated", path, offset, samples).await;
    }
    let run = flood.stop().await;
    println!(
        "          the flood: {connections} connections of issueResetToken by e-mail (known and unknown \
         addresses in turn), {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
        run.rate(),
        run.percentile_ms(0.5),
        run.percentile_ms(0.99),
        run.errors,
        run.first_error
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    all_met &= run.errors == 0;
    // The same paths with a backend refusing connections: the answer must not depend on
    // whether the identifier names an account either.
    let offset = 2 * paths.len() * samples;
    let failure_paths = failure_paths.map(|n| &paths[n]);
    if let Some(p) = &redis_proxy {
        p.cut_refusing();
        tokio::time::sleep(Duration::from_millis(200)).await;
        for (n, path) in failure_paths.iter().enumerate() {
            all_met &= measure(&client, &url, "redis down", path, offset + n * samples, samples).await;
        }
        p.restore();
    }
    if let Some(p) = &db_proxy {
        p.cut_refusing();
        tokio::time::sleep(Duration::from_millis(200)).await;
        for (n, path) in failure_paths.iter().enumerate() {
            all_met &= measure(&client, &url, "db down", path, offset + n * samples, samples).await;
        }
        p.restore();
    }
    println!(
        "goal (p > 0.01 and |Δmedian| < 0.5 ms, same answers) {}",
        if all_met {
            "met on every path"
        } else {
            "MISSED on a path above"
        }
    );
    drop(service);
    if let Some(name) = mysql_db {
        let _ = std::process::Command::new("mariadb")
            .args([
                "-h",
                "127.0.0.1",
                "-u",
                "root",
                "-e",
                &format!("drop database {name}"),
            ])
            .status();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
