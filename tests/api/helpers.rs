//! Test harness: one fresh database per test (created by the real migrations), the app on port 0,
//! and a GraphQL client.
use std::{collections::HashMap, future::Future, path::PathBuf, pin::Pin, sync::Once, task::Poll};

pub use backend_test::backend_test;

use account_recovery::{app::Application, config::Settings, recovery::Recovery};

use crate::smtp_server::{ReceivedMail, SmtpServer};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub const GENEROUS_LIMITS: &str = "findId.client=10000/600,findId.id=10000/600,\
checkLoginId.client=10000/600,checkLoginId.id=10000/600,issueResetToken.client=10000/600,\
issueResetToken.id=10000/600,verifyResetToken.client=10000/600,verifyResetToken.id=10000/600,\
signIn.client=10000/600,signIn.id=10000/600,resetMail.id=10000/600";

pub const TEST_SECRET_KEY: &str = "test-secret-key-0123456789abcdef0123456789";

/// A database backend the tests run against (with Redis for the server databases when
/// TEST_REDIS_URL is set; the in-process token store otherwise).
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
    MySql(String),
}

pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// Every key matching `pattern` on the Redis node behind `conn` (SCAN to the end).
pub async fn redis_keys(conn: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        found.extend(batch);
        cursor = next;
        if cursor == 0 {
            return found;
        }
    }
}

/// A Redis Cluster of the tests (`redis+cluster://…`, as `.ci/redis-cluster.sh` prints it), when
/// TEST_REDIS_CLUSTER_URL is set; a set URL that does not answer fails the tests that use it.
pub fn redis_cluster_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_CLUSTER_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("TEST_REDIS_CLUSTER_URL is unset: Redis Cluster is not exercised by this test");
    }
    url
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
            Backend::MySql(_) => "mysql",
        }
    }

    /// The server backend `name` ("postgres" or "mysql") when its TEST_*_URL is set. Unset, the
    /// case says so and is skipped; under CI (the `CI` variable set) it fails instead, so a CI run
    /// never passes a backend it did not exercise. A set URL that does not answer fails the test.
    pub fn from_env(name: &str) -> Option<Backend> {
        let (variable, make): (&str, fn(String) -> Backend) = match name {
            "postgres" => ("TEST_POSTGRES_URL", Backend::Postgres),
            "mysql" => ("TEST_MYSQL_URL", Backend::MySql),
            other => panic!("no backend named {other}"),
        };
        if let Some(url) = std::env::var(variable).ok().filter(|u| !u.is_empty()) {
            return Some(make(url));
        }
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "{variable} is unset but CI is set: CI must exercise {name}");
        eprintln!("{variable} is unset: {name} not exercised");
        None
    }
}

pub fn unique_name() -> String {
    format!("ar_test_{}", uuid::Uuid::new_v4().simple())
}

/// Creates an empty database of its own for one test and returns its URL.
pub async fn fresh_database(backend: &Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let dir = scratch_dir();
            format!("sqlite://{}?mode=rwc", dir.join("test.db").display())
        }
        Backend::Postgres(admin) | Backend::MySql(admin) => {
            let name = unique_name();
            let db = Database::connect(admin.as_str())
                .await
                .unwrap_or_else(|e| panic!("{} at {admin} is not reachable: {e}", backend.name()));
            let create = match backend {
                Backend::Postgres(_) => format!("CREATE DATABASE \"{name}\""),
                _ => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
            };
            db.execute_unprepared(&create)
                .await
                .expect("create test database");
            db.close().await.ok();
            let mut url = url::Url::parse(admin).expect("database URL");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

/// Runs a SQL query on the database at `url`; every column of every row as text (NULL as "NULL").
pub async fn sql_rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = Database::connect(url).await.expect("connect for inspection");
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
        .await
        .expect("inspection query");
    let text = |row: &sea_orm::QueryResult, i: usize| -> String {
        if let Ok(v) = row.try_get_by_index::<Option<String>>(i) {
            return v.unwrap_or_else(|| "NULL".into());
        }
        if let Ok(v) = row.try_get_by_index::<Option<i64>>(i) {
            return v.map_or_else(|| "NULL".into(), |n| n.to_string());
        }
        row.try_get_by_index::<Option<i32>>(i)
            .map(|v| v.map_or_else(|| "NULL".into(), |n| n.to_string()))
            .unwrap_or_default()
    };
    let out = rows
        .iter()
        .map(|row| (0..row.column_names().len()).map(|i| text(row, i)).collect())
        .collect();
    db.close().await.ok();
    out
}

