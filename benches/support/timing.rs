//! What the timing benches share: one timed GraphQL call and the shape of its answer (codes and
//! flags, minus the echo of what was typed), medians, the two-sample Kolmogorov–Smirnov test, and
//! the members and stranger paths both benches ask about.
#![allow(dead_code)] // each bench uses part of this file
use std::time::Instant;

use serde_json::{Value, json};

pub const ISSUE_BY_EMAIL: &str = "mutation($e: String!) { issueResetToken(by: {email: $e}) { accepted channel maskedDestination errors { code } } }";
pub const ISSUE_BY_ACCOUNT: &str = "mutation($id: String!, $e: String!) { issueResetToken(by: {account: {loginId: $id, email: $e}}) { accepted channel errors { code } } }";
pub const VERIFY_BY_EMAIL: &str = "mutation($e: String!) { verifyResetToken(credential: {code: {email: $e, code: \"000000\"}}) { valid errors { code } } }";
pub const VERIFY_BY_LOGIN: &str = "mutation($id: String!) { verifyResetToken(credential: {code: {loginId: $id, code: \"000000\"}}) { valid errors { code } } }";

/// The bench's member `i`.
pub fn login_id(i: usize) -> String {
    format!("timing{i:05}")
}
pub fn email(i: usize) -> String {
    format!("timing{i:05}@bench.example")
}
/// An identifier that names nobody, distinct per path (`kind`) and sample.
pub fn stranger(kind: &str, i: usize) -> String {
    format!("nobody-{kind}-{i:05}")
}

/// A path: the request about account `i`, and the one about nobody `i`.
pub struct Path {
    pub name: &'static str,
    pub known: fn(usize) -> Value,
    pub unknown: fn(usize) -> Value,
}

/// The paths a stranger calls about an identifier by e-mail or login ID: asking for a reset, and
/// a wrong code.
pub fn identifier_paths() -> Vec<Path> {
    vec![
        Path {
            name: "issueResetToken by e-mail",
            known: |i| json!({"query": ISSUE_BY_EMAIL, "variables": {"e": email(i)}}),
            unknown: |i| json!({"query": ISSUE_BY_EMAIL, "variables": {"e": format!("{}@bench.example", stranger("ie", i))}}),
        },
        Path {
            name: "issueResetToken by account",
            known: |i| json!({"query": ISSUE_BY_ACCOUNT, "variables": {"id": login_id(i), "e": email(i)}}),
            // The login ID exists; the address is not its own.
            unknown: |i| json!({"query": ISSUE_BY_ACCOUNT, "variables": {"id": login_id(i), "e": format!("{}@bench.example", stranger("ia", i))}}),
        },
        Path {
            name: "verifyResetToken, wrong code by e-mail",
            known: |i| json!({"query": VERIFY_BY_EMAIL, "variables": {"e": email(i)}}),
            unknown: |i| json!({"query": VERIFY_BY_EMAIL, "variables": {"e": format!("{}@bench.example", stranger("ve", i))}}),
        },
        Path {
            name: "verifyResetToken, wrong code by login ID",
            known: |i| json!({"query": VERIFY_BY_LOGIN, "variables": {"id": login_id(i)}}),
            unknown: |i| json!({"query": VERIFY_BY_LOGIN, "variables": {"id": stranger("vl", i)}}),
        },
    ]
}

/// Two-sample Kolmogorov–Smirnov statistic D and its asymptotic p-value.
pub fn kolmogorov_smirnov(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let ne = n * m / (n + m);
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    let mut p = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = 2.0 * (-1f64).powf(k - 1.0) * (-2.0 * k * k * lambda * lambda).exp();
        p += term;
        if term.abs() < 1e-12 {
            break;
        }
    }
    (d, p.clamp(0.0, 1.0))
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// What an answer says, minus the echo of what was typed: top-level codes, payload flags and codes.
pub fn shape(v: &Value) -> String {
    let top: Vec<&str> = v["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let payload = v["data"]
        .as_object()
        .and_then(|d| d.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let codes: Vec<&str> = payload["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["code"].as_str()).collect())
        .unwrap_or_default();
    format!(
        "top={top:?} challenge={} codes={codes:?} accepted={} channel={} valid={} member={}",
        v["errors"][0]["extensions"]["challenge"].is_object(),
        payload["accepted"],
        payload["channel"],
        payload["valid"],
        !payload["member"].is_null()
    )
}

pub async fn timed(client: &reqwest::Client, url: &str, body: &Value) -> (f64, String) {
    let t = Instant::now();
    let answer: Value = client
        .post(url)
        .json(body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON answer");
    (t.elapsed().as_secs_f64() * 1000.0, shape(&answer))
}

/// One interleaved pair on `path` for sample `i`, in random order (so neither side always follows
/// the other): whether the known call went first, then the known and the unknown (ms, shape).
pub async fn pair(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
    i: usize,
) -> (bool, (f64, String), (f64, String)) {
    let known_first = rand::random::<bool>();
    if known_first {
        let k = timed(client, url, &(path.known)(i)).await;
        (known_first, k, timed(client, url, &(path.unknown)(i)).await)
    } else {
        let u = timed(client, url, &(path.unknown)(i)).await;
        (known_first, timed(client, url, &(path.known)(i)).await, u)
    }
}
