//! Scale bench (issue 28): every light figure at a small and a large data set in one run, on
//! PostgreSQL and MariaDB, with the large/small ratio and the `{__typename}` ceiling beside each.
//! `cargo bench --bench scale`; its variables and goals are in docs/PERFORMANCE.md.
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/documents.rs"]
mod documents;
#[path = "support/driver.rs"]
mod driver;
#[path = "support/service.rs"]
mod service;
#[path = "../tests/api/smtp_server.rs"]
mod smtp_server;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use account_recovery::infra::db::audit::activity_statement;
use base64::Engine as _;
use documents::{CHECK_LOGIN_ID, FIND_ID, ISSUE_BY_EMAIL, ISSUE_DIRECT, PASSWORD, RESET, new_password};
use driver::{Load, Run, body, payload_ok};
use serde_json::{Value, json};
use service::{BenchDatabase, BenchMariaDb, Service, env_or};

const SIGN_IN: &str = "mutation($id: String!, $p: String!) { signIn(loginId: $id, password: $p) { accessToken errors { code } } }";
const WRONG_CODE: &str =
    "mutation($c: CodeInput!) { verifyResetToken(credential: {code: $c}) { valid errors { code } } }";
const ACTIVITY: &str = "query($first: Int, $after: String) { me { recoveryActivity(first: $first, after: $after) { edges { cursor node { at kind outcome } } pageInfo { hasNextPage endCursor } } } }";
const PAGE: i64 = 20;

/// Member numbers with a role: the attacked member, the quiet one; the others from 3 up.
const ATTACKED: u64 = 1;
const QUIET: u64 = 2;
/// Members whose passwords the resets change, per size (signIn never names them).
const RESET_POOL: u64 = 600;

fn login_id(n: u64) -> String {
    format!("scale{n:07}")
}
fn email(n: u64) -> String {
    format!("scale{n:07}@bench.example")
}
fn ci(n: u64) -> String {
    format!("scale-ci-{n:07}")
}

/// The data set's sizes (SCALE_*), and the shape of the audit history both sizes share.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    small_members: u64,
    members: u64,
    audit_rows: u64,
    attack_rows: u64,
}

impl Sizes {
    /// The small size's history is every `stride`-th row of the large one: the same mix, kinds,
    /// keys and time spread, in proportion to the members.
    fn stride(&self) -> u64 {
        let small_rows = (self.audit_rows * self.small_members / self.members).max(1);
        (self.audit_rows / small_rows).max(1)
    }
    /// The guessing attack fills the history's 40–80 % stretch, one row in `attack_stride`.
    fn attack_window(&self) -> (u64, u64) {
        (self.audit_rows * 2 / 5, self.audit_rows * 4 / 5)
    }
    fn attack_stride(&self) -> u64 {
        let (from, to) = self.attack_window();
        ((to - from) / self.attack_rows.max(1)).max(1)
    }
    /// The quiet member signs in now and then: about 240 rows of the small history (twelve
    /// pages), and none in the rows the large size adds.
    fn quiet_stride(&self) -> u64 {
        (self.audit_rows / self.stride() / 240).max(1)
    }
}

/// The database of one backend, driven through its command-line client.
enum Db {
    Postgres(BenchDatabase),
    MariaDb(BenchMariaDb),
}

impl Db {
    fn name(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::MariaDb(_) => "mariadb",
        }
    }
    fn url(&self) -> String {
        match self {
            Db::Postgres(db) => db.url(),
            Db::MariaDb(db) => db.url(),
        }
    }
    fn database(&self) -> String {
        match self {
            Db::Postgres(db) => db.name.clone(),
            Db::MariaDb(db) => db.name.clone(),
        }
    }
    /// Runs `sql`; its output trimmed, one row a line.
    fn sql(&self, sql: &str) -> String {
        match self {
            Db::Postgres(db) => db.scalar(sql),
            Db::MariaDb(db) => db.scalar(sql),
        }
    }
    /// Rows of `sql`, each split into its columns.
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let separator = match self {
            Db::Postgres(_) => '|',
            Db::MariaDb(_) => '\t',
        };
        self.sql(sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(separator).map(str::to_owned).collect())
            .collect()
    }
    fn count(&self, sql: &str) -> u64 {
        self.sql(sql).parse().unwrap_or(0)
    }
    /// Pages read from outside the database's own cache so far (PostgreSQL: this database's
    /// tables and indexes, after a pause for the backends to publish their counts; MariaDB: the
    /// server's buffer pool misses).
    async fn blocks_read(&self) -> i64 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let sql = match self {
            Db::Postgres(_) => {
                "select coalesce(sum(heap_blks_read + coalesce(idx_blks_read, 0)), 0) from pg_statio_user_tables"
            }
            Db::MariaDb(_) => {
                "select variable_value from information_schema.global_status where variable_name = 'INNODB_BUFFER_POOL_READS'"
            }
        };
        self.sql(sql).parse().unwrap_or(0)
    }

    fn backend(&self) -> sea_orm::DbBackend {
        match self {
            Db::Postgres(_) => sea_orm::DbBackend::Postgres,
            Db::MariaDb(_) => sea_orm::DbBackend::MySql,
        }
    }
}

/// The audit columns the service itself wrote, copied into the generated history.
struct Templates {
    site: String,
    /// The attacked member's identifier keys (login ID, e-mail), from its real wrong-code rows.
    attacked_keys: Vec<String>,
    /// The ring key id of those keys.
    key_id: String,
    attacked_id: String,
    quiet_id: String,
}

