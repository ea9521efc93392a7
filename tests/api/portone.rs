//! The `portoneIdentity` path against a fake PortOne that answers as PortOne V2's documented API
//! does (`GET /identity-verifications/{id}?storeId=…`, `Authorization: PortOne <secret>`, error
//! bodies `{"type": …, "message": …}`): a fresh VERIFIED check resets the password and finds the
//! IDs, every other answer is `IDENTITY_UNVERIFIED`, a slow or failing PortOne is
//! `SERVICE_UNAVAILABLE` with nothing spent, and each id works once, across instances too.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, TestApp, backend_test, fresh_database, redis_url, spawn_app_with, test_settings, unique_name,
    },
    operations::credential,
};

const SECRET: &str = "portone-test-secret";
const STORE: &str = "store-4d2f1c9e";

/// How the fake answers every read.
#[derive(Clone, Copy, PartialEq)]
enum Mood {
    Normal,
    /// Answers after this long (the service gives up first).
    Slow(Duration),
    /// 503 with a non-JSON body, as a proxy in front of an outage does.
    Down,
}

struct Fake {
    mood: Mood,
    /// Verifications of the store, by id.
    verifications: HashMap<String, Value>,
    /// Every read: (id, Authorization header, storeId).
    reads: Vec<(String, String, String)>,
}

#[derive(Clone)]
struct FakePortone {
    url: String,
    state: Arc<Mutex<Fake>>,
}

impl FakePortone {
    async fn start() -> FakePortone {
        let state = Arc::new(Mutex::new(Fake {
            mood: Mood::Normal,
            verifications: HashMap::new(),
            reads: Vec::new(),
        }));
        let app = Router::new()
            .route("/identity-verifications/{id}", get(read))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakePortone { url, state }
    }

    fn set_mood(&self, mood: Mood) {
        self.state.lock().unwrap().mood = mood;
    }

    /// A verification of the store with this status, `age` after it was verified.
    fn add(&self, status: &str, customer: Value, age: chrono::Duration) -> String {
        let id = format!("identity-verification-{}", unique_name());
        let verified_at = (chrono::Utc::now() - age).to_rfc3339();
        let mut body = json!({
            "status": status, "id": id,
            "channel": {"type": "TEST", "id": "channel-1", "key": "channel-key-1", "name": "danal", "pgProvider": "DANAL", "pgMerchantId": "A010002002"},
            "requestedAt": verified_at, "updatedAt": verified_at, "statusChangedAt": verified_at,
        });
        if status == "VERIFIED" {
            body["verifiedCustomer"] = customer;
            body["verifiedAt"] = verified_at.into();
            body["pgTxId"] = "tx-1".into();
            body["pgRawResponse"] = "{\"RETURNCODE\":\"0000\"}".into();
        } else {
            body["requestedCustomer"] = json!({"name": "Alice Kim"});
        }
        self.state.lock().unwrap().verifications.insert(id.clone(), body);
        id
    }

    fn verified(&self, ci: &str) -> String {
        self.add("VERIFIED", customer(ci, false), chrono::Duration::seconds(5))
    }

    fn reads(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().reads.clone()
    }
}

fn customer(ci: &str, foreigner: bool) -> Value {
    json!({
        "id": "customer-1", "name": "Alice Kim", "operator": "SKT", "phoneNumber": "01012345678",
        "birthDate": "1990-01-01", "gender": "FEMALE", "isForeigner": foreigner, "ci": ci, "di": "DI-1",
    })
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({"type": kind, "message": message}))).into_response()
}

async fn read(
    State(state): State<Arc<Mutex<Fake>>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let store = query.get("storeId").cloned().unwrap_or_default();
    let (mood, found) = {
        let mut fake = state.lock().unwrap();
        fake.reads
            .push((id.clone(), authorization.clone(), store.clone()));
        (fake.mood, fake.verifications.get(&id).cloned())
    };
    match mood {
        Mood::Slow(wait) => tokio::time::sleep(wait).await,
        Mood::Down => return (StatusCode::SERVICE_UNAVAILABLE, "upstream connect error").into_response(),
        Mood::Normal => {}
    }
    if authorization != format!("PortOne {SECRET}") {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "인증 정보가 올바르지 않습니다.",
        );
    }
    match found {
        // Another store's verification is not found from this store.
        Some(body) if store == STORE => Json(body).into_response(),
        _ => error(
            StatusCode::NOT_FOUND,
            "IDENTITY_VERIFICATION_NOT_FOUND",
            "요청된 본인인증 건이 존재하지 않습니다.",
        ),
    }
}

