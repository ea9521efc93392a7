//! The identity paths' proof: signed assertions (`verifiedIdentity`) through to a reset, each way
//! an assertion can be wrong answering `IDENTITY_UNVERIFIED` whatever the account, a valid proof
//! for the wrong account answering `IDENTITY_MISMATCH`, and raw `ci` values only when allowed.
use std::path::PathBuf;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, TestApp, backend_test, fresh_database, redis_url, scratch_dir, spawn_app_with,
        test_settings, unique_name,
    },
    operations::{by, credential},
};

const ISSUER: &str = "https://idv.example";

/// A signing key of the tests' own, with its public half as a JWK.
struct SigningKey {
    kid: String,
    alg: Algorithm,
    der: Vec<u8>,
    jwk: Value,
    /// The raw public key, for the HMAC-confusion attempt.
    public: Vec<u8>,
}

impl SigningKey {
    fn ed25519(kid: &str) -> SigningKey {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes()
            .to_vec();
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
        ];
        der.extend_from_slice(&seed);
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": URL_SAFE_NO_PAD.encode(&public)});
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            der,
            jwk,
            public,
        }
    }

    fn p256(kid: &str) -> SigningKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let public = pair.public_key_raw().to_vec();
        assert_eq!((public.len(), public[0]), (65, 4), "an uncompressed point");
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]), "y": URL_SAFE_NO_PAD.encode(&public[33..]),
        });
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            der: pair.serialize_der(),
            jwk,
            public,
        }
    }

    fn header(&self) -> Header {
        let mut header = Header::new(self.alg);
        header.typ = Some("idv+jwt".into());
        header.kid = Some(self.kid.clone());
        header
    }

    fn encoding_key(&self) -> EncodingKey {
        match self.alg {
            Algorithm::EdDSA => EncodingKey::from_ed_der(&self.der),
            _ => EncodingKey::from_ec_der(&self.der),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with(self.header(), claims)
    }

    fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).unwrap()
    }
}

/// Claims of a fresh assertion for `purpose` about `ci`, valid now.
fn claims(purpose: &str, ci: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": ISSUER, "aud": "account-recovery", "iat": now, "exp": now + 120,
        "jti": unique_name(), "purpose": purpose, "ci": ci, "join_type": "CITIZEN",
    })
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        match v {
            Value::Null => claims.as_object_mut().unwrap().remove(k),
            v => claims.as_object_mut().unwrap().insert(k.clone(), v.clone()),
        };
    }
    claims
}

/// A JWKS file of these keys in a scratch folder.
fn jwks_file(keys: &[&SigningKey]) -> PathBuf {
    let path = scratch_dir().join("jwks.json");
    let jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    std::fs::write(&path, jwks.to_string()).unwrap();
    path
}

/// The app trusting `keys` (issuer `ISSUER`), with the fixture's members.
async fn app_trusting(backend: &Backend, keys: &[&SigningKey], extra: &[(&str, &str)]) -> TestApp {
    let jwks = jwks_file(keys).display().to_string();
    let mut vars = vec![
        ("IDENTITY_ASSERTION_JWKS", jwks.as_str()),
        ("IDENTITY_ASSERTION_ISSUERS", ISSUER),
    ];
    vars.extend_from_slice(extra);
    let settings = crate::helpers::backend_settings(backend, &vars).await;
    spawn_app_with(backend, settings).await.with_fixture().await
}

fn verified_reset(login_id: &str, assertion: &str) -> Value {
    json!({"verifiedIdentity": {"loginId": login_id, "assertion": assertion}})
}

fn verified_find(assertion: &str) -> Value {
    json!({"verifiedIdentity": {"assertion": assertion}})
}

