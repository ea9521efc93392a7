//! TLS on every backend link, with a CA this test makes: `rediss://` against a TLS redis-server,
//! SMTP with STARTTLS and with implicit TLS, PostgreSQL with `sslmode=require`. A certificate the
//! system roots do not vouch for, or one another CA signed, is refused unless REDIS_CA_FILE /
//! SMTP_CA_FILE names its CA.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use account_recovery::{
    infra::{mailer::SmtpMailer, mailer::parse_from, redis::RedisStore},
    recovery::ports::{MailError, Mailer, OutgoingMail, TokenStore},
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
use tokio_rustls::rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

use crate::{
    helpers::{Backend, fresh_database, scratch_dir, spawn_app_with, test_settings, unique_name},
    smtp_server::{SmtpServer, SmtpTls},
    token_store_contract::run_contract,
};

/// A CA of the test's own and a server certificate it signed for `127.0.0.1` and `localhost`, all
/// written as PEM files.
struct TestCa {
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let cert = params.signed_by(&key, &ca).unwrap();
        let dir = scratch_dir();
        let write = |file: &str, text: String| {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            path
        };
        TestCa {
            ca_file: write("ca.pem", ca.pem()),
            cert_file: write("cert.pem", cert.pem()),
            key_file: write("key.pem", key.serialize_pem()),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca_file).unwrap()
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        Arc::new(
            ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(vec![self.cert_der.clone()], key)
                .unwrap(),
        )
    }
}

/// The local redis-server to start a TLS instance of, when TEST_REDIS_SERVER names one (CI sets it).
fn redis_server() -> Option<String> {
    let bin = std::env::var("TEST_REDIS_SERVER").ok().filter(|b| !b.is_empty());
    if bin.is_none() {
        eprintln!("TEST_REDIS_SERVER is unset: rediss:// is not exercised");
    }
    bin
}

/// A redis-server speaking only TLS (`--port 0`) on 127.0.0.1:17020, stopped by pid when dropped.
struct TlsRedis {
    child: Child,
    url: String,
}

