//! The keyring over HTTP, on every backend: a deployment that adds a key and restarts on the same
//! database (and Redis prefix) keeps its old recovery codes, pending sealed mail, mailed codes and
//! identity hashes working, writes everything new under the new key, moves a member's identity
//! hash at their next verified identity check, and `keys status` shows the counts moving. Rows
//! written before the keyring (no key id, plain HMAC of SECRET_KEY) keep working the same way.
use std::{collections::HashMap, process::Command, time::Duration};

use account_recovery::{
    app::Application,
    config::Settings,
    domain::{
        grant::IdentifierKey, keyed_hash::KeyedHasher, keyring::Keyring, login_id::LoginId,
        recovery_code::RecoveryCode, site::SiteId,
    },
    infra::sealer::Sealer,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    helpers::{
        Backend, Endpoint, TestApp, backend_test, fresh_database, mailed_grants, redis_url, test_settings,
        unique_name,
    },
    operations::{
        UserErrors, by, change,
        credential::{code_by_login_id, recovery_code},
        find,
    },
    smtp_server::{ReceivedMail, SmtpServer},
};

const KEY_A: &str = "key-a-0123456789abcdef0123456789abcdef";
const KEY_B: &str = "key-b-0123456789abcdef0123456789abcdef";
const PASSWORD: &str = "Blue-Harbor-47";
const MEMBERS: &str = r#"{"loginId":"alice01","email":"alice@example.com","name":"Alice Kim","password":"Blue-Harbor-47","ci":"CI-ALICE","joinType":"CITIZEN"}
{"loginId":"carol","email":"carol@example.com","name":"Carol Park","password":"Blue-Harbor-47","ci":"CI-CAROL","joinType":"CITIZEN"}
{"loginId":"dave","email":"dave@example.com","name":"Dave Cho","password":"Blue-Harbor-47","ci":"CI-DAVE","joinType":"CITIZEN"}
"#;

/// One deployment's lasting state: its database, and its Redis prefix on the server databases.
struct Deployment {
    backend: Backend,
    url: String,
    prefix: String,
}

/// A running instance that can be stopped, as a restart does.
struct Running {
    app: TestApp,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

impl Deployment {
    async fn new(backend: Backend) -> Deployment {
        let url = fresh_database(&backend).await;
        Deployment {
            backend,
            url,
            prefix: unique_name(),
        }
    }

    fn settings(&self, keys: (&str, &str), smtp: &str) -> Settings {
        let mut vars = vec![keys, ("SMTP_URL", smtp), ("MAIL_POLL_MS", "100")];
        let redis = redis_url();
        if let (Some(redis), false) = (&redis, matches!(self.backend, Backend::Sqlite)) {
            vars.push(("REDIS_URL", redis));
            vars.push(("REDIS_KEY_PREFIX", &self.prefix));
        }
        test_settings(&self.url, &vars)
    }

    /// Whether grants outlive a restart (Redis on the server databases).
    fn shares_tokens(&self) -> bool {
        redis_url().is_some() && !matches!(self.backend, Backend::Sqlite)
    }

    async fn start(&self, keys: (&str, &str), smtp: &str) -> Running {
        let app = Application::build(self.settings(keys, smtp))
            .await
            .unwrap_or_else(|e| panic!("[{}] start: {e:#}", self.backend.name()));
        let address = format!("http://127.0.0.1:{}", app.port());
        let recovery = app.recovery();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Running {
            app: TestApp {
                api: Endpoint::new(address, self.backend.name()),
                database_url: self.url.clone(),
                recovery,
            },
            stop,
            served,
        }
    }

    /// `account-recovery keys status` under `keys`: per key (or `(pre-keyring)`), the identity
    /// hashes, recovery codes, sealed mail, webhook secrets and audit identifiers counted, and the
    /// whole text.
    fn keys_status(&self, keys: (&str, &str)) -> (HashMap<String, [u64; 5]>, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_account-recovery"))
            .args(["keys", "status"])
            .env("DATABASE_URL", &self.url)
            .env(keys.0, keys.1)
            .env("RUST_LOG", "warn")
            .env("DEMO", "false")
            .output()
            .expect("run keys status");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains(KEY_A) && !text.contains(KEY_B),
            "no secret printed: {text}"
        );
        let counts = text
            .lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let n: Vec<u64> = cols
                    .get(1..6)?
                    .iter()
                    .map(|c| c.parse().ok())
                    .collect::<Option<_>>()?;
                Some((cols[0].to_owned(), [n[0], n[1], n[2], n[3], n[4]]))
            })
            .collect();
        (counts, text)
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(20), self.served).await;
    }
}

