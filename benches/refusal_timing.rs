//! Refusal-timing bench (issue 25): a call refused by its target's limit answers `RATE_LIMITED`
//! with a proof-of-work challenge, and one refused by its client's own budget answers without
//! one. Neither may tell an identifier that names an account from one that names none: for each
//! path, interleaved pairs of refused calls about a known and an unknown identifier, compared by
//! medians, Kolmogorov–Smirnov and answers, in both states; and the two states side by side.
//! `cargo bench --bench refusal_timing` (PostgreSQL + Redis; `BENCH_BACKEND=sqlite` for the
//! in-process store); docs/PERFORMANCE.md.
#[path = "support/service.rs"]
mod service;
#[path = "../tests/api/smtp_server.rs"]
mod smtp_server;
#[path = "support/timing.rs"]
mod timing;

use serde_json::json;
use service::{BenchDatabase, Service, env_or};
use timing::{Path, email, identifier_paths, kolmogorov_smirnov, login_id, median, pair, stranger, timed};

const SIGN_IN: &str = "mutation($id: String!) { signIn(loginId: $id, password: \"Wrong-Guess-0000\") { accessToken errors { code } } }";

/// Every target may be asked once an hour (so the second call about it is the target's refusal),
/// while clients are never limited; sign-in: one failure per login ID.
const TARGETS_SPENT: &str = "issueResetToken.client=1000000000/600,issueResetToken.id=1/3600,\
verifyResetToken.client=1000000000/600,verifyResetToken.id=1/3600,\
signIn.client=1000000000/600,signIn.id=1000000000/600,resetMail.id=1000000000/600";
/// Every client may call once an hour: after one call, every call is its own budget's refusal.
const CLIENT_SPENT: &str = "issueResetToken.client=1/3600,issueResetToken.id=1000000000/600,\
verifyResetToken.client=1/3600,verifyResetToken.id=1000000000/600,\
signIn.client=1000000000/600,signIn.id=1000000000/600,resetMail.id=1000000000/600";

fn paths() -> Vec<Path> {
    let mut paths = identifier_paths();
    paths.push(Path {
        name: "signIn, wrong password",
        known: |i| json!({"query": SIGN_IN, "variables": {"id": login_id(i)}}),
        unknown: |i| json!({"query": SIGN_IN, "variables": {"id": stranger("si", i)}}),
    });
    paths
}

/// One path in one state: `samples` interleaved pairs of refused calls (known, unknown in random
/// order), after `spend` calls that used up the budget; the medians, and whether the goal is met.
async fn measure(
    client: &reqwest::Client,
    url: &str,
    state: &str,
    path: &Path,
    offset: usize,
    samples: usize,
    expected: &str,
) -> (f64, f64, bool) {
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let mut wrong = None;
    for i in offset..offset + samples {
        let (_, k, u) = pair(client, url, path, i).await;
        if (!k.1.starts_with(expected) || k.1 != u.1) && wrong.is_none() {
            wrong = Some(format!("known: {} / unknown: {}", k.1, u.1));
        }
        known.push(k.0);
        unknown.push(u.0);
    }
    let (d, p) = kolmogorov_smirnov(&known, &unknown);
    let (mk, mu) = (median(&known), median(&unknown));
    let met = p > 0.01 && (mk - mu).abs() < 0.5 && wrong.is_none();
    println!(
        "{state:<11} {:<42} {mk:>8.3} {mu:>8.3} {:>+7.3} {d:>6.3} {p:>9.2e}  {}",
        path.name,
        mk - mu,
        if met { "met" } else { "MISSED" }
    );
    if let Some(w) = wrong {
        println!("            answers differ or are not {expected:?}: {w}");
    }
    (mk, mu, met)
}

/// The median of `samples` `{__typename}` calls: the request path with no resolver work, the
/// floor a refusal is measured against.
async fn floor(client: &reqwest::Client, url: &str, samples: usize) -> f64 {
    let body = json!({"query": "{__typename}"});
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        times.push(timed(client, url, &body).await.0);
    }
    median(&times)
}

