//! Sign-in timing for an unknown login ID versus a known one with a wrong password: both spend one
//! argon2 verification (a dummy one for the unknown ID), so the medians must be indistinguishable.
//! `cargo bench --bench signin_timing` (SAMPLES interleaved pairs, 300 by default).
use std::time::{Duration, Instant};

use account_recovery::{app::Application, config::Settings};
use serde_json::json;

fn summary(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let dir = std::env::temp_dir().join(format!("ar-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let vars = [
        (
            "DATABASE_URL".to_owned(),
            format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
        ),
        ("BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("DEMO".to_owned(), "false".to_owned()),
        (
            "SECRET_KEY".to_owned(),
            "bench-secret-key-0123456789abcdef0123456789".to_owned(),
        ),
        // Measure the password check itself, not the throttle.
        ("SIGNIN_MAX_FAILURES".to_owned(), "1000000".to_owned()),
        ("SIGNIN_CLIENT_MAX_FAILURES".to_owned(), "1000000".to_owned()),
        (
            "RATE_LIMITS".to_owned(),
            "signIn.client=0/1,signIn.id=0/1".to_owned(),
        ),
        ("OUTBOX_DIR".to_owned(), dir.join("outbox").display().to_string()),
    ];
    let settings =
        Settings::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    let app = Application::build(settings).await.unwrap();
    app.recovery()
        .members
        .import(
            "{\"loginId\":\"kim01\",\"email\":\"kim@example.com\",\"password\":\"Blue-Harbor-47\"}\n",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}/graphql", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let query =
        "mutation($id: String!) { signIn(loginId: $id, password: \"Wrong-Harbor-47\") { errors { code } } }";
    let attempt = |id: String| {
        let client = client.clone();
        let address = address.clone();
        async move {
            let t = Instant::now();
            let body: serde_json::Value = client
                .post(&address)
                .json(&json!({"query": query, "variables": {"id": id}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                body["data"]["signIn"]["errors"][0]["code"], "INVALID_CREDENTIALS",
                "{body}"
            );
            t.elapsed()
        }
    };
    for i in 0..10 {
        attempt(format!("warmup{i}")).await;
        attempt("kim01".into()).await;
    }
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for i in 0..samples {
        // Interleaved so drift affects both sides alike.
        unknown.push(attempt(format!("nobody{i:05}")).await);
        known.push(attempt("kim01".into()).await);
    }
    let (u50, u10, u90) = summary(unknown);
    let (k50, k10, k90) = summary(known);
    println!("sign-in with a wrong password, {samples} interleaved samples each (argon2id m=19456 t=2 p=1)");
    println!("unknown login ID : median {u50:>8.2?}  p10 {u10:>8.2?}  p90 {u90:>8.2?}");
    println!("known login ID   : median {k50:>8.2?}  p10 {k10:>8.2?}  p90 {k90:>8.2?}");
    let diff = u50.as_secs_f64() - k50.as_secs_f64();
    println!(
        "median difference: {:+.2} ms ({:+.1}% of the known median)",
        diff * 1000.0,
        diff / k50.as_secs_f64() * 100.0
    );
}
