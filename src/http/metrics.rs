//! `/metrics`: Prometheus text from the process-wide recorder (installed once, shared by every
//! app a process starts), plus gauges read at scrape time.
use std::sync::OnceLock;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder's handle; installs the recorder on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist (a host process); then ours only renders its own view.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Only for the peers in METRICS_ALLOW (loopback by default): the counters move when mail goes
/// to a real account, so the public must not read them.
pub async fn render(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    let ip = peer.ip().to_canonical();
    if !state.metrics_allow.iter().any(|net| net.contains(&ip)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
