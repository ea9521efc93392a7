//! The real binary as separate processes: secrets never reach the logs, JSON logs carry the
//! request id, shutdown lets the mail worker finish, and two instances share one database and
//! one Redis as one service.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, Endpoint, FIXTURE, TEST_SECRET_KEY, backend_test, fresh_database, http_client,
        mailed_grants, redis_url, scratch_dir, unique_name,
    },
    operations::{by, change, credential, find},
    service_process::ServiceProcess,
    smtp_server::SmtpServer,
};

const BINARY: &str = env!("CARGO_BIN_EXE_account-recovery");

/// Environment for a service process on `database_url`, mailing through `smtp`; `extra` adds or
/// overrides variables.
pub fn env_for(database_url: &str, smtp: &SmtpServer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("SECRET_KEY".into(), TEST_SECRET_KEY.into()),
        ("DEMO".into(), "false".into()),
        ("SMTP_URL".into(), smtp.url()),
        ("MAIL_POLL_MS".into(), "200".into()),
        ("RESET_RESOLVER_POLL_MS".into(), "200".into()),
        ("RUST_LOG".into(), "info".into()),
        ("NO_COLOR".into(), "1".into()),
        ("RATE_LIMITS".into(), crate::helpers::GENEROUS_LIMITS.into()),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push(((*k).into(), (*v).into()));
    }
    env
}

/// `serve` with exactly `env` (see `ServiceProcess::start`).
pub async fn start_process(env: &[(String, String)]) -> ServiceProcess {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServiceProcess::start(BINARY, &["serve"], &pairs).await
}

