//! Structured logging (tracing): human-readable by default, JSON when LOG_JSON=true.
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().with_current_span(true))
            .try_init()
    } else {
        registry.with(fmt::layer().with_target(false)).try_init()
    };
    // Already initialised (tests start several apps): keep the first subscriber.
    let _ = result;
}