/// A fresh folder under the system temp dir.
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A `member import` file of `count` members `{prefix}{i:05}` with e-mail
/// `{prefix}{i:05}@example.com`, all with one password hash (hashing thousands of passwords would
/// be a test's whole time).
pub fn members_file(prefix: &str, count: usize) -> PathBuf {
    use argon2::PasswordHasher as _;
    let hash = argon2::Argon2::default()
        .hash_password(b"Blue-Harbor-47")
        .expect("argon2")
        .to_string();
    let lines: Vec<String> = (0..count)
        .map(|i| {
            serde_json::json!({"loginId": format!("{prefix}{i:05}"), "email": format!("{prefix}{i:05}@example.com"), "passwordHash": hash})
                .to_string()
        })
        .collect();
    let file = scratch_dir().join("members.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("members file");
    file
}

/// One GraphQL POST to the service at `base`; a transport error or a status other than 200 is the
/// error, with what was answered.
pub async fn post_graphql(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    variables: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let response = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({"query": query, "variables": variables}))
        .send()
        .await
        .map_err(|e| format!("{base}: {e:?}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| format!("{base}: {e}"))?;
    if status != 200 {
        return Err(format!("{base}: HTTP {status}: {body}"));
    }
    Ok(body)
}

/// Settings for `backend`: its fresh database, Redis with a key prefix of the test's own for the
/// server databases, and whatever `extra` overrides.
pub async fn backend_settings(backend: &Backend, extra: &[(&str, &str)]) -> Settings {
    let url = fresh_database(backend).await;
    let prefix = unique_name();
    let mut vars: Vec<(&str, &str)> = Vec::new();
    let redis = redis_url();
    if let (Some(redis), false) = (&redis, matches!(backend, Backend::Sqlite)) {
        vars.push(("REDIS_URL", redis));
        vars.push(("REDIS_KEY_PREFIX", &prefix));
    }
    vars.extend_from_slice(extra);
    test_settings(&url, &vars)
}

pub fn test_settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("MAIL_POLL_MS".into(), "200".into()),
        // Tests call far more often than people do; the rate-limit tests set their own limits.
        ("RATE_LIMITS".into(), GENEROUS_LIMITS.into()),
        ("PUBLIC_RESET_URL".into(), "https://app.example/reset".into()),
        ("DATABASE_URL".into(), database_url.into()),
        ("BIND".into(), "127.0.0.1:0".into()),
        ("DEMO".into(), "false".into()),
        ("SECRET_KEY".into(), TEST_SECRET_KEY.into()),
        (
            "OUTBOX_DIR".into(),
            scratch_dir().join("outbox").display().to_string(),
        ),
        // The development identity key of this test, never the user's.
        (
            "IDENTITY_DEV_KEY_FILE".into(),
            scratch_dir().join("identity-dev.key").display().to_string(),
        ),
        // No built SPA unless a test gives one: the same pages whether or not web/dist exists.
        (
            "WEB_DIR".into(),
            scratch_dir().join("no-web-build").display().to_string(),
        ),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    // A test that gives a keyring means it instead of the one key.
    if vars.contains_key("SECRET_KEYS") {
        vars.remove("SECRET_KEY");
    }
    Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings")
}

/// A running service's GraphQL endpoint, spoken to over HTTP: the in-process app's or a service
/// process's. The typed operations (`operations.rs`) and the raw requests are its methods.
#[derive(Clone)]
pub struct Endpoint {
    pub address: String,
    /// What failure messages name: the backend (`sqlite`, `postgres`, …) or the process.
    pub backend: &'static str,
    pub client: reqwest::Client,
}

impl Endpoint {
    /// The service at `address` (`http://127.0.0.1:port`), labelled `backend` in failures.
    pub fn new(address: String, backend: &'static str) -> Endpoint {
        Endpoint {
            address,
            backend,
            client: http_client(),
        }
    }
}

impl Endpoint {
    /// The same service, called from another loopback address (`127.0.0.2`, …): another client
    /// to its rate limits, as a stranger on another host is.
    pub fn calling_from(&self, ip: &str) -> Endpoint {
        http_client();
        let client = reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().expect("an IP address"))
            .build()
            .expect("http client");
        Endpoint {
            client,
            ..self.clone()
        }
    }
}

/// The application on its own database: its endpoint (`app.issue_reset(..)`, `app.address`) and
/// the use cases in process (`app.recovery`) for what a test arranges or inspects directly.
pub struct TestApp {
    pub api: Endpoint,
    pub database_url: String,
    pub recovery: Recovery,
}

impl std::ops::Deref for TestApp {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.api
    }
}

static CRYPTO: Once = Once::new();

pub fn http_client() -> reqwest::Client {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().build().expect("http client")
}

/// Starts the application on its own fresh database (and its own Redis key prefix).
pub async fn spawn_app(backend: &Backend) -> TestApp {
    spawn_app_with(backend, backend_settings(backend, &[]).await).await
}

/// Starts the application with a test SMTP server of its own as SMTP_URL.
pub async fn spawn_app_with_smtp(backend: &Backend, extra: &[(&str, &str)]) -> (TestApp, SmtpServer) {
    let smtp = SmtpServer::start().await;
    let url = smtp.url();
    let mut vars = vec![("SMTP_URL", url.as_str())];
    vars.extend_from_slice(extra);
    let app = spawn_app_with(backend, backend_settings(backend, &vars).await).await;
    (app, smtp)
}