fn portone_vars<'a>(fake: &'a FakePortone, secret: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("PORTONE_API_URL", fake.url.as_str()),
        ("PORTONE_API_SECRET", secret),
        ("PORTONE_STORE_ID", STORE),
        ("PORTONE_TIMEOUT_MS", "500"),
    ]
}

async fn app_with_portone(backend: &Backend, fake: &FakePortone) -> TestApp {
    let settings = crate::helpers::backend_settings(backend, &portone_vars(fake, SECRET)).await;
    spawn_app_with(backend, settings).await.with_fixture().await
}

fn reset_by(login_id: &str, id: &str) -> Value {
    json!({"portoneIdentity": {"loginId": login_id, "identityVerificationId": id}})
}

fn find_by(id: &str) -> Value {
    json!({"portoneIdentity": {"identityVerificationId": id}})
}

#[backend_test]
async fn a_portone_verification_resets_the_password_and_finds_the_ids(backend: Backend) {
    let fake = FakePortone::start().await;
    let app = app_with_portone(&backend, &fake).await;

    let id = fake.verified("CI-ALICE");
    let found = app.find_id(None, find_by(&id)).await;
    assert_eq!(found.codes(), Vec::<String>::new(), "[{}] {found}", app.backend);
    let names: Vec<_> = found.accounts.iter().map(|a| a.name.clone()).collect();
    assert_eq!(
        names,
        [Some("Alice Kim".into()), Some("Alice Kim".into())],
        "{found}"
    );
    // The service read it itself, with its secret, for its store.
    assert_eq!(
        fake.reads(),
        [(id.clone(), format!("PortOne {SECRET}"), STORE.to_owned())]
    );
    let again = app.find_id(None, find_by(&id)).await;
    assert_eq!(
        again.codes(),
        ["IDENTITY_UNVERIFIED"],
        "each id works once: {again}"
    );

    let id = fake.verified("CI-ALICE");
    let issued = app.issue_reset(reset_by("alice01", &id)).await;
    assert_eq!(
        issued.channel.as_deref(),
        Some("DIRECT"),
        "[{}] {issued}",
        app.backend
    );
    let done = app
        .reset_password(credential::token(&issued.token), "Green-Valley-58", None)
        .await;
    assert_eq!(done.codes(), Vec::<String>::new(), "[{}] {done}", app.backend);
    assert_eq!(done.profile().login_id, "alice01");
    let replay = app.issue_reset(reset_by("alice01", &id)).await;
    assert_eq!(replay.codes(), ["IDENTITY_UNVERIFIED"], "{replay}");
    assert_eq!(
        replay.errors[0].field.as_deref(),
        Some(&["by".to_owned(), "portoneIdentity".to_owned()][..]),
        "the refusal names the branch"
    );
}

#[backend_test]
async fn every_other_portone_answer_is_unverified_and_a_wrong_account_a_mismatch(backend: Backend) {
    let fake = FakePortone::start().await;
    let app = app_with_portone(&backend, &fake).await;
    let refused = [
        (
            "ready",
            fake.add("READY", Value::Null, chrono::Duration::seconds(5)),
        ),
        (
            "failed",
            fake.add("FAILED", Value::Null, chrono::Duration::seconds(5)),
        ),
        (
            "stale",
            fake.add(
                "VERIFIED",
                customer("CI-ALICE", false),
                chrono::Duration::seconds(301),
            ),
        ),
        (
            "verified in the future",
            fake.add(
                "VERIFIED",
                customer("CI-ALICE", false),
                chrono::Duration::seconds(-60),
            ),
        ),
        (
            "no ci",
            fake.add(
                "VERIFIED",
                json!({"name": "Alice Kim", "birthDate": "1990-01-01"}),
                chrono::Duration::seconds(5),
            ),
        ),
        ("unknown", "identity-verification-never-made".to_owned()),
    ];
    for (what, id) in &refused {
        for login_id in ["alice01", "nobody"] {
            let answer = app.issue_reset(reset_by(login_id, id)).await;
            assert_eq!(
                answer.codes(),
                ["IDENTITY_UNVERIFIED"],
                "[{}] {what} {login_id}: {answer}",
                app.backend
            );
        }
        let found = app.find_id(None, find_by(id)).await;
        assert_eq!(
            found.codes(),
            ["IDENTITY_UNVERIFIED"],
            "[{}] {what}: {found}",
            app.backend
        );
    }
    let malformed = app.issue_reset(reset_by("alice01", "no spaces allowed")).await;
    assert_eq!(malformed.codes(), ["IDENTITY_UNVERIFIED"], "{malformed}");

    // A true check of someone else: the same mismatch whether or not the login ID exists.
    for (login_id, ci) in [
        ("nobody", "CI-ALICE"),
        ("alice01", "CI-BOB"),
        ("alice01", "CI-NOBODY"),
    ] {
        let answer = app.issue_reset(reset_by(login_id, &fake.verified(ci))).await;
        assert_eq!(
            answer.codes(),
            ["IDENTITY_MISMATCH"],
            "[{}] {login_id} {ci}: {answer}",
            app.backend
        );
    }
    // A foreigner's check does not find a citizen's accounts of the same ci.
    let foreign = fake.add(
        "VERIFIED",
        customer("CI-ALICE", true),
        chrono::Duration::seconds(5),
    );
    let none = app.find_id(None, find_by(&foreign)).await;
    assert_eq!((none.accounts.len(), none.codes().len()), (0, 0), "{none}");
}