/// Imports the shared fixture with the CLI, as an operator would.
pub fn import_fixture(env: &[(String, String)]) {
    let file = scratch_dir().join("fixture.jsonl");
    std::fs::write(&file, FIXTURE).unwrap();
    let out = std::process::Command::new(BINARY)
        .args(["member", "import", file.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn full_flows_at_debug_level_leak_no_secret_into_logs_or_errors() {
    let smtp = SmtpServer::start().await;
    let url = fresh_database(&Backend::Sqlite).await;
    let env = env_for(&url, &smtp, &[("RUST_LOG", "debug")]);
    import_fixture(&env);
    let mut service = start_process(&env).await;
    let api = Endpoint::new(service.base_url(), "process");
    let mut secrets: Vec<String> = vec![
        "CI-ALICE".into(),
        "Blue-Harbor-47".into(),
        "Green-Valley-58".into(),
        "Amber-Falcon-36".into(),
    ];
    let mut responses = Vec::new();

    responses.push(
        api.find_id(None, find::identity("CI-ALICE", "CITIZEN"))
            .await
            .body,
    );
    secrets.push(api.direct_reset_token("alice01", "CI-ALICE").await);
    responses.push(api.issue_reset(by::identity("alice01", "CI-WRONG-9")).await.body);
    secrets.push("CI-WRONG-9".into());
    api.issue_reset(by::email("alice@example.com")).await;
    let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    let grants = mailed_grants(&mails[0]);
    for g in &grants {
        secrets.push(g.token.clone());
        secrets.push(g.code.clone());
    }
    let wrong = if grants[0].code == "000000" {
        "111111"
    } else {
        "000000"
    };
    responses.push(
        api.verify_reset(credential::code_by_login_id("alice01", wrong))
            .await
            .body,
    );
    let verified = api
        .verify_reset(credential::code_by_login_id("alice01", &grants[0].code))
        .await;
    let exchanged = verified.token.clone().unwrap();
    secrets.push(exchanged.clone());
    let exchanged = credential::token(&exchanged);
    responses.push(
        api.reset_password(exchanged.clone(), "Blue-Harbor-47", None)
            .await
            .body,
    );
    responses.push(
        api.reset_password(exchanged.clone(), "Green-Valley-58", Some("Green-Valley-5x"))
            .await
            .body,
    );
    secrets.push("Green-Valley-5x".into());
    api.reset_password(exchanged, "Green-Valley-58", None).await;
    responses.push(api.sign_in("alice01", "Wrong-Secret-11").await.body);
    secrets.push("Wrong-Secret-11".into());
    let access = api.access_token("alice01", "Green-Valley-58").await;
    secrets.push(access.clone());
    let change = change::with_current("Green-Valley-58", "Amber-Falcon-36");
    responses.push(api.change_password(&access, change).await.body);
    responses.push(api.me("not-a-valid-token-Secret-77").await.body);
    secrets.push("not-a-valid-token-Secret-77".into());
    smtp.wait_for_messages(3, Duration::from_secs(10)).await;

    service.stop(Duration::from_secs(10)).await;
    let logs = service.output_plain();
    assert!(logs.contains("DEBUG"), "debug logging was on");
    let answers = serde_json::to_string(&responses).unwrap();
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
        assert!(
            !answers.contains(secret.as_str()),
            "a secret reached a response: {secret}"
        );
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let smtp = SmtpServer::start().await;
    let url = fresh_database(&Backend::Sqlite).await;
    let mut service = start_process(&env_for(&url, &smtp, &[("LOG_JSON", "true")])).await;
    let response = http_client()
        .post(format!("{}/graphql", service.base_url()))
        .header("x-request-id", "trace-4711-abc")
        .json(&json!({"query": "{ checkLoginId(loginId: \"nobody1\") { exists } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-4711-abc");
    assert!(
        service
            .wait_for_output("trace-4711-abc", Duration::from_secs(5))
            .await
    );
    service.stop(Duration::from_secs(10)).await;
    let logs = service.output_plain();
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
    assert!(
        logs.lines()
            .any(|l| l.contains("trace-4711-abc") && l.contains("request_id"))
    );
}

#[tokio::test]
async fn shutdown_lets_the_mail_worker_finish_the_message_it_is_sending() {
    let smtp = SmtpServer::start().await;
    smtp.set_reply_delay(Duration::from_millis(400));
    let url = fresh_database(&Backend::Sqlite).await;
    let env = env_for(&url, &smtp, &[]);
    import_fixture(&env);
    let mut service = start_process(&env).await;
    let issued = Endpoint::new(service.base_url(), "process")
        .issue_reset(by::email("alice@example.com"))
        .await;
    assert!(issued.accepted, "{issued}");
    // The worker is in the middle of a slow SMTP conversation (≈7 replies × 400 ms).
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(smtp.messages().is_empty());
    let status = service.stop(Duration::from_secs(20)).await;
    assert_eq!(status, Some(0), "{}", service.output_plain());
    assert_eq!(smtp.messages().len(), 1, "the message being sent was finished");
    assert!(service.output_plain().contains("mail delivery stopped"));
}

#[backend_test(servers)]
async fn two_instances_share_grants_attempts_limits_and_sessions(backend: Backend) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is unset: two instances cannot share state; not exercised");
        return;
    };
    two_instances_share(&backend, &redis).await;
}

#[backend_test(servers)]
async fn two_instances_share_grants_attempts_limits_and_sessions_on_a_cluster(backend: Backend) {
    let Some(cluster) = crate::helpers::redis_cluster_url() else {
        return;
    };
    two_instances_share(&backend, &cluster).await;
}

/// Two service processes on one database and one Redis (`redis`: a node or a cluster) act as one.
async fn two_instances_share(backend: &Backend, redis: &str) {
    let smtp = SmtpServer::start().await;
    let url = fresh_database(backend).await;
    let prefix = unique_name();
    let env = env_for(
        &url,
        &smtp,
        &[
            ("REDIS_URL", redis),
            ("REDIS_KEY_PREFIX", &prefix),
            ("RATE_LIMITS", "checkLoginId.client=4/600"),
        ],
    );
    import_fixture(&env);
    let (mut a, mut b) = (start_process(&env).await, start_process(&env).await);
    let label = backend.name();
    let (on_a, on_b) = (
        Endpoint::new(a.base_url(), label),
        Endpoint::new(b.base_url(), label),
    );

    // A grant issued on A is verified on B and spent on B; A then sees it spent.
    on_a.issue_reset(by::account("alice01", "alice@example.com"))
        .await;
    let mail = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    let grant = credential::token(&mailed_grants(&mail[0])[0].token);
    assert!(on_b.verify_reset(grant.clone()).await.valid);
    let reset = on_b.reset_password(grant.clone(), "Green-Valley-58", None).await;
    assert_eq!(reset.profile().login_id, "alice01", "{reset}");
    assert_eq!(on_a.verify_reset(grant).await.codes(), ["INVALID_TOKEN"]);

    // Wrong codes add up across instances: 3 on A + 2 on B exhaust the login ID.
    on_b.issue_reset(by::account("AliceBiz", "alice@example.com"))
        .await;
    // After the reset notice for alice01, the reset mail for AliceBiz.
    let mail = smtp.wait_for_messages(3, Duration::from_secs(10)).await;
    let biz = mail
        .iter()
        .flat_map(mailed_grants)
        .find(|g| g.login_id == "AliceBiz")
        .expect("a reset mail for AliceBiz");
    let wrong = if biz.code == "000000" { "111111" } else { "000000" };
    for (i, api) in [&on_a, &on_a, &on_a, &on_b, &on_b].into_iter().enumerate() {
        let answer = api
            .verify_reset(credential::code_by_login_id("alicebiz", wrong))
            .await;
        let want = if i < 4 {
            "INVALID_CODE"
        } else {
            "TOO_MANY_ATTEMPTS"
        };
        assert_eq!(answer.codes(), [want], "attempt {i}: {answer}");
    }
    let right = on_a
        .verify_reset(credential::code_by_login_id("alicebiz", &biz.code))
        .await;
    assert_eq!(right.codes(), ["TOO_MANY_ATTEMPTS"], "{right}");

    // Rate limits add up: 2 calls on each instance, the fifth is refused.
    for api in [&on_a, &on_b, &on_a, &on_b] {
        let check = api.check_login_id(None, "alice01").await;
        assert!(check.body["errors"].is_null(), "{check}");
    }
    let limited = on_a.check_login_id(None, "alice01").await;
    assert_eq!(limited.top_code(), Some("RATE_LIMITED"), "{limited}");

    // A session made on A and revoked on B is dead on A.
    let token = on_a.access_token("alice01", "Green-Valley-58").await;
    assert_eq!(on_b.me(&token).await.member().login_id, "alice01");
    assert!(*on_b.sign_out(&token).await);
    let dead = on_a.me(&token).await;
    assert_eq!(dead.top_code(), Some("UNAUTHENTICATED"), "{dead}");

    a.stop(Duration::from_secs(10)).await;
    b.stop(Duration::from_secs(10)).await;
}

/// The exported families and their types: the contract dashboards and alerts are written against.
const METRIC_FAMILIES: [(&str, &str); 15] = [
    ("account_recovery_graphql_operations_total", "counter"),
    ("account_recovery_graphql_operation_duration_seconds", "histogram"),
    ("account_recovery_mail_queued_total", "counter"),
    ("account_recovery_mail_sent_total", "counter"),
    ("account_recovery_mail_dropped_total", "counter"),
    ("account_recovery_mail_retried_total", "counter"),
    ("account_recovery_mail_failed_total", "counter"),
    ("account_recovery_rate_limited_total", "counter"),
    ("account_recovery_password_hash_waiting", "gauge"),
    ("account_recovery_password_hash_total", "counter"),
    ("account_recovery_password_hash_in_flight", "gauge"),
    ("account_recovery_password_hash_in_flight_max", "gauge"),
    ("account_recovery_password_hash_orphaned_total", "counter"),
    ("account_recovery_password_hash_abandoned_total", "counter"),
    ("account_recovery_build_info", "gauge"),
];

#[tokio::test]
async fn a_fresh_instance_shows_every_metric_family_at_zero_on_metrics_bind_only() {
    use account_recovery::{domain::mail_kind::MailKind, recovery::rate_limits};

    let smtp = SmtpServer::start().await;
    let url = fresh_database(&Backend::Sqlite).await;
    let env = env_for(&url, &smtp, &[("METRICS_BIND", "127.0.0.1:0")]);
    let mut service = start_process(&env).await;
    let announced = "serving /metrics on http://127.0.0.1:";
    assert!(
        service.wait_for_output(announced, Duration::from_secs(5)).await,
        "{}",
        service.output_plain()
    );
    let output = service.output_plain();
    let port: String = output[output.find(announced).unwrap() + announced.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let metrics_base = format!("http://127.0.0.1:{port}");
    let client = http_client();

    let scrape = client
        .get(format!("{metrics_base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    let on_main = client
        .get(format!("{}/metrics", service.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(on_main.status(), 404, "/metrics must be off the main listener");
    let graphql_on_metrics = client
        .post(format!("{metrics_base}/graphql"))
        .json(&json!({"query": "{ passwordPolicy { minLength } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        graphql_on_metrics.status(),
        404,
        "the metrics listener serves /metrics only"
    );

    for (name, kind) in METRIC_FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "no {kind} {name}:\n{text}"
        );
    }
    for line in text.lines().filter(|l| !l.is_empty()) {
        let name = line.trim_start_matches("# TYPE ").trim_start_matches("# HELP ");
        assert!(name.starts_with("account_recovery_"), "unprefixed: {line}");
    }
    let counted: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("account_recovery_graphql_operations_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(
        counted.is_empty(),
        "a fresh instance counted operations: {counted:?}"
    );
    let has = |line: String| assert!(text.contains(&format!("{line}\n")), "no `{line}` in:\n{text}");
    has(format!(
        "account_recovery_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    ));

    // Every root field of the schema, taken from the running service after the scrape.
    let api = Endpoint::new(service.base_url(), "process");
    let roots = api
        .graphql(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let operations: Vec<String> = ["queryType", "mutationType"]
        .iter()
        .flat_map(|root| {
            roots["data"]["__schema"][root]["fields"]
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|field| field["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(operations.len() > 8, "{roots}");
    let histogram = "account_recovery_graphql_operation_duration_seconds";
    for operation in &operations {
        for outcome in ["ok", "error"] {
            has(format!(
                "account_recovery_graphql_operations_total{{operation=\"{operation}\",outcome=\"{outcome}\"}} 0"
            ));
        }
        has(format!(
            "{histogram}_bucket{{operation=\"{operation}\",le=\"0.1\"}} 0"
        ));
        has(format!(
            "{histogram}_bucket{{operation=\"{operation}\",le=\"+Inf\"}} 0"
        ));
        has(format!("{histogram}_sum{{operation=\"{operation}\"}} 0"));
        has(format!("{histogram}_count{{operation=\"{operation}\"}} 0"));
    }
    for kind in MailKind::ALL {
        has(format!(
            "account_recovery_mail_queued_total{{kind=\"{}\"}} 0",
            kind.code()
        ));
        has(format!(
            "account_recovery_mail_sent_total{{kind=\"{}\"}} 0",
            kind.code()
        ));
    }
    for operation in rate_limits::Operation::ALL {
        for scope in rate_limits::Scope::ALL {
            has(format!(
                "account_recovery_rate_limited_total{{operation=\"{}\",scope=\"{}\"}} 0",
                operation.name(),
                scope.name()
            ));
        }
    }
    has("account_recovery_password_hash_waiting 0".into());

    // The same listener shows the counters move.
    api.password_policy(None).await;
    let again = client
        .get(format!("{metrics_base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let moved = "account_recovery_graphql_operations_total{operation=\"passwordPolicy\",outcome=\"ok\"} 1\n";
    assert!(again.contains(moved), "{again}");
    service.stop(Duration::from_secs(10)).await;
}