#[backend_test]
async fn a_signed_assertion_resets_the_password_and_finds_the_ids(backend: Backend) {
    let (ed, ec) = (SigningKey::ed25519("ed-1"), SigningKey::p256("ec-1"));
    let app = app_trusting(&backend, &[&ed, &ec], &[]).await;

    for key in [&ed, &ec] {
        let found = app
            .find_id(None, verified_find(&key.sign(&claims("find_id", "CI-ALICE"))))
            .await;
        assert_eq!(found.codes(), Vec::<String>::new(), "[{}] {found}", app.backend);
        let names: Vec<_> = found.accounts.iter().map(|a| a.name.clone()).collect();
        assert_eq!(
            names,
            [Some("Alice Kim".into()), Some("Alice Kim".into())],
            "{found}"
        );
        assert_eq!(found.accounts[0].masked_login_id, "al***01");
    }
    // The site claim, when present, must be the request's.
    let on_main = with(claims("find_id", "CI-ALICE"), json!({"site": "main"}));
    assert_eq!(
        app.find_id(None, verified_find(&ed.sign(&on_main)))
            .await
            .accounts
            .len(),
        2
    );

    let issued = app
        .issue_reset(verified_reset(
            "alice01",
            &ed.sign(&claims("reset_password", "CI-ALICE")),
        ))
        .await;
    assert_eq!(
        issued.channel.as_deref(),
        Some("DIRECT"),
        "[{}] {issued}",
        app.backend
    );
    assert_eq!(issued.member_type.as_deref(), Some("GENERAL"));
    let done = app
        .reset_password(credential::token(&issued.token), "Green-Valley-58", None)
        .await;
    assert_eq!(done.codes(), Vec::<String>::new(), "[{}] {done}", app.backend);
    assert_eq!(done.profile().login_id, "alice01");
}

#[backend_test]
async fn every_bad_assertion_is_unverified_whatever_the_account(backend: Backend) {
    let key = SigningKey::ed25519("ed-1");
    let app = app_trusting(&backend, &[&key], &[]).await;
    let stranger = SigningKey::ed25519("ed-1");
    let unknown = SigningKey::ed25519("ed-2");
    let good = || claims("reset_password", "CI-ALICE");
    let now = chrono::Utc::now().timestamp();

    let none = {
        let header = json!({"alg": "none", "typ": "idv+jwt", "kid": "ed-1"});
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&header), b64(&good()))
    };
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("idv+jwt".into());
        header.kid = Some("ed-1".into());
        let as_secret = |secret: &[u8]| {
            jsonwebtoken::encode(&header, &good(), &EncodingKey::from_secret(secret).unwrap()).unwrap()
        };
        [
            as_secret(&key.public),
            as_secret(key.jwk["x"].as_str().unwrap().as_bytes()),
            as_secret(key.jwk.to_string().as_bytes()),
        ]
    };
    let untyped = key.sign_with(
        Header {
            typ: Some("JWT".into()),
            ..key.header()
        },
        &good(),
    );
    let embedded_key = key.sign_with(
        Header {
            kid: Some("ed-2".into()),
            jwk: Some(serde_json::from_value(unknown.jwk.clone()).unwrap()),
            ..key.header()
        },
        &good(),
    );

    let cases: Vec<(&str, String)> = vec![
        ("forged signature", stranger.sign(&good())),
        ("alg none", none),
        ("HS256 with the public key", hs256[0].clone()),
        ("HS256 with the JWK's x", hs256[1].clone()),
        ("HS256 with the JWK", hs256[2].clone()),
        ("unknown kid", unknown.sign(&good())),
        ("a key in the header", embedded_key),
        ("typ not idv+jwt", untyped),
        (
            "wrong iss",
            key.sign(&with(good(), json!({"iss": "https://evil.example"}))),
        ),
        (
            "wrong aud",
            key.sign(&with(good(), json!({"aud": "another-service"}))),
        ),
        (
            "wrong purpose",
            key.sign(&with(good(), json!({"purpose": "find_id"}))),
        ),
        ("wrong site", key.sign(&with(good(), json!({"site": "other"})))),
        (
            "expired",
            key.sign(&with(good(), json!({"iat": now - 200, "exp": now - 60}))),
        ),
        (
            "lives over 300 s",
            key.sign(&with(good(), json!({"iat": now, "exp": now + 301}))),
        ),
        (
            "iat in the future",
            key.sign(&with(good(), json!({"iat": now + 120, "exp": now + 180}))),
        ),
        ("no jti", key.sign(&with(good(), json!({"jti": null})))),
        ("no ci", key.sign(&with(good(), json!({"ci": null})))),
        ("not a JWS", "not-a-jws".into()),
        ("tampered payload", {
            let token = key.sign(&good());
            let parts: Vec<&str> = token.split('.').collect();
            let other = URL_SAFE_NO_PAD.encode(with(good(), json!({"ci": "CI-BOB"})).to_string());
            format!("{}.{}.{}", parts[0], other, parts[2])
        }),
    ];
    for (case, assertion) in &cases {
        // The same answer for the owner, another member and no member at all.
        for login_id in ["alice01", "socialbob", "nobody"] {
            let answer = app.issue_reset(verified_reset(login_id, assertion)).await;
            assert_eq!(
                answer.codes(),
                ["IDENTITY_UNVERIFIED"],
                "[{}] {case} for {login_id}: {answer}",
                app.backend
            );
            assert!(answer.token.is_none() && !answer.accepted);
        }
    }
    // The same refusals on findId (with its own purpose).
    let find = || claims("find_id", "CI-ALICE");
    for (case, assertion) in [
        ("forged signature", stranger.sign(&find())),
        ("wrong purpose", key.sign(&good())),
        ("wrong site", key.sign(&with(find(), json!({"site": "other"})))),
        (
            "no join_type",
            key.sign(&with(find(), json!({"join_type": null}))),
        ),
        (
            "expired",
            key.sign(&with(find(), json!({"iat": now - 200, "exp": now - 60}))),
        ),
    ] {
        let answer = app.find_id(None, verified_find(&assertion)).await;
        assert_eq!(
            answer.codes(),
            ["IDENTITY_UNVERIFIED"],
            "[{}] findId {case}: {answer}",
            app.backend
        );
        assert!(answer.accounts.is_empty());
    }
    // Refusals are audited without the assertion or the ci.
    let rows = app
        .sql_strings("SELECT outcome FROM audit_events WHERE outcome = 'identity_unverified'")
        .await;
    assert!(
        rows.len() >= cases.len(),
        "[{}] {} audited",
        app.backend,
        rows.len()
    );
}