/// One `INSERT … SELECT` of the history rows `from..=to` that pass `filter`: ids are the row
/// numbers (below every id the service hands out, which start at 10^12 here), so ids grow with
/// time as the service's own do. The mix: the quiet member's sign-ins, the attack's wrong codes
/// under the attacked member's keys, and otherwise members signing in (4 in 10), asking for mail
/// (1) and the mail going out (1, no client, as the mail worker writes it), strangers' wrong codes
/// under other keys (3), unknown addresses (1).
fn history_sql(
    db: &Db,
    sizes: &Sizes,
    t: &Templates,
    members: u64,
    from: u64,
    to: u64,
    filter: &str,
) -> String {
    let pg = matches!(db, Db::Postgres(_));
    let div = if pg { "/" } else { " DIV " };
    let (a0, a1) = sizes.attack_window();
    let (k, sa, q, total) = (
        sizes.stride(),
        sizes.attack_stride(),
        sizes.quiet_stride(),
        sizes.audit_rows,
    );
    let (series, at, text, stranger) = if pg {
        (
            format!("generate_series({from}::bigint, {to}::bigint) AS g"),
            format!(
                "(now() AT TIME ZONE 'utc') - interval '300 days' + (h.g * 25833600.0 / {total})::float8 * interval '1 second'"
            ),
            "::text",
            "encode(sha256(('stranger-' || (h.g % 5000000))::bytea), 'hex')",
        )
    } else {
        (
            format!("(SELECT seq AS g FROM seq_{from}_to_{to}) AS s"),
            format!("utc_timestamp() - INTERVAL 300 DAY + INTERVAL (h.g * 25833600 DIV {total}) SECOND"),
            "",
            "sha2(concat('stranger-', h.g % 5000000), 256)",
        )
    };
    let classes = format!(
        "SELECT g, CASE WHEN g % {k} = 0 AND (g{div}{k}) % {q} = 0 THEN 1 \
         WHEN g >= {a0} AND g < {a1} AND g % {sa} = 0 THEN 2 + (g{div}{sa}) % 2 \
         ELSE 10 + g % 10 END AS c, 3 + (g * 7919) % ({members} - 3) AS n FROM {series} WHERE {filter}"
    );
    let signed_in = "h.c IN (1, 10, 11, 12, 13)";
    let wrong_code = "h.c IN (2, 3, 16, 17, 18)";
    format!(
        "INSERT INTO audit_events (id, site_id, member_id, kind, outcome, client_addr, occurred_at, identifier_key, identifier_key_id) \
         SELECT h.g, '{site}', \
           CASE WHEN h.c = 1 THEN '{quiet}' WHEN h.c BETWEEN 10 AND 15 THEN m.id END, \
           CASE WHEN {signed_in} THEN 'SIGNED_IN' WHEN {wrong_code} THEN 'FAILED_ATTEMPT' \
                WHEN h.c = 15 THEN 'RESET_MAILED' ELSE 'RESET_REQUESTED' END, \
           CASE WHEN {signed_in} THEN 'ok' WHEN {wrong_code} THEN 'wrong_code' \
                WHEN h.c = 14 THEN 'mail_queued' WHEN h.c = 15 THEN 'sent' ELSE 'no_account' END, \
           CASE WHEN h.c <> 15 THEN concat(CASE WHEN h.c IN (2, 3) THEN '203.0.113.' ELSE '198.51.100.' END, (h.g % 250){text}) END, \
           {at}, \
           CASE WHEN h.c = 2 THEN '{l}' WHEN h.c = 3 THEN '{e}' WHEN h.c IN (16, 17, 18) THEN {stranger} END, \
           CASE WHEN {wrong_code} THEN '{key_id}' END \
         FROM ({classes}) AS h \
         LEFT JOIN members m ON h.c BETWEEN 10 AND 15 AND m.site_id = '{site}' \
           AND m.login_id_key = concat('scale', lpad(h.n{text}, 7, '0'))",
        site = t.site,
        quiet = t.quiet_id,
        l = t.attacked_keys[0],
        e = t.attacked_keys[1],
        key_id = t.key_id,
    )
}

