//! `/metrics`: Prometheus text from the process-wide recorder (installed once, shared by every
//! app a process starts), every name under one `account_recovery_` prefix, latencies as
//! histograms; served on the main listener or, with METRICS_BIND, on a listener of its own.
use std::sync::OnceLock;

use std::net::SocketAddr;

use axum::{
    Router,
    extract::{ConnectInfo, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use metrics_util::layers::{Layer as _, Prefix, PrefixLayer};

use super::AppState;

/// Prepended (with `_`) to every family, so ours never clash with another exporter's.
pub const PREFIX: &str = "account_recovery";

/// Histogram buckets in seconds, from a cache hit to a slow SMTP relay: buckets add up across
/// instances, where a summary's quantiles cannot.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often buffered histogram samples are folded into their buckets without a scrape.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The recorder's handle; installs the recorder on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let (recorder, handle) = recorder();
            // Another recorder may exist (a host process); then ours only renders its own view.
            let _ = metrics::set_global_recorder(recorder);
            // Histogram samples wait in a buffer until a render or an upkeep folds them into the
            // buckets: without a scrape they would pile up with every timed call, so fold regularly.
            let upkept = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkept.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// A recorder as the service installs it (prefix, buckets), and the handle that renders it.
pub fn recorder() -> (Prefix<PrometheusRecorder>, PrometheusHandle) {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .expect("the bucket list is not empty")
        .build_recorder();
    let handle = recorder.handle();
    (PrefixLayer::new(PREFIX).layer(recorder), handle)
}

/// The router of the METRICS_BIND listener: `/metrics` and nothing else.
pub fn own_listener(state: AppState) -> Router {
    Router::new().route("/metrics", get(render)).with_state(state)
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