#[backend_test]
async fn an_assertion_works_once(backend: Backend) {
    let key = SigningKey::ed25519("ed-1");
    let app = app_trusting(&backend, &[&key], &[]).await;
    let assertion = key.sign(&claims("reset_password", "CI-ALICE"));
    let first = app.issue_reset(verified_reset("alice01", &assertion)).await;
    assert_eq!(
        first.channel.as_deref(),
        Some("DIRECT"),
        "[{}] {first}",
        app.backend
    );
    let again = app.issue_reset(verified_reset("alice01", &assertion)).await;
    assert_eq!(
        again.codes(),
        ["IDENTITY_UNVERIFIED"],
        "[{}] {again}",
        app.backend
    );

    let find = key.sign(&claims("find_id", "CI-ALICE"));
    assert_eq!(app.find_id(None, verified_find(&find)).await.accounts.len(), 2);
    assert_eq!(
        app.find_id(None, verified_find(&find)).await.codes(),
        ["IDENTITY_UNVERIFIED"]
    );

    // A refused assertion is not spent: a mismatch spends it (the proof was good).
    let refused_first = key.sign(&claims("reset_password", "CI-ALICE"));
    let mismatch = app.issue_reset(verified_reset("socialbob", &refused_first)).await;
    assert_eq!(mismatch.codes(), ["IDENTITY_MISMATCH"]);
    let replay = app.issue_reset(verified_reset("alice01", &refused_first)).await;
    assert_eq!(
        replay.codes(),
        ["IDENTITY_UNVERIFIED"],
        "[{}] {replay}",
        app.backend
    );
}