/// Spends the budget each measured call will find spent: the target's (one call about each
/// identifier) or the client's (one call of each operation).
async fn spend(client: &reqwest::Client, url: &str, path: &Path, range: std::ops::Range<usize>) {
    for i in range {
        timed(client, url, &(path.known)(i)).await;
        timed(client, url, &(path.unknown)(i)).await;
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let samples: usize = env_or("SAMPLES", "300").parse().expect("SAMPLES");
    let backend = env_or("BENCH_BACKEND", "postgres");
    let dir = std::env::temp_dir().join(format!("ar-refusal-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let smtp = smtp_server::SmtpServer::start().await;
    let mut _pg = None;
    let (database, redis) = match backend.as_str() {
        "postgres" => {
            let db = BenchDatabase::create(
                &env_or("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
                "refusal",
            );
            let url = db.url();
            _pg = Some(db);
            (url, Some(env_or("BENCH_REDIS_URL", "redis://127.0.0.1:6379")))
        }
        "sqlite" => (
            format!("sqlite://{}?mode=rwc", dir.join("refusal.db").display()),
            None,
        ),
        other => panic!("BENCH_BACKEND={other}: postgres or sqlite"),
    };
    let mut env: Vec<(String, String)> = [
        ("DATABASE_URL", database),
        ("SMTP_URL", smtp.url()),
        ("DEMO", "false".into()),
        ("SECRET_KEY", service::BENCH_SECRET_KEY.into()),
        ("RUST_LOG", "error".into()),
        ("OUTBOX_DIR", dir.join("outbox").display().to_string()),
        ("SIGNIN_MAX_FAILURES", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(r) = redis {
        env.push(("REDIS_URL".into(), r));
        env.push((
            "REDIS_KEY_PREFIX".into(),
            format!("refusal-{}", uuid::Uuid::new_v4().simple()),
        ));
    }
    let paths = paths();
    let members = 2 * paths.len() * samples;
    let phc = {
        use argon2::PasswordHasher as _;
        argon2::Argon2::default()
            .hash_password(b"Harbor-Blue-47")
            .unwrap()
            .to_string()
    };
    let lines: String = (0..members)
        .map(|i| json!({"loginId": login_id(i), "email": email(i), "passwordHash": phc}).to_string() + "\n")
        .collect();
    let import = dir.join("members.jsonl");
    std::fs::write(&import, lines).unwrap();
    service::cli(&env, &["migrate"]);
    service::cli(&env, &["member", "import", import.to_str().unwrap()]);
    let client = reqwest::Client::new();
    println!(
        "{:<11} {:<42} {:>8} {:>8} {:>7} {:>6} {:>9}",
        "state", "path", "known", "unknown", "Δ ms", "D", "p"
    );

    // Target spent: every measured call is refused by its identifier's limit, with a challenge
    // (sign-in: past the login ID's failures, a challenge per attempt).
    let targets = with(
        &env,
        &[
            ("RATE_LIMITS", TARGETS_SPENT),
            ("SIGNIN_CLIENT_MAX_FAILURES", "1000000000"),
        ],
    );
    let service = Service::start(&targets, &dir);
    let url = service.graphql_url();
    let mut challenged = Vec::new();
    let mut all_met = true;
    for (n, path) in paths.iter().enumerate() {
        let offset = n * samples;
        spend(&client, &url, path, offset..offset + samples).await;
        let (k, u, met) = measure(
            &client,
            &url,
            "challenged",
            path,
            offset,
            samples,
            "top=[\"RATE_LIMITED\"] challenge=true",
        )
        .await;
        challenged.push((k, u));
        all_met &= met;
    }
    let challenged_floor = floor(&client, &url, samples).await;
    drop(service);

    // Client spent: every measured call is refused by the client's own budget, without a
    // challenge, before anything is counted against its identifier.
    let clients = with(
        &env,
        &[("RATE_LIMITS", CLIENT_SPENT), ("SIGNIN_CLIENT_MAX_FAILURES", "1")],
    );
    let service = Service::start(&clients, &dir);
    let url = service.graphql_url();
    let mut plain = Vec::new();
    for (n, path) in paths.iter().enumerate() {
        let offset = (paths.len() + n) * samples;
        spend(&client, &url, path, offset..offset + 1).await;
        let (k, u, met) = measure(
            &client,
            &url,
            "client",
            path,
            offset + 1,
            samples - 1,
            "top=[\"RATE_LIMITED\"] challenge=false",
        )
        .await;
        plain.push((k, u));
        all_met &= met;
    }
    let plain_floor = floor(&client, &url, samples).await;
    drop(service);

    println!(
        "challenged against plain refusals (median ms, known / unknown), beside the {{__typename}} \
         floor of the same service in the same run ({challenged_floor:.3} ms challenged, {plain_floor:.3} ms plain):"
    );
    for ((path, c), p) in paths.iter().zip(&challenged).zip(&plain) {
        println!(
            "  {:<42} challenged {:.3} / {:.3} ({:.2}× the floor), plain {:.3} / {:.3} ({:.2}×), the challenge costs {:+.3}",
            path.name,
            c.0,
            c.1,
            c.0 / challenged_floor,
            p.0,
            p.1,
            p.0 / plain_floor,
            (c.0 + c.1 - p.0 - p.1) / 2.0
        );
    }
    println!(
        "goal (p > 0.01 and |Δmedian| < 0.5 ms, the same answers, in both states) {}",
        if all_met {
            "met on every path"
        } else {
            "MISSED on a path above"
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `env` with `extra` set (replacing what it had).
fn with(env: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .cloned()
        .collect();
    all.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    all
}