async fn elevated_session(app: &TestApp, login_id: &str) -> String {
    let session = app.access_token(login_id, PASSWORD).await;
    let elevated = app.reauthenticate(&session, PASSWORD).await;
    assert!(elevated.elevated_until.is_some(), "[{}] {elevated}", app.backend);
    session
}

async fn generate_codes(app: &TestApp, login_id: &str) -> Vec<String> {
    let session = elevated_session(app, login_id).await;
    let generated = app.generate_recovery_codes(session.as_str()).await;
    generated
        .codes
        .clone()
        .unwrap_or_else(|| panic!("[{}] no codes: {generated}", app.backend))
}

async fn wait_for(smtp: &SmtpServer, n: usize) -> Vec<ReceivedMail> {
    let mails = smtp.wait_for_messages(n, Duration::from_secs(20)).await;
    assert!(mails.len() >= n, "{} of {n} mails arrived", mails.len());
    mails
}

/// Waits until `n` outbox rows still hold a sealed body (sent mail is erased once settled).
async fn wait_for_sealed(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sealed = app
            .sql_strings("SELECT id FROM outbox WHERE sealed IS NOT NULL")
            .await;
        if sealed.len() == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "[{}] {} sealed rows, not {n}",
            app.backend,
            sealed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sorted distinct values of one column (NULL as "NULL").
async fn key_ids(app: &TestApp, sql: &str) -> Vec<String> {
    let mut ids = app.sql_strings(sql).await;
    ids.sort();
    ids.dedup();
    ids
}

#[backend_test]
async fn a_rotation_keeps_old_data_working_and_writes_under_the_new_key(backend: Backend) {
    let name = backend.name();
    let deployment = Deployment::new(backend).await;
    let (only_a, a_then_b) = (format!("a:{KEY_A}"), format!("b:{KEY_B},a:{KEY_A}"));
    let only_a = only_a.as_str();
    let smtp = SmtpServer::start().await;
    let port = smtp.port();

    // Key A alone: members with an identity, recovery codes, and mail left queued (SMTP down).
    let first = deployment.start(("SECRET_KEYS", only_a), &smtp.url()).await;
    let app = &first.app;
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("import");
    let codes = generate_codes(app, "alice01").await;
    assert_eq!(wait_for(&smtp, 1).await[0].subject, "Recovery codes generated");
    smtp.stop().await;
    // A notice (no grant), and where grants outlive a restart a reset mail with a live code.
    let dave = app.access_token("dave", PASSWORD).await;
    let changed = app
        .change_password(dave.as_str(), change::with_current(PASSWORD, "Other-River-93"))
        .await;
    assert_eq!(changed.user_errors(), [], "[{name}] {changed}");
    let queued = 1 + usize::from(deployment.shares_tokens());
    if deployment.shares_tokens() {
        app.issue_reset(by::account("carol", "carol@example.com")).await;
        app.wait_until_resolved().await;
    }
    wait_for_sealed(app, queued).await;
    let sealed = app
        .sql_strings("SELECT seal_key_id FROM outbox WHERE sealed IS NOT NULL")
        .await;
    assert_eq!(
        sealed,
        vec!["a"; queued],
        "[{name}] the mail waits, sealed under a"
    );
    assert_eq!(key_ids(app, "SELECT ci_key_id FROM members").await, ["a"]);
    assert_eq!(key_ids(app, "SELECT key_id FROM recovery_codes").await, ["a"]);
    let (status, text) = deployment.keys_status(("SECRET_KEYS", only_a));
    assert_eq!(status["a"][..3], [3, 10, queued as u64], "[{name}] {text}");
    assert!(text.contains("current"), "{text}");
    first.stop().await;

    // Restarted with B first: the queued mail goes out and its code still works (grant and
    // index entry made under a), as do a's recovery codes.
    let smtp = SmtpServer::start_on(port).await;
    let second = deployment.start(("SECRET_KEYS", &a_then_b), &smtp.url()).await;
    let app = &second.app;
    let mail = wait_for(&smtp, queued).await;
    let to = |who: &str| mail.iter().find(|m| m.to.contains(&who.to_owned()));
    assert!(
        to("dave@example.com").is_some(),
        "[{name}] the notice sealed under a"
    );
    if deployment.shares_tokens() {
        let carol = to("carol@example.com").expect("the reset mail sealed under a");
        let code = &mailed_grants(carol)[0].code;
        let verified = app.verify_reset(code_by_login_id("carol", code)).await;
        assert!(verified.valid, "[{name}] a code mailed under a: {verified}");
    }
    let reset = app
        .reset_password(recovery_code("alice01", &codes[0]), "Green-Valley-58", None)
        .await;
    assert_eq!(reset.profile().recovery_codes_left, 9, "[{name}] {reset}");
    wait_for_sealed(app, 0).await;
    let (status, text) = deployment.keys_status(("SECRET_KEYS", &a_then_b));
    assert_eq!(status["a"][..3], [3, 9, 0], "[{name}] {text}");
    assert_eq!(status["b"][..3], [0, 0, 0], "[{name}] {text}");
    assert!(text.contains("older"), "{text}");

    // A verified identity check moves the member's hash to b: findId (alice01) and the identity
    // reset (dave); carol, never checked, stays under a.
    let found = app.find_id(None, find::identity("CI-ALICE", "CITIZEN")).await;
    assert_eq!(
        found.accounts.len(),
        1,
        "[{name}] an identity hashed under a: {found}"
    );
    app.direct_reset_token("dave", "CI-DAVE").await;
    let moved = app
        .sql_strings("SELECT login_id FROM members WHERE ci_key_id = 'b' ORDER BY login_id")
        .await;
    assert_eq!(moved, ["alice01", "dave"], "[{name}]");
    let again = app.find_id(None, find::identity("CI-ALICE", "CITIZEN")).await;
    assert_eq!(again.accounts.len(), 1, "[{name}] found under b now: {again}");

    // Every new write uses b: a new member, a new set of codes, new mail.
    let before = app.sql_strings("SELECT COUNT(*) FROM outbox").await;
    app.recovery
        .members
        .import(
            r#"{"loginId":"erin","email":"erin@example.com","password":"Blue-Harbor-47","ci":"CI-ERIN"}"#,
            chrono::Utc::now(),
        )
        .await
        .expect("import");
    let fresh = generate_codes(app, "carol").await;
    assert_eq!(
        app.sql_strings("SELECT ci_key_id FROM members WHERE login_id = 'erin'")
            .await,
        ["b"]
    );
    assert_eq!(
        key_ids(app, "SELECT r.key_id FROM recovery_codes r JOIN members m ON m.id = r.member_id WHERE m.login_id = 'carol'").await,
        ["b"]
    );
    let after: i64 = app.sql_strings("SELECT COUNT(*) FROM outbox").await[0]
        .parse()
        .unwrap();
    assert!(
        after > before[0].parse::<i64>().unwrap(),
        "[{name}] new mail was queued"
    );
    let newest = app
        .sql_strings("SELECT seal_key_id FROM outbox ORDER BY id DESC")
        .await;
    assert_eq!(newest[0], "b", "[{name}] {newest:?}");
    let verified = app.verify_reset(recovery_code("carol", &fresh[0])).await;
    assert!(verified.valid, "[{name}] a code saved under b: {verified}");
    wait_for_sealed(app, 0).await;
    let (status, text) = deployment.keys_status(("SECRET_KEYS", &a_then_b));
    assert_eq!(
        status["a"][..3],
        [1, 9, 0],
        "[{name}] carol's identity and alice's codes: {text}"
    );
    assert_eq!(status["b"][..3], [3, 9, 0], "[{name}] {text}");
    assert!(text.contains("can be removed from SECRET_KEYS: none"), "{text}");

    // Carol's identity check moves the last identity hash off a.
    let carol = app.find_id(None, find::identity("CI-CAROL", "CITIZEN")).await;
    assert_eq!(carol.accounts.len(), 1, "[{name}] {carol}");
    let (status, text) = deployment.keys_status(("SECRET_KEYS", &a_then_b));
    assert_eq!(status["a"][..3], [0, 9, 0], "[{name}] {text}");
    assert_eq!(status["b"][..3], [4, 9, 0], "[{name}] {text}");
    second.stop().await;

    // Without a, what was stored under it no longer opens: the status says so.
    let only_b = format!("b:{KEY_B}");
    let (_, text) = deployment.keys_status(("SECRET_KEYS", &only_b));
    assert!(text.contains("NOT IN THE RING"), "{text}");
}

/// Rewrites what the first instance stored as the code before the keyring wrote it: identity and
/// recovery-code hashes as the plain HMAC of the secret with no key id, queued mail sealed under
/// HMAC(secret, "outbox-seal") with no associated data and no key id.
async fn as_before_the_keyring(url: &str, secret: &str, codes: &[String]) {
    use sea_orm::{ConnectionTrait, Database};
    let db = Database::connect(url).await.expect("connect");
    let (old, now) = (
        KeyedHasher::pre_keyring(secret.as_bytes()),
        KeyedHasher::new(secret.as_bytes()),
    );
    let exec = |sql: String| {
        let db = &db;
        async move { db.execute_unprepared(&sql).await.expect(&sql) }
    };
    for (login, ci) in [
        ("alice01", "CI-ALICE"),
        ("carol", "CI-CAROL"),
        ("dave", "CI-DAVE"),
    ] {
        let ci = account_recovery::domain::keyed_hash::Ci::parse(ci).unwrap();
        exec(format!(
            "UPDATE members SET ci_hash = '{}', ci_key_id = NULL WHERE login_id = '{login}'",
            old.ci(&ci).0
        ))
        .await;
    }
    let login = IdentifierKey::login(
        &SiteId::parse("main").unwrap(),
        &LoginId::parse("alice01").unwrap(),
    );
    for code in codes {
        let code = RecoveryCode::parse(code).unwrap();
        exec(format!(
            "UPDATE recovery_codes SET code_hash = '{}', key_id = NULL WHERE code_hash = '{}'",
            code.hash(&old, &login).0,
            code.hash(&now, &login).0
        ))
        .await;
    }
    let sealer = Sealer::new(&Keyring::single(secret.as_bytes()));
    let seal_key = old.mac(
        account_recovery::domain::keyring::Purpose::OutboxSeal,
        "outbox-seal",
        &[],
    );
    let rows = crate::helpers::sql_rows(
        url,
        "SELECT id, sealed, dedup_key FROM outbox WHERE sealed IS NOT NULL",
    )
    .await;
    for row in rows {
        let mail = sealer.open(&row[1], Some("legacy"), Some(&row[2])).expect("open");
        let plain = serde_json::to_vec(&serde_json::json!({
            "to": mail.to, "subject": mail.subject, "text": mail.text, "html": mail.html,
        }))
        .unwrap();
        let nonce = [9u8; 24];
        let mut bytes = nonce.to_vec();
        bytes.extend(
            XChaCha20Poly1305::new(&seal_key.into())
                .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
                .unwrap(),
        );
        exec(format!(
            "UPDATE outbox SET sealed = '{}', seal_key_id = NULL WHERE id = {}",
            STANDARD.encode(bytes),
            row[0]
        ))
        .await;
    }
    db.close().await.ok();
}

#[backend_test]
async fn rows_from_before_the_keyring_keep_working_under_the_key_named_legacy(backend: Backend) {
    let name = backend.name();
    let deployment = Deployment::new(backend).await;
    let smtp = SmtpServer::start().await;
    let port = smtp.port();
    let first = deployment.start(("SECRET_KEY", KEY_A), &smtp.url()).await;
    let app = &first.app;
    app.recovery
        .members
        .import(MEMBERS, chrono::Utc::now())
        .await
        .expect("import");
    let codes = generate_codes(app, "alice01").await;
    wait_for(&smtp, 1).await;
    smtp.stop().await;
    let session = elevated_session(app, "dave").await;
    app.generate_recovery_codes(session.as_str()).await;
    wait_for_sealed(app, 1).await;
    first.stop().await;
    as_before_the_keyring(&deployment.url, KEY_A, &codes).await;

    // The upgrade as an operator does it with a rotation: the old secret named legacy.
    let rotated = format!("b:{KEY_B},legacy:{KEY_A}");
    let (status, text) = deployment.keys_status(("SECRET_KEYS", &rotated));
    assert_eq!(status["(pre-keyring)"][..3], [3, 10, 1], "[{name}] {text}");
    assert!(text.contains("opened by `legacy`"), "{text}");
    let smtp = SmtpServer::start_on(port).await;
    let second = deployment.start(("SECRET_KEYS", &rotated), &smtp.url()).await;
    let app = &second.app;
    let mail = wait_for(&smtp, 1).await;
    assert_eq!(
        mail[0].subject, "Recovery codes generated",
        "[{name}] the mail sealed before"
    );
    assert!(mail[0].to.contains(&"dave@example.com".to_owned()));
    let verified = app.verify_reset(recovery_code("alice01", &codes[1])).await;
    assert!(
        verified.valid,
        "[{name}] a recovery code hashed before the keyring: {verified}"
    );
    let found = app.find_id(None, find::identity("CI-ALICE", "CITIZEN")).await;
    assert_eq!(
        found.accounts.len(),
        1,
        "[{name}] an identity hashed before the keyring: {found}"
    );
    assert_eq!(
        app.sql_strings("SELECT ci_key_id FROM members WHERE login_id = 'alice01'")
            .await,
        ["b"]
    );
    wait_for_sealed(app, 0).await;
    let (status, text) = deployment.keys_status(("SECRET_KEYS", &rotated));
    assert_eq!(status["(pre-keyring)"][..3], [2, 9, 0], "[{name}] {text}");
    assert_eq!(status["b"][0], 1, "[{name}] {text}");
    second.stop().await;

    // Without the key named legacy, the pre-keyring rows no longer open, and the status says so.
    let (_, text) = deployment.keys_status(("SECRET_KEYS", &format!("b:{KEY_B}")));
    assert!(text.contains("NOT OPENED"), "{text}");
}