/// One figure at one size: the ceiling right before it, its closed-loop run, and for
/// `recoveryActivity` a paced probe.
struct Figure {
    name: String,
    ceiling: Run,
    run: Run,
    probe: Option<Run>,
    note: String,
    load: f64,
    /// Pages the database read from outside its cache, per request of the run.
    reads: f64,
    /// CPU per request of the run: the service's and the database server's, in µs.
    service_us: f64,
    db_us: f64,
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn print_header() {
    println!(
        "{:<34} {:>9} {:>9} {:>8} {:>8} {:>6} {:>7} {:>9} {:>5} {:>7} {:>6} {:>6}  note",
        "figure",
        "ceiling",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "×ceil",
        "probe p99",
        "load",
        "rd/req",
        "svc µs",
        "db µs"
    );
}

fn print_figure(f: &Figure) {
    println!(
        "{:<34} {:>9.0} {:>9.0} {:>8.2} {:>8.2} {:>6} {:>7.3} {:>9} {:>5.1} {:>7.2} {:>6.0} {:>6.0}  {}",
        f.name,
        f.ceiling.rate(),
        f.run.rate(),
        f.run.percentile_ms(0.5),
        f.run.percentile_ms(0.99),
        f.run.errors,
        f.run.rate() / f.ceiling.rate(),
        f.probe
            .as_ref()
            .map_or("".into(), |p| format!("{:.2}", p.percentile_ms(0.99))),
        f.load,
        f.reads,
        f.service_us,
        f.db_us,
        f.note
    );
    if let Some(e) = &f.run.first_error {
        println!("    first error: {e}");
    }
}

struct Bench {
    service: Service,
    db: Db,
    smtp: smtp_server::SmtpServer,
    client: reqwest::Client,
    seconds: Duration,
    ceiling_seconds: Duration,
    connections: usize,
    redis: (String, String),
}

fn typename_ok(v: &Value) -> Result<(), String> {
    (v["data"]["__typename"] == "Query")
        .then_some(())
        .ok_or("no __typename".into())
}
fn exists(v: &Value) -> Result<(), String> {
    payload_ok(v, "checkLoginId")?;
    (v["data"]["checkLoginId"]["exists"] == true)
        .then_some(())
        .ok_or("exists false".into())
}
fn one_account(v: &Value) -> Result<(), String> {
    payload_ok(v, "findId")?;
    (v["data"]["findId"]["accounts"]
        .as_array()
        .is_some_and(|a| a.len() == 1))
    .then_some(())
    .ok_or("no account".into())
}
fn signed_in(v: &Value) -> Result<(), String> {
    payload_ok(v, "signIn")?;
    v["data"]["signIn"]["accessToken"]
        .is_string()
        .then_some(())
        .ok_or("no accessToken".into())
}
fn full_page(v: &Value) -> Result<(), String> {
    if let Some(errors) = v.get("errors") {
        return Err(format!("top-level errors {errors}"));
    }
    let edges = v["data"]["me"]["recoveryActivity"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    (edges == PAGE as usize)
        .then_some(())
        .ok_or(format!("{edges} events on the page"))
}

impl Bench {
    async fn graphql(&self, query: &str, variables: Value, bearer: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(self.service.graphql_url())
            .json(&json!({"query": query, "variables": variables}));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON answer")
    }

    async fn sign_in(&self, n: u64) -> String {
        let v = self
            .graphql(SIGN_IN, json!({"id": login_id(n), "p": PASSWORD}), None)
            .await;
        v["data"]["signIn"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("sign-in of {}: {v}", login_id(n)))
            .to_owned()
    }

    async fn ceiling(&self) -> Run {
        let load: Load = Arc::new(|_| Some(body("{ __typename }", json!({}))));
        let port = self.service.port;
        driver::run(
            port,
            self.connections,
            Duration::from_secs(1),
            load.clone(),
            typename_ok,
        )
        .await;
        driver::run(port, self.connections, self.ceiling_seconds, load, typename_ok).await
    }

    /// The ceiling, then `load` (after a 2 s warm-up when `warm_up`), closed loop.
    async fn figure(&self, name: &str, load: Load, check: driver::Check, warm_up: bool) -> Figure {
        let ceiling = self.ceiling().await;
        let port = self.service.port;
        if warm_up {
            driver::run(
                port,
                self.connections,
                Duration::from_secs(2),
                load.clone(),
                check,
            )
            .await;
        }
        let load_now = loadavg();
        let reads = self.db.blocks_read().await;
        let cpu = cpu::Snapshot::take(self.service.pid());
        let run = driver::run(port, self.connections, self.seconds, load, check).await;
        let (service_us, db_us) = self.cpu_per_request(&cpu, run.requests());
        let reads = self.db.blocks_read().await - reads;
        let figure = Figure {
            name: name.to_owned(),
            ceiling,
            reads: reads as f64 / run.requests().max(1) as f64,
            service_us,
            db_us,
            run,
            probe: None,
            note: String::new(),
            load: load_now,
        };
        print_figure(&figure);
        figure
    }

    /// The plans of the attacked member's pages 1 and 10, each the third run of its statement
    /// (the first two warm the cache as the closed loop had).
    async fn explain_attacked(&self, t: &Templates, size: &str) {
        let attacked = self.sign_in(ATTACKED).await;
        let page_10 = cursor_id(&self.cursor_after(&attacked, 9).await);
        for (page, before) in [("1", None), ("10", page_10)] {
            println!("plan of the attacked member's page {page} (one arm per source), {size} size:");
            explain_pages(&self.db, t, before);
        }
    }

    /// The service's and the database server's CPU since `before`, in µs per request (PostgreSQL:
    /// the backends of the bench's database; MariaDB: the whole server).
    fn cpu_per_request(&self, before: &cpu::Snapshot, requests: u64) -> (f64, f64) {
        let used = before.used_until(&cpu::Snapshot::take(self.service.pid()), &self.db.database());
        let db = match &self.db {
            Db::Postgres(_) => used.postgres_own_backends,
            Db::MariaDb(_) => used.mariadb,
        };
        let per = |d: Duration| d.as_secs_f64() * 1e6 / requests.max(1) as f64;
        (per(used.service), per(db))
    }

    /// A page of the signed-in member's activity: the ceiling, a closed-loop run, then a probe
    /// of 100 req/s (4 connections, one request each per 40 ms) whose p99 the goal judges.
    async fn activity_figure(&self, name: &str, bearer: &str, after: Option<String>) -> Figure {
        let ceiling = self.ceiling().await;
        let port = self.service.port;
        let variables = json!({"first": PAGE, "after": after});
        let load: Load = Arc::new(move |_| Some(body(ACTIVITY, variables.clone())));
        let closed = |seconds| {
            driver::run_signed_in(
                port,
                self.connections,
                seconds,
                Duration::ZERO,
                bearer,
                load.clone(),
                full_page,
            )
        };
        closed(Duration::from_secs(2)).await;
        let load_now = loadavg();
        let reads = self.db.blocks_read().await;
        let cpu = cpu::Snapshot::take(self.service.pid());
        let run = closed(self.seconds).await;
        let (service_us, db_us) = self.cpu_per_request(&cpu, run.requests());
        let reads = self.db.blocks_read().await - reads;
        let probe = driver::run_signed_in(
            port,
            4,
            self.seconds,
            Duration::from_millis(40),
            bearer,
            load.clone(),
            full_page,
        )
        .await;
        let figure = Figure {
            name: name.to_owned(),
            note: format!(
                "probe {} requests, p50 {:.2} ms, {} errors",
                probe.requests(),
                probe.percentile_ms(0.5),
                probe.errors
            ),
            ceiling,
            reads: reads as f64 / run.requests().max(1) as f64,
            service_us,
            db_us,
            run,
            probe: Some(probe),
            load: load_now,
        };
        print_figure(&figure);
        figure
    }

    /// The cursor that ends page `pages` of the member's activity (pages of 20), read page by page.
    async fn cursor_after(&self, bearer: &str, pages: usize) -> String {
        let mut after: Option<String> = None;
        for _ in 0..pages {
            let v = self
                .graphql(ACTIVITY, json!({"first": PAGE, "after": after}), Some(bearer))
                .await;
            full_page(&v).unwrap_or_else(|e| panic!("paging: {e}: {v}"));
            after = v["data"]["me"]["recoveryActivity"]["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
        }
        after.expect("a cursor")
    }

    /// Reset requests handed off and unresolved plus mail queued.
    fn backlog(&self) -> u64 {
        let (url, key) = &self.redis;
        let stream = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut conn| redis::cmd("XLEN").arg(key).query::<u64>(&mut conn))
            .unwrap_or(0);
        stream
            + self.db.count("select count(*) from reset_requests")
            + self
                .db
                .count("select count(*) from outbox where status = 'PENDING'")
    }

    /// Waits (up to 5 minutes) for the backlog of an issue run; says what the run caused.
    async fn drain(&self, figure: &mut Figure, mails_at_start: usize) {
        let started = Instant::now();
        let left = self.backlog();
        while self.backlog() > 0 && started.elapsed() < Duration::from_secs(300) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        figure.note = format!(
            "{} mails caused; backlog {left} drained in {:.1} s",
            self.smtp.messages().len() - mails_at_start,
            started.elapsed().as_secs_f64()
        );
        println!("    {}: {}", figure.name, figure.note);
    }

    /// Known addresses, a member no request named before for each (a grant and a mail each), as
    /// long as `fresh` lasts: at the large size only, where there are enough.
    async fn issue_fresh(&self, fresh: std::ops::Range<u64>) -> Figure {
        let mails = self.smtp.messages().len();
        let start = fresh.start;
        let end = fresh.end;
        let mut figure = self
            .figure(
                "issueResetToken known, new each",
                Arc::new(move |i| {
                    (start + i < end).then(|| body(ISSUE_BY_EMAIL, json!({"e": email(start + i)})))
                }),
                driver::reset_accepted,
                true,
            )
            .await;
        self.drain(&mut figure, mails).await;
        figure
    }

    /// Reset tokens by the identity path for members `pool`, 16 requests at a time.
    async fn tokens(&self, pool: std::ops::Range<u64>) -> Vec<String> {
        let mut tokens = Vec::new();
        for chunk in pool.collect::<Vec<_>>().chunks(16) {
            let answers = futures::future::join_all(chunk.iter().map(|&n| async move {
                let v = self
                    .graphql(ISSUE_DIRECT, json!({"id": login_id(n), "ci": ci(n)}), None)
                    .await;
                v["data"]["issueResetToken"]["token"].as_str().map(str::to_owned)
            }))
            .await;
            tokens.extend(answers.into_iter().flatten());
        }
        tokens
    }

    /// Every figure at the size now in the database. `members`: how many; `named`: members no
    /// reset of this size changes, the known addresses' and the sign-ins' (first the ones no
    /// issue run has named yet); `resets`: the members whose passwords the resets set.
    async fn measure(
        &self,
        members: u64,
        named: std::ops::Range<u64>,
        turns: u64,
        resets: std::ops::Range<u64>,
    ) -> Vec<Figure> {
        print_header();
        let mut figures = Vec::new();
        let spread = move |i: u64| 3 + i.wrapping_mul(7919) % (members - 3);
        figures.push(
            self.figure(
                "checkLoginId (known)",
                Arc::new(move |i| Some(body(CHECK_LOGIN_ID, json!({"id": login_id(spread(i))})))),
                exists,
                true,
            )
            .await,
        );
        figures.push(
            self.figure(
                "findId by e-mail (known)",
                Arc::new(move |i| Some(body(FIND_ID, json!({"e": email(spread(i))})))),
                one_account,
                true,
            )
            .await,
        );
        // Known addresses: the same number at both sizes (the small size's members, spread over
        // the table at the large one), each named again and again, so both sizes do the same work
        // (the first request of each address a grant and a mail, the rest its cooldown).
        let (from, to) = (named.start, named.end);
        let turn = move |i: u64| from + (i % turns) * ((to - from) / turns);
        let mails = self.smtp.messages().len();
        let mut issue = self
            .figure(
                &format!("issueResetToken known ({turns} in turn)"),
                Arc::new(move |i| Some(body(ISSUE_BY_EMAIL, json!({"e": email(turn(i))})))),
                driver::reset_accepted,
                true,
            )
            .await;
        self.drain(&mut issue, mails).await;
        figures.push(issue);
        let mails = self.smtp.messages().len();
        let tag = members;
        let mut unknown = self
            .figure(
                "issueResetToken by e-mail, unknown",
                Arc::new(move |i| {
                    Some(body(
                        ISSUE_BY_EMAIL,
                        json!({"e": format!("nobody{tag}-{i}@bench.example")}),
                    ))
                }),
                driver::reset_accepted,
                true,
            )
            .await;
        self.drain(&mut unknown, mails).await;
        figures.push(unknown);
        let attacked = self.sign_in(ATTACKED).await;
        let quiet = self.sign_in(QUIET).await;
        for (who, bearer) in [("attacked", &attacked), ("quiet", &quiet)] {
            figures.push(
                self.activity_figure(&format!("recoveryActivity {who}, page 1"), bearer, None)
                    .await,
            );
            let after = self.cursor_after(bearer, 9).await;
            figures.push(
                self.activity_figure(&format!("recoveryActivity {who}, page 10"), bearer, Some(after))
                    .await,
            );
        }
        // Sign-ins by members the resets do not touch (their password stays PASSWORD).
        let signing = move |i: u64| from + i.wrapping_mul(7919) % (to - from);
        figures.push(
            self.figure(
                "signIn",
                Arc::new(move |i| Some(body(SIGN_IN, json!({"id": login_id(signing(i)), "p": PASSWORD})))),
                signed_in,
                true,
            )
            .await,
        );
        let tokens = Arc::new(self.tokens(resets.clone()).await);
        let issued = tokens.len() as u64;
        let offset = resets.start;
        let mails = self.smtp.messages().len();
        let mut reset = self
            .figure(
                "resetPassword (token)",
                Arc::new(move |i| {
                    let token = tokens.get(i as usize)?;
                    Some(body(RESET, json!({"t": token, "p": new_password(offset + i)})))
                }),
                |v| payload_ok(v, "resetPassword"),
                false,
            )
            .await;
        self.drain(&mut reset, mails).await;
        if reset.run.requests() >= issued {
            reset.note += "; ran out of tokens before the end";
        }
        figures.push(reset);
        figures
    }
}

/// ANALYZE the tables, checkpoint, then wait for the machine to go idle (loadavg below
/// SCALE_IDLE_LOAD, no autovacuum or purge at work) or SCALE_SETTLE_MAX_SECS.
async fn settle(db: &Db) {
    let started = Instant::now();
    match db {
        Db::Postgres(_) => {
            db.sql("VACUUM ANALYZE");
            db.sql("CHECKPOINT");
        }
        Db::MariaDb(_) => {
            db.sql("ANALYZE TABLE members, audit_events, outbox, sites");
        }
    }
    let analyzed = started.elapsed();
    let idle: f64 = env_or("SCALE_IDLE_LOAD", "1.0").parse().expect("SCALE_IDLE_LOAD");
    let max = Duration::from_secs(
        env_or("SCALE_SETTLE_MAX_SECS", "120")
            .parse()
            .expect("SCALE_SETTLE_MAX_SECS"),
    );
    let busy = || match db {
        Db::Postgres(_) => db.count("select count(*) from pg_stat_activity where query ilike 'autovacuum:%'"),
        Db::MariaDb(_) => {
            let history = db.count(
                "select count from information_schema.innodb_metrics where name = 'trx_rseg_history_len'",
            );
            u64::from(history > 1000)
        }
    };
    let waited = Instant::now();
    while (loadavg() > idle || busy() > 0) && waited.elapsed() < max {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "settled: {} {:.1} s, then waited {:.0} s for an idle machine (load now {:.2}, goal < {idle}; background work {})",
        if matches!(db, Db::Postgres(_)) {
            "VACUUM ANALYZE + CHECKPOINT"
        } else {
            "ANALYZE TABLE"
        },
        analyzed.as_secs_f64(),
        waited.elapsed().as_secs_f64(),
        loadavg(),
        busy()
    );
}

/// The audit table's secondary indexes as the catalog states them: dropped before a bulk
/// insert and made again from the same text after it (a sorted build instead of millions of
/// random inserts: 5 × faster for 2,000,000 rows on MariaDB here).
fn audit_indexes(db: &Db) -> Vec<(String, String)> {
    match db {
        Db::Postgres(_) => db
            .rows(
                "select indexname, indexdef from pg_indexes where schemaname = current_schema() \
                 and tablename = 'audit_events' and indexname <> 'audit_events_pkey' order by indexname",
            )
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect(),
        Db::MariaDb(_) => {
            let create = db.sql("show create table audit_events");
            let mut found: Vec<(String, String)> = create
                .split("\\n")
                .map(str::trim)
                .filter(|l| l.starts_with("KEY "))
                .map(|l| {
                    let l = l.trim_end_matches(',');
                    (l.split('`').nth(1).unwrap_or_default().to_owned(), l.to_owned())
                })
                .collect();
            found.sort();
            found
        }
    }
}

fn drop_indexes(db: &Db, indexes: &[(String, String)]) {
    for (name, _) in indexes {
        match db {
            Db::Postgres(_) => db.sql(&format!("drop index {name}")),
            Db::MariaDb(_) => db.sql(&format!("alter table audit_events drop index `{name}`")),
        };
    }
}

fn create_indexes(db: &Db, indexes: &[(String, String)]) {
    match db {
        Db::Postgres(_) => {
            for (_, def) in indexes {
                db.sql(&format!("set maintenance_work_mem = '512MB'; {def}"));
            }
        }
        Db::MariaDb(_) => {
            let adds: Vec<String> = indexes.iter().map(|(_, def)| format!("add {def}")).collect();
            db.sql(&format!("alter table audit_events {}", adds.join(", ")));
        }
    }
}

/// Inserts history rows `from..=to` passing `filter`, in chunks, printing the rate.
fn insert_history(db: &Db, sizes: &Sizes, t: &Templates, members: u64, filter: &str) -> Duration {
    let started = Instant::now();
    let chunk = 2_000_000;
    let mut from = 1;
    while from <= sizes.audit_rows {
        let to = (from + chunk - 1).min(sizes.audit_rows);
        db.sql(&history_sql(db, sizes, t, members, from, to, filter));
        from = to + 1;
    }
    started.elapsed()
}

/// What the audit table holds for the attacked and the quiet member.
fn audit_census(db: &Db, t: &Templates) -> String {
    format!(
        "{} audit rows; {} under the attacked member's identifier keys, {} of its own; the quiet member's own: {}",
        db.count("select count(*) from audit_events"),
        db.count(&format!(
            "select count(*) from audit_events where identifier_key in ('{}', '{}')",
            t.attacked_keys[0], t.attacked_keys[1]
        )),
        db.count(&format!(
            "select count(*) from audit_events where member_id = '{}'",
            t.attacked_id
        )),
        db.count(&format!(
            "select count(*) from audit_events where member_id = '{}'",
            t.quiet_id
        )),
    )
}

/// The plan of one of the attacked member's pages (one arm per source), on its third run.
fn explain_pages(db: &Db, t: &Templates, before: Option<i64>) {
    let keys = [t.attacked_keys[0].as_str(), t.attacked_keys[1].as_str()];
    let statement =
        activity_statement(db.backend(), &t.attacked_id, &keys, before, PAGE as u64 + 1).to_string();
    let plan = match db {
        Db::Postgres(_) => {
            let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {statement}");
            db.sql(&explain);
            db.sql(&explain);
            db.sql(&explain)
        }
        Db::MariaDb(_) => {
            let analyze = format!("ANALYZE FORMAT=JSON {statement}");
            db.sql(&analyze);
            db.sql(&analyze);
            let json = db.sql(&analyze).replace("\\n", "\n");
            let plan: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
            let mut tables = Vec::new();
            tables_of(&plan, &mut tables);
            let arms: Vec<String> = tables
                .iter()
                .map(|table| {
                    format!(
                        "{} key {} access {} r_rows {} r_table_time_ms {}",
                        table["table_name"],
                        table["key"],
                        table["access_type"],
                        table["r_rows"],
                        table["r_table_time_ms"]
                    )
                })
                .collect();
            // A UNION's plan has no total of its own: the time of each table above, and this.
            format!(
                "{}\noptimization r_total_time_ms {}",
                arms.join("\n"),
                plan["query_optimization"]["r_total_time_ms"]
            )
        }
    };
    println!("  below {before:?}:\n    {}", plan.replace('\n', "\n    "));
}

/// Every `table` of a MariaDB JSON plan.
fn tables_of<'a>(plan: &'a Value, out: &mut Vec<&'a Value>) {
    match plan {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "table" {
                    out.push(v);
                }
                tables_of(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| tables_of(v, out)),
        _ => {}
    }
}

fn cursor_id(cursor: &str) -> Option<i64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("event:")?
        .parse()
        .ok()
}