/// One account of a reset mail: login ID, code and the token of its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailedGrant {
    pub login_id: String,
    pub code: String,
    pub token: String,
}

/// Reads the accounts out of a reset mail's text part (English or Korean labels).
pub fn mailed_grants(mail: &ReceivedMail) -> Vec<MailedGrant> {
    let mut out = Vec::new();
    let mut login_id = None;
    let mut code = None;
    for line in mail.text.lines().map(str::trim) {
        if let Some(v) = line
            .strip_prefix("Login ID: ")
            .or_else(|| line.strip_prefix("아이디: "))
        {
            login_id = Some(v.to_owned());
        } else if let Some(v) = line
            .strip_prefix("Verification code: ")
            .or_else(|| line.strip_prefix("인증번호: "))
        {
            code = Some(v.to_owned());
        } else if let Some(pos) = line.find("#token=") {
            let token = line[pos + 7..].to_owned();
            out.push(MailedGrant {
                login_id: login_id.take().expect("login ID before link"),
                code: code.take().expect("code before link"),
                token,
            });
        }
    }
    out
}

pub async fn spawn_app_with(backend: &Backend, settings: Settings) -> TestApp {
    // TEST_LOG=debug shows the service's logs while debugging a test.
    if let Ok(filter) = std::env::var("TEST_LOG") {
        account_recovery::telemetry::init(&filter, false);
    }
    let database_url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let app = Application::build(settings)
        .await
        .unwrap_or_else(|e| panic!("app on {} failed to start: {e:#}", backend.name()));
    let address = format!("http://127.0.0.1:{}", app.port());
    let recovery = app.recovery();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        api: Endpoint::new(address, backend.name()),
        database_url,
        recovery,
    }
}

/// Members most tests use: one e-mail with two password accounts, a social member, a locked one,
/// and the same login ID on a second site.
pub const FIXTURE: &str = r#"{"loginId":"alice01","email":"alice@example.com","name":"Alice Kim","password":"Blue-Harbor-47","ci":"CI-ALICE","joinType":"CITIZEN","joinedAt":"2023-05-01T09:00:00Z"}
{"loginId":"AliceBiz","email":"Alice@Example.com","name":"Alice Kim","memberType":"ENTERPRISE","password":"Amber-Falcon-36","ci":"CI-ALICE","joinedAt":"2024-01-02T00:00:00Z"}
{"loginId":"socialbob","email":"bob@example.com","name":"Bob Lee","memberType":"SOCIAL","ci":"CI-BOB","joinType":"FOREIGN","joinedAt":"2022-03-04T05:06:07Z"}
{"loginId":"locked1","email":"locked@example.com","name":"Lock Ed","password":"Quiet-Maple-82","status":"LOCKED"}
{"loginId":"gone1","email":"alice@example.com","name":"Gone","password":"Quiet-Maple-82","status":"WITHDRAWN"}
{"siteId":"other","loginId":"alice01","email":"alice@other.example","name":"Other Alice","password":"Quiet-Maple-82"}
"#;

impl TestApp {
    /// Waits until every handed-off reset request is resolved (its mail queued, its audit written).
    pub async fn wait_until_resolved(&self) {
        let queue = self.recovery.ports.reset_queue.clone();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let backlog = queue.backlog().await.expect("reset backlog");
            if backlog == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "[{}] {backlog} reset requests still unresolved",
                self.backend
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Runs a SQL query on the app's database and returns the first column of each row as text.
    pub async fn sql_strings(&self, sql: &str) -> Vec<String> {
        use sea_orm::{ConnectionTrait, Statement};
        let db = Database::connect(self.database_url.as_str())
            .await
            .expect("connect for inspection");
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
            .await
            .expect("inspection query");
        let out = rows
            .iter()
            .map(|r| {
                r.try_get_by_index::<Option<String>>(0)
                    .map(|v| v.unwrap_or_else(|| "NULL".into()))
                    .unwrap_or_else(|_| {
                        r.try_get_by_index::<i64>(0)
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    })
            })
            .collect();
        db.close().await.ok();
        out
    }

    pub async fn with_fixture(self) -> TestApp {
        let count = self
            .recovery
            .members
            .import(FIXTURE, chrono::Utc::now())
            .await
            .expect("fixture import");
        assert_eq!(count, 6);
        self
    }
}

/// Requests as the test writes them, for what the typed operations cannot say: malformed or
/// abusive documents, fields the shared documents leave out, other headers.
impl Endpoint {
    /// `GET path` (`/healthz`, `/metrics`, …) on the service.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_raw(&self, content_type: &str, body: String) -> reqwest::Response {
        self.client
            .post(format!("{}/graphql", self.address))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// Runs `query` with `variables` as written; the response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "[{}] status", self.backend);
        response.json().await.expect("json body")
    }
}

/// Polls every future until all are done, in one task: for futures that borrow (a store under
/// contract test), which cannot be spawned.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}
