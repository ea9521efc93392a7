//! `passwordPolicy`: the rules an SPA validates against as the user types.
use serde_json::json;

use crate::helpers::{Backend, backend_test, fresh_database, spawn_app, spawn_app_with, test_settings};

#[backend_test]
async fn defaults_match_the_spec(backend: Backend) {
    let app = spawn_app(&backend).await.with_fixture().await;
    for site in [None, Some("other"), Some("unknown")] {
        let answer = app.password_policy(site).await;
        assert_eq!(
            answer.body["data"]["passwordPolicy"],
            json!({"minLength": 8, "maxLength": 30, "forbidWhitespace": true, "maxSequentialRun": 2,
                   "maxRepeatedRun": 2, "historySize": 3, "expiresAfterDays": 90}),
            "[{}] {site:?}",
            app.backend
        );
    }
}

#[tokio::test]
async fn configured_policy_is_reported() {
    let backend = &Backend::Sqlite;
    let url = fresh_database(backend).await;
    let settings = test_settings(
        &url,
        &[("PASSWORD_MIN_LENGTH", "12"), ("PASSWORD_HISTORY_SIZE", "5")],
    );
    let app = spawn_app_with(backend, settings).await;
    let policy = app.password_policy(None).await;
    assert_eq!(policy.min_length, 12);
    assert_eq!(policy.history_size, 5);
}

#[tokio::test]
async fn a_malformed_site_is_a_typed_top_level_error() {
    let app = spawn_app(&Backend::Sqlite).await;
    let refused = app.password_policy(Some("no spaces allowed")).await;
    assert!(refused.body["data"].is_null(), "{refused}");
    assert_eq!(refused.top_code(), Some("INVALID_INPUT"));
}