impl TlsRedis {
    async fn start(bin: &str, ca: &TestCa) -> TlsRedis {
        let port = 17020;
        let child = Command::new(bin)
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
            ])
            .arg("--tls-cert-file")
            .arg(&ca.cert_file)
            .arg("--tls-key-file")
            .arg(&ca.key_file)
            .arg("--tls-ca-cert-file")
            .arg(&ca.ca_file)
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = TlsRedis {
            child,
            url: format!("rediss://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the TLS redis-server did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connecting, or the first command, fails: the server's certificate was refused.
async fn refused(url: &str, ca: Option<&[u8]>) -> bool {
    match RedisStore::connect_trusting(url, &unique_name(), Duration::from_secs(2), ca).await {
        Err(_) => true,
        Ok(store) => store.ping().await.is_err(),
    }
}

#[tokio::test]
async fn rediss_trusts_the_ca_setting_and_refuses_other_certificates() {
    let Some(bin) = redis_server() else { return };
    let ca = TestCa::new("redis");
    let server = TlsRedis::start(&bin, &ca).await;

    let store = RedisStore::connect_trusting(
        &server.url,
        &unique_name(),
        Duration::from_secs(2),
        Some(&ca.ca_pem()),
    )
    .await
    .expect("rediss:// with the CA that signed the server's certificate");
    run_contract(&store).await;

    assert!(
        refused(&server.url, None).await,
        "the system roots do not vouch for the test CA"
    );
    let other = TestCa::new("other");
    assert!(
        refused(&server.url, Some(&other.ca_pem())).await,
        "another CA's trust is no trust"
    );

    // The service itself, configured through REDIS_URL and REDIS_CA_FILE.
    let backend = Backend::Sqlite;
    let db = fresh_database(&backend).await;
    let ca_file = ca.ca_file.display().to_string();
    let settings = test_settings(
        &db,
        &[
            ("REDIS_URL", server.url.as_str()),
            ("REDIS_CA_FILE", ca_file.as_str()),
            ("REDIS_KEY_PREFIX", &unique_name()),
        ],
    );
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    let issued = app
        .graphql(
            "mutation { issueResetToken(by: {identity: {loginId: \"alice01\", ci: \"CI-ALICE\"}}) { token } }",
            json!({}),
        )
        .await;
    assert!(issued["data"]["issueResetToken"]["token"].is_string(), "{issued}");
}

fn test_mail() -> OutgoingMail {
    OutgoingMail {
        to: "alice@example.com".into(),
        subject: "TLS check".into(),
        text: "over TLS".into(),
        html: "<p>over TLS</p>".into(),
    }
}

async fn send(url: &str, ca: Option<&[u8]>) -> Result<(), MailError> {
    let from = parse_from("Account Recovery <no-reply@localhost>").unwrap();
    let mailer = SmtpMailer::new(url, from, Duration::from_secs(5), ca, 1).unwrap();
    mailer.send(&test_mail()).await
}

#[tokio::test]
async fn smtp_starttls_and_implicit_tls_trust_the_ca_setting_and_refuse_other_certificates() {
    let ca = TestCa::new("smtp");
    let other = TestCa::new("other");
    for implicit in [false, true] {
        let smtp = SmtpServer::start_tls(SmtpTls {
            implicit,
            config: ca.server_config(),
        })
        .await;
        let url = if implicit {
            format!("smtps://127.0.0.1:{}", smtp.port())
        } else {
            format!("smtp://127.0.0.1:{}?tls=required", smtp.port())
        };
        send(&url, Some(&ca.ca_pem()))
            .await
            .unwrap_or_else(|e| panic!("{url} with the right CA: {e:?}"));
        let got = smtp.wait_for_messages(1, Duration::from_secs(5)).await;
        assert!(got[0].tls, "{url}: the message came over TLS");
        assert_eq!(got[0].subject, "TLS check");

        assert!(
            send(&url, None).await.is_err(),
            "{url}: the system roots do not vouch for it"
        );
        assert!(
            send(&url, Some(&other.ca_pem())).await.is_err(),
            "{url}: another CA's trust is no trust"
        );
        assert_eq!(smtp.messages().len(), 1, "{url}: nothing more got through");
    }
}

/// The service's own mail goes over STARTTLS when SMTP_URL asks for it and SMTP_CA_FILE names the CA.
#[tokio::test]
async fn the_service_mails_over_starttls_with_the_ca_file() {
    let ca = TestCa::new("smtp");
    let smtp = SmtpServer::start_tls(SmtpTls {
        implicit: false,
        config: ca.server_config(),
    })
    .await;
    let url = format!("smtp://127.0.0.1:{}?tls=required", smtp.port());
    let ca_file = ca.ca_file.display().to_string();
    let backend = Backend::Sqlite;
    let db = fresh_database(&backend).await;
    let settings = test_settings(
        &db,
        &[("SMTP_URL", url.as_str()), ("SMTP_CA_FILE", ca_file.as_str())],
    );
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    app.graphql(
        "mutation { issueResetToken(by: {email: \"alice@example.com\"}) { accepted } }",
        json!({}),
    )
    .await;
    let got = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    assert!(got[0].tls, "the reset mail came over TLS");
    assert!(
        got[0].text.contains("https://app.example/reset#token="),
        "a reset mail"
    );
}

/// PostgreSQL with `sslmode=require`: the service runs on it and the session is encrypted.
#[tokio::test]
async fn postgres_with_sslmode_require_is_encrypted() {
    let Some(backend) = Backend::from_env("postgres") else {
        return;
    };
    let url = format!("{}?sslmode=require", fresh_database(&backend).await);
    let db = Database::connect(&url)
        .await
        .expect("connect with sslmode=require");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .expect("a row");
    assert!(
        row.try_get::<bool>("", "ssl").unwrap(),
        "the session is encrypted"
    );

    let app = spawn_app_with(&backend, test_settings(&url, &[]))
        .await
        .with_fixture()
        .await;
    let body = app
        .graphql("{ checkLoginId(loginId: \"alice01\") { exists } }", json!({}))
        .await;
    assert_eq!(body["data"]["checkLoginId"]["exists"], true, "{body}");
}