/// Two instances sharing Redis spend an assertion once between them.
#[backend_test(servers)]
async fn an_assertion_works_once_across_instances(backend: Backend) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is unset: instances cannot share state; not exercised");
        return;
    };
    let key = SigningKey::ed25519("ed-1");
    let jwks = jwks_file(&[&key]).display().to_string();
    let url = fresh_database(&backend).await;
    let prefix = unique_name();
    let vars = [
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("IDENTITY_ASSERTION_JWKS", jwks.as_str()),
        ("IDENTITY_ASSERTION_ISSUERS", ISSUER),
    ];
    let a = spawn_app_with(&backend, test_settings(&url, &vars))
        .await
        .with_fixture()
        .await;
    let b = spawn_app_with(&backend, test_settings(&url, &vars)).await;
    let assertion = key.sign(&claims("reset_password", "CI-ALICE"));
    let first = a.issue_reset(verified_reset("alice01", &assertion)).await;
    assert_eq!(
        first.channel.as_deref(),
        Some("DIRECT"),
        "[{}] {first}",
        a.backend
    );
    let on_b = b.issue_reset(verified_reset("alice01", &assertion)).await;
    assert_eq!(on_b.codes(), ["IDENTITY_UNVERIFIED"], "[{}] {on_b}", b.backend);
}

#[backend_test]
async fn a_valid_proof_for_the_wrong_account_is_a_mismatch(backend: Backend) {
    let key = SigningKey::ed25519("ed-1");
    let app = app_trusting(&backend, &[&key], &[]).await;
    for (login_id, ci) in [
        ("nobody", "CI-ALICE"),
        ("alice01", "CI-BOB"),
        ("alice01", "CI-NOBODY"),
    ] {
        let answer = app
            .issue_reset(verified_reset(login_id, &key.sign(&claims("reset_password", ci))))
            .await;
        assert_eq!(
            answer.codes(),
            ["IDENTITY_MISMATCH"],
            "[{}] {login_id} {ci}",
            app.backend
        );
    }
    // findId answers as the raw path does: no account, no error.
    let none = app
        .find_id(None, verified_find(&key.sign(&claims("find_id", "CI-NOBODY"))))
        .await;
    assert_eq!((none.accounts.len(), none.codes().len()), (0, 0), "{none}");
}

#[backend_test]
async fn raw_ci_is_refused_when_off_and_assertions_without_keys(backend: Backend) {
    let key = SigningKey::ed25519("ed-1");
    let app = app_trusting(&backend, &[&key], &[("IDENTITY_RAW_CI", "false")]).await;
    let raw = app.issue_reset(by::identity("alice01", "CI-ALICE")).await;
    assert_eq!(raw.codes(), ["IDENTITY_UNVERIFIED"], "[{}] {raw}", app.backend);
    let found = app
        .find_id(
            None,
            json!({"identity": {"ci": "CI-ALICE", "joinType": "CITIZEN"}}),
        )
        .await;
    assert_eq!(
        found.codes(),
        ["IDENTITY_UNVERIFIED"],
        "[{}] {found}",
        app.backend
    );
    assert!(found.accounts.is_empty());

    // Production without IDENTITY_ASSERTION_JWKS trusts no key at all (not the development one).
    let (production, _smtp) = crate::helpers::spawn_app_with_smtp(
        &backend,
        &[("PRODUCTION", "true"), ("METRICS_BIND", "127.0.0.1:0")],
    )
    .await;
    let production = production.with_fixture().await;
    let dev_signed = key.sign(&claims("reset_password", "CI-ALICE"));
    let answer = production
        .issue_reset(verified_reset("alice01", &dev_signed))
        .await;
    assert_eq!(
        answer.codes(),
        ["IDENTITY_UNVERIFIED"],
        "[{}] {answer}",
        production.backend
    );
    let raw = production.issue_reset(by::identity("alice01", "CI-ALICE")).await;
    assert_eq!(raw.codes(), ["IDENTITY_UNVERIFIED"]);
}

