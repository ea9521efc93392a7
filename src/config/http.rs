//! The HTTP listener: `BIND`, `CORS_ORIGINS` (the SPA origins), `TRUSTED_PROXIES` (peers whose
//! `X-Forwarded-For` is believed), `REQUEST_TIMEOUT_MS`, `HEADER_READ_TIMEOUT_MS`,
//! `MAX_CONNECTIONS`, `WEB_DIR` (the built SPA), `METRICS_BIND` (a listener of its own for
//! `/metrics`) and `METRICS_ALLOW` (peers that may read it: its counters tell who has an account).
use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, time::Duration};

use ipnet::IpNet;

use crate::http::connections::ConnectionLimits;

use super::vars::{SettingsError, Vars};

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub bind: SocketAddr,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub request_timeout: Duration,
    pub connections: ConnectionLimits,
    /// Without an `index.html` there, the service serves its embedded reset page.
    pub web_dir: PathBuf,
    /// With it, `/metrics` leaves the main listener: the production setup.
    pub metrics_bind: Option<SocketAddr>,
    pub metrics_allow: Vec<IpNet>,
    /// Sends `Strict-Transport-Security`: set when `PUBLIC_RESET_URL` is https.
    pub strict_transport_security: bool,
}

impl HttpSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(HttpSettings {
            bind: vars.parsed("BIND", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            cors_origins: vars.list("CORS_ORIGINS"),
            trusted_proxies: vars.networks("TRUSTED_PROXIES", &[])?,
            request_timeout: vars.millis("REQUEST_TIMEOUT_MS", 10_000)?,
            connections: ConnectionLimits {
                header_read_timeout: vars.millis_above_zero("HEADER_READ_TIMEOUT_MS", 10_000)?,
                max_connections: vars.parsed("MAX_CONNECTIONS", NonZeroUsize::new(1024).expect("above 0"))?,
            },
            web_dir: vars.parsed("WEB_DIR", PathBuf::from("web/dist"))?,
            metrics_bind: vars.parsed_opt("METRICS_BIND")?,
            metrics_allow: vars.networks("METRICS_ALLOW", &["127.0.0.0/8", "::1"])?,
            strict_transport_security: false,
        })
    }
}
