//! `/healthz` (the process answers) and `/readyz` (the database and the token store answer).
use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let ports = &state.recovery.ports;
    let (database, tokens) = tokio::join!(ports.database.ping(), ports.tokens.ping());
    let verdict = |r: &Result<(), _>| if r.is_ok() { "ok" } else { "unreachable" };
    let body = json!({
        "status": if database.is_ok() && tokens.is_ok() { "ready" } else { "unavailable" },
        "database": verdict(&database),
        "tokenStore": verdict(&tokens),
    });
    for e in [database.err(), tokens.err()].into_iter().flatten() {
        tracing::warn!(error = %e, "readiness check failed");
    }
    let status = if body["status"] == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