#[test]
fn a_bad_jwks_file_stops_the_start() {
    let path = scratch_dir().join("jwks.json");
    std::fs::write(&path, r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#).unwrap();
    let settings = test_settings(
        "sqlite::memory:",
        &[
            ("IDENTITY_ASSERTION_JWKS", path.to_str().unwrap()),
            ("IDENTITY_ASSERTION_ISSUERS", ISSUER),
        ],
    );
    let error = account_recovery::app::identity_trust(&settings.identity)
        .err()
        .unwrap();
    assert!(
        format!("{error:#}").contains("IDENTITY_ASSERTION_JWKS"),
        "{error:#}"
    );
}

/// The development signer and a development service agree on the key without any setup beyond a
/// shared key file; production refuses to sign and never trusts that key.
#[backend_test]
async fn the_development_signer_makes_assertions_a_development_service_accepts(backend: Backend) {
    let key_file = scratch_dir().join("dev.key");
    let key_path = key_file.display().to_string();
    let sign = |purpose: &str, production: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_account-recovery"));
        command
            .args(["identity-assertion", "--ci", "CI-ALICE", "--join-type", "CITIZEN"])
            .args(["--purpose", purpose])
            .env_clear()
            .env("IDENTITY_DEV_KEY_FILE", &key_path)
            .env("DATABASE_URL", "sqlite::memory:");
        if production {
            command
                .env("PRODUCTION", "true")
                .env("SECRET_KEY", "production-secret-key-0123456789abcdef0123");
        }
        command.output().unwrap()
    };
    let signed = sign("reset_password", false);
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let assertion = String::from_utf8(signed.stdout).unwrap().trim().to_owned();
    let found = sign("find_id", false);
    let find_assertion = String::from_utf8(found.stdout).unwrap().trim().to_owned();
    let refused = sign("find_id", true);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("development only"));

    let settings = crate::helpers::backend_settings(&backend, &[("IDENTITY_DEV_KEY_FILE", &key_path)]).await;
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    let issued = app.issue_reset(verified_reset("alice01", &assertion)).await;
    assert_eq!(
        issued.channel.as_deref(),
        Some("DIRECT"),
        "[{}] {issued}",
        app.backend
    );
    assert_eq!(
        app.find_id(None, verified_find(&find_assertion))
            .await
            .accounts
            .len(),
        2
    );

    // A JWKS replaces the development key entirely.
    let other = SigningKey::ed25519("ed-1");
    let with_jwks = app_trusting(&backend, &[&other], &[("IDENTITY_DEV_KEY_FILE", &key_path)]).await;
    let again = sign("reset_password", false);
    let dev_signed = String::from_utf8(again.stdout).unwrap().trim().to_owned();
    let answer = with_jwks
        .issue_reset(verified_reset("alice01", &dev_signed))
        .await;
    assert_eq!(
        answer.codes(),
        ["IDENTITY_UNVERIFIED"],
        "[{}] {answer}",
        with_jwks.backend
    );
}

/// The SPA's demo button: a development service signs an assertion over HTTP, as a host's back
/// end would, and accepts it; where the development key is not trusted there is no such route.
#[tokio::test]
async fn the_demo_signer_route_signs_for_development_only() {
    let backend = Backend::Sqlite;
    let key_path = scratch_dir().join("dev.key").display().to_string();
    let settings = crate::helpers::backend_settings(&backend, &[("IDENTITY_DEV_KEY_FILE", &key_path)]).await;
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    let sign = |app: &TestApp, body: Value| {
        app.client
            .post(format!("{}/dev/identity-assertion", app.address))
            .json(&body)
            .send()
    };
    let signed = sign(
        &app,
        json!({"ci": "CI-ALICE", "joinType": "CITIZEN", "purpose": "find_id"}),
    )
    .await
    .unwrap();
    assert_eq!(signed.status(), 200);
    assert_eq!(signed.headers()["cache-control"], "no-store");
    let assertion = signed.json::<Value>().await.unwrap()["assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.find_id(None, verified_find(&assertion)).await.accounts.len(),
        2
    );

    for wrong in [
        json!({"ci": "CI-ALICE", "purpose": "sign_in"}),
        json!({"ci": "CI-ALICE"}),
        json!({"ci": "CI-ALICE", "purpose": "find_id", "extra": 1}),
    ] {
        let refused = sign(&app, wrong.clone()).await.unwrap();
        assert_eq!(refused.status(), 400, "{wrong}");
        assert!(
            refused.json::<Value>().await.unwrap()["error"].is_string(),
            "{wrong}"
        );
    }

    let other = SigningKey::ed25519("ed-1");
    let with_jwks = app_trusting(&backend, &[&other], &[("IDENTITY_DEV_KEY_FILE", &key_path)]).await;
    let none = sign(&with_jwks, json!({"ci": "CI-ALICE", "purpose": "find_id"}))
        .await
        .unwrap();
    assert_eq!(none.status(), 404, "not beside a JWKS");
}