/// A PortOne that is slow, down, or refuses the service's secret: `SERVICE_UNAVAILABLE`, and the
/// id still works once PortOne answers again.
#[backend_test]
async fn a_slow_or_failing_portone_is_unavailable_and_spends_nothing(backend: Backend) {
    let fake = FakePortone::start().await;
    let app = app_with_portone(&backend, &fake).await;
    let id = fake.verified("CI-ALICE");
    for mood in [Mood::Slow(Duration::from_secs(3)), Mood::Down] {
        fake.set_mood(mood);
        let answer = app.issue_reset(reset_by("alice01", &id)).await;
        assert_eq!(
            answer.top_code(),
            Some("SERVICE_UNAVAILABLE"),
            "[{}] {answer}",
            app.backend
        );
        assert!(
            !answer.to_string().contains(&id),
            "the id is not echoed: {answer}"
        );
    }
    fake.set_mood(Mood::Normal);
    let settings = crate::helpers::backend_settings(&backend, &portone_vars(&fake, "a-revoked-secret")).await;
    let wrong_secret = spawn_app_with(&backend, settings).await.with_fixture().await;
    let answer = wrong_secret.issue_reset(reset_by("alice01", &id)).await;
    assert_eq!(answer.top_code(), Some("SERVICE_UNAVAILABLE"), "{answer}");

    let issued = app.issue_reset(reset_by("alice01", &id)).await;
    assert_eq!(
        issued.channel.as_deref(),
        Some("DIRECT"),
        "nothing was spent: {issued}"
    );
}

#[backend_test(servers)]
async fn a_portone_id_works_once_across_instances(backend: Backend) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is unset: instances cannot share state; not exercised");
        return;
    };
    let fake = FakePortone::start().await;
    let url = fresh_database(&backend).await;
    let prefix = unique_name();
    let mut vars = portone_vars(&fake, SECRET);
    vars.extend([
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ]);
    let a = spawn_app_with(&backend, test_settings(&url, &vars))
        .await
        .with_fixture()
        .await;
    let b = spawn_app_with(&backend, test_settings(&url, &vars)).await;
    let id = fake.verified("CI-ALICE");
    let first = a.issue_reset(reset_by("alice01", &id)).await;
    assert_eq!(
        first.channel.as_deref(),
        Some("DIRECT"),
        "[{}] {first}",
        a.backend
    );
    let on_b = b.issue_reset(reset_by("alice01", &id)).await;
    assert_eq!(on_b.codes(), ["IDENTITY_UNVERIFIED"], "[{}] {on_b}", b.backend);
}

/// Without PORTONE_API_SECRET the path is off: every id is refused, and PortOne is never asked.
#[tokio::test]
async fn without_portone_settings_every_id_is_unverified() {
    let fake = FakePortone::start().await;
    let backend = Backend::Sqlite;
    let settings =
        crate::helpers::backend_settings(&backend, &[("PORTONE_API_URL", fake.url.as_str())]).await;
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    let id = fake.verified("CI-ALICE");
    let answer = app.issue_reset(reset_by("alice01", &id)).await;
    assert_eq!(answer.codes(), ["IDENTITY_UNVERIFIED"], "{answer}");
    assert!(fake.reads().is_empty());
}
