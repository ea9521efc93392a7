//! The deployment as a whole: `PRODUCTION` (refuses what only development may do),
//! `DEMO` (demo members on an empty database; never in production), `DEFAULT_SITE` (the site of
//! requests that name none), `RUST_LOG` and `LOG_JSON` (JSON lines, the default in production).
use crate::domain::site::SiteId;

use super::vars::{SettingsError, Vars};

#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub production: bool,
    pub demo: bool,
    pub default_site: SiteId,
    pub log_filter: String,
    pub log_json: bool,
}

impl ServiceSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        let production = vars.parsed("PRODUCTION", false)?;
        let default_site = SiteId::parse(&vars.text("DEFAULT_SITE", "main"))
            .map_err(|e| SettingsError::new("DEFAULT_SITE", e.to_string()))?;
        Ok(ServiceSettings {
            production,
            // Demo members have published passwords: a production start never adds them.
            demo: vars.parsed("DEMO", true)? && !production,
            default_site,
            log_filter: vars.text("RUST_LOG", "info"),
            log_json: vars.parsed("LOG_JSON", production)?,
        })
    }
}