fn write_members(path: &Path, range: std::ops::Range<u64>, hash: &str) {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for n in range {
        writeln!(
            out,
            r#"{{"loginId":"{}","email":"{}","name":"Member {n}","ci":"{}","joinType":"CITIZEN","passwordHash":"{hash}"}}"#,
            login_id(n),
            email(n),
            ci(n)
        )
        .unwrap();
    }
    out.flush().unwrap();
}

struct Outcome {
    backend: &'static str,
    small: Vec<Figure>,
    large: Vec<Figure>,
    /// issueResetToken with a new member each request, at the large size.
    fresh: Figure,
}

async fn run_backend(backend: &str, sizes: Sizes, dir: &Path, hash: &str) -> Outcome {
    let db = match backend {
        "postgres" => Db::Postgres(BenchDatabase::create(
            &env_or("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
            "scale",
        )),
        "mysql" | "mariadb" => Db::MariaDb(BenchMariaDb::create(
            &env_or("BENCH_MYSQL_SERVER", "mysql://root@127.0.0.1:3306"),
            "scale",
        )),
        other => panic!("BENCH_BACKENDS: postgres and/or mysql, not {other}"),
    };
    println!("\n=== {} ===", db.name());
    let smtp = smtp_server::SmtpServer::start().await;
    let redis_url = env_or("BENCH_REDIS_URL", "redis://127.0.0.1:6379");
    let prefix = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", db.url()),
        ("REDIS_URL", redis_url.clone()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("SMTP_URL", smtp.url()),
        ("DEMO", "false".into()),
        ("SECRET_KEY", service::BENCH_SECRET_KEY.into()),
        ("RATE_LIMITS", service::HIGH_LIMITS.into()),
        ("HASH_CONCURRENCY", env_or("HASH_CONCURRENCY", "2")),
        ("RUST_LOG", "warn".into()),
        ("OUTBOX_DIR", dir.join("outbox").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    service::cli(&env, &["migrate"]);
    // The service's own audit ids start at 10^12, above every generated history row.
    match &db {
        Db::Postgres(_) => {
            db.sql("select setval(pg_get_serial_sequence('audit_events', 'id'), 1000000000000)")
        }
        Db::MariaDb(_) => db.sql("alter table audit_events auto_increment = 1000000000000"),
    };
    let small_file = dir.join("small.jsonl");
    write_members(&small_file, 0..sizes.small_members, hash);
    let started = Instant::now();
    service::cli(&env, &["member", "import", small_file.to_str().unwrap()]);
    println!(
        "imported {} members through `member import` in {:.1} s",
        sizes.small_members,
        started.elapsed().as_secs_f64()
    );
    let service = Service::start(&env, dir);
    let bench = Bench {
        service,
        db,
        smtp,
        client: reqwest::Client::new(),
        seconds: Duration::from_secs(env_or("BENCH_SECONDS", "10").parse().expect("BENCH_SECONDS")),
        ceiling_seconds: Duration::from_secs(
            env_or("BENCH_CEILING_SECONDS", "5")
                .parse()
                .expect("BENCH_CEILING_SECONDS"),
        ),
        connections: env_or("BENCH_CONNECTIONS", "32")
            .parse()
            .expect("BENCH_CONNECTIONS"),
        redis: (redis_url, format!("{prefix}:resets")),
    };
    // Real events through the API: the attacked and the quiet member sign in and ask for mail,
    // strangers guess codes with the attacked member's login ID and address, an unknown address
    // asks for mail. The generated history copies the columns these rows carry.
    for n in [ATTACKED, QUIET] {
        bench.sign_in(n).await;
        bench.graphql(ISSUE_BY_EMAIL, json!({"e": email(n)}), None).await;
    }
    for i in 0..3 {
        let login = login_id(ATTACKED).to_uppercase();
        let address = email(ATTACKED).replacen('s', "S", 1);
        for code in [
            json!({"loginId": login, "code": format!("00000{i}")}),
            json!({"email": address, "code": format!("00000{i}")}),
        ] {
            let v = bench.graphql(WRONG_CODE, json!({"c": code}), None).await;
            assert!(v["data"]["verifyResetToken"]["valid"] == false, "{v}");
        }
    }
    bench
        .graphql(ISSUE_BY_EMAIL, json!({"e": "nobody@bench.example"}), None)
        .await;
    let mut warm = Figure {
        name: "real events".into(),
        ceiling: Run::default(),
        run: Run::default(),
        probe: None,
        note: String::new(),
        load: 0.0,
        reads: 0.0,
        service_us: 0.0,
        db_us: 0.0,
    };
    bench.drain(&mut warm, 0).await;
    let db = &bench.db;
    println!("rows the service wrote (kind, outcome, member?, identifier key?, key id, client):");
    for row in db.rows(
        "select kind, outcome, case when member_id is null then 'no member' else 'member' end, \
         case when identifier_key is null then 'no key' else 'key' end, coalesce(identifier_key_id, '-'), \
         coalesce(client_addr, '-'), count(*) from audit_events group by 1, 2, 3, 4, 5, 6 order by 1, 2",
    ) {
        println!("  {}", row.join(" | "));
    }
    let member_id = |n: u64| {
        db.sql(&format!(
            "select id from members where login_id_key = '{}'",
            login_id(n)
        ))
    };
    let wrong = db.rows(
        "select distinct site_id, identifier_key, identifier_key_id from audit_events \
         where kind = 'FAILED_ATTEMPT' and outcome = 'wrong_code' order by identifier_key",
    );
    assert_eq!(
        wrong.len(),
        2,
        "one key for the login ID, one for the address: {wrong:?}"
    );
    let templates = Templates {
        site: wrong[0][0].clone(),
        attacked_keys: wrong.iter().map(|r| r[1].clone()).collect(),
        key_id: wrong[0][2].clone(),
        attacked_id: member_id(ATTACKED),
        quiet_id: member_id(QUIET),
    };
    let k = sizes.stride();
    let took = insert_history(
        db,
        &sizes,
        &templates,
        sizes.small_members,
        &format!("g % {k} = 0"),
    );
    println!(
        "small history (every {k}th row of the large one) inserted in {:.1} s",
        took.as_secs_f64()
    );
    settle(db).await;
    println!(
        "small size: {} members, {}",
        db.count("select count(*) from members"),
        audit_census(db, &templates)
    );
    let small_resets = sizes.small_members - RESET_POOL.min(sizes.small_members / 5);
    let turns = small_resets - 3;
    let small = bench
        .measure(
            sizes.small_members,
            3..small_resets,
            turns,
            small_resets..sizes.small_members,
        )
        .await;

    bench.explain_attacked(&templates, "small").await;

    // Grow: the other members through `member import`, the rest of the history in SQL.
    let rest = dir.join("rest.jsonl");
    write_members(&rest, sizes.small_members..sizes.members, hash);
    let started = Instant::now();
    service::cli(&env, &["member", "import", rest.to_str().unwrap()]);
    println!(
        "imported {} more members through `member import` in {:.1} s",
        sizes.members - sizes.small_members,
        started.elapsed().as_secs_f64()
    );
    let indexes = audit_indexes(db);
    drop_indexes(db, &indexes);
    let took = insert_history(db, &sizes, &templates, sizes.members, &format!("g % {k} <> 0"));
    let started = Instant::now();
    create_indexes(db, &indexes);
    assert_eq!(
        audit_indexes(db),
        indexes,
        "the audit indexes made again as they were"
    );
    println!(
        "large history inserted in {:.1} s ({:.0} rows/s) without the {} secondary audit indexes, made again in {:.1} s",
        took.as_secs_f64(),
        (sizes.audit_rows - sizes.audit_rows / k) as f64 / took.as_secs_f64(),
        indexes.len(),
        started.elapsed().as_secs_f64()
    );
    settle(db).await;
    println!(
        "large size: {} members, {}",
        db.count("select count(*) from members"),
        audit_census(db, &templates)
    );
    let large_resets = sizes.small_members..sizes.small_members + RESET_POOL;
    let large = bench
        .measure(
            sizes.members,
            large_resets.end..sizes.members,
            turns,
            large_resets.clone(),
        )
        .await;
    // The signIn run named members from large_resets.end up; the new addresses start above
    // every member the known run and the sign-ins may have named twice.
    let fresh = bench.issue_fresh(large_resets.end..sizes.members).await;
    bench.explain_attacked(&templates, "large").await;
    Outcome {
        backend: db.name(),
        small,
        large,
        fresh,
    }
}

fn goal(ok: bool, text: String) {
    println!("  [{}] {text}", if ok { "met" } else { "MISSED" });
}

fn report(o: &Outcome, sizes: &Sizes) {
    println!(
        "\n{}: small = {} members, large = {} members and {} audit rows ({} wrong codes under the attacked member's keys)",
        o.backend, sizes.small_members, sizes.members, sizes.audit_rows, sizes.attack_rows
    );
    println!(
        "{:<34} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6} {:>8}",
        "figure", "small", "large", "ratio", "ceil s", "ceil l", "ratio", "×ceil"
    );
    for (s, l) in o.small.iter().zip(&o.large) {
        let ratio = l.run.rate() / s.run.rate();
        let ceiling_ratio = l.ceiling.rate() / s.ceiling.rate();
        println!(
            "{:<34} {:>9.0} {:>9.0} {:>6.2} {:>9.0} {:>9.0} {:>6.2} {:>8.2}",
            s.name,
            s.run.rate(),
            l.run.rate(),
            ratio,
            s.ceiling.rate(),
            l.ceiling.rate(),
            ceiling_ratio,
            ratio / ceiling_ratio
        );
    }
    println!(
        "{:<34} {:>9} {:>9.0} {:>6} {:>9} {:>9.0} (large size only: {}, p99 {:.2} ms)",
        o.fresh.name,
        "",
        o.fresh.run.rate(),
        "",
        "",
        o.fresh.ceiling.rate(),
        o.fresh.note,
        o.fresh.run.percentile_ms(0.99)
    );
    println!("goals:");
    for (s, l) in o.small.iter().zip(&o.large) {
        let ratio = l.run.rate() / s.run.rate();
        goal(
            ratio >= 0.9 && s.run.errors + l.run.errors == 0,
            format!(
                "{}: large/small {ratio:.2} ({:.2} beside the ceilings' own ratio); errors {} / {}; goal ≥ 0.90",
                s.name,
                ratio / (l.ceiling.rate() / s.ceiling.rate()),
                s.run.errors,
                l.run.errors
            ),
        );
    }
    for l in o.large.iter().filter(|f| f.probe.is_some()) {
        let probe = l.probe.as_ref().unwrap();
        goal(
            probe.percentile_ms(0.99) <= 10.0 && probe.errors == 0,
            format!(
                "{} at the large size: p99 {:.2} ms at 100 req/s (closed loop: p99 {:.2} ms); goal ≤ 10 ms",
                l.name,
                probe.percentile_ms(0.99),
                l.run.percentile_ms(0.99)
            ),
        );
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let number = |name: &str, default: &str| -> u64 { env_or(name, default).parse().expect(name) };
    let sizes = Sizes {
        small_members: number("SCALE_SMALL_MEMBERS", "3000"),
        members: number("SCALE_MEMBERS", "1000000"),
        audit_rows: number("SCALE_AUDIT_ROWS", "20000000"),
        attack_rows: number("SCALE_ATTACK_ROWS", "1000000"),
    };
    assert!(
        sizes.small_members >= 100 && sizes.members >= sizes.small_members + 2 * RESET_POOL,
        "SCALE_MEMBERS must exceed SCALE_SMALL_MEMBERS by {} at least",
        2 * RESET_POOL
    );
    let dir = std::env::temp_dir().join(format!("ar-scale-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    // One argon2id hash, made here, shared by every member: the import stores it as given.
    let hash = {
        use argon2::PasswordHasher as _;
        argon2::Argon2::default()
            .hash_password(PASSWORD.as_bytes())
            .unwrap()
            .to_string()
    };
    println!(
        "{sizes:?}; BENCH_SECONDS {}, ceiling {} s before each figure, {} connections; load {:.2}",
        env_or("BENCH_SECONDS", "10"),
        env_or("BENCH_CEILING_SECONDS", "5"),
        env_or("BENCH_CONNECTIONS", "32"),
        loadavg()
    );
    let mut outcomes = Vec::new();
    for backend in env_or("BENCH_BACKENDS", "postgres,mysql")
        .split(',')
        .map(str::trim)
    {
        let outcome = run_backend(backend, sizes, &dir, &hash).await;
        report(&outcome, &sizes);
        outcomes.push(outcome);
    }
    println!("\n=== summary ===");
    for outcome in &outcomes {
        report(outcome, &sizes);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
