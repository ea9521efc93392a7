//! The database: `DATABASE_URL` (SQLite file, PostgreSQL or MySQL/MariaDB URL),
//! `DB_MAX_CONNECTIONS` (pool size), `DB_TIMEOUT_MS` (deadline of every store call), and the
//! audit table's retention: `AUDIT_RETENTION_DAYS` (0: forever), `AUDIT_PRUNE_INTERVAL_SECS`.
use std::time::Duration;

use secrecy::SecretString;

use super::vars::{SettingsError, Vars};
use crate::recovery::audit_retention::RetentionSettings;

#[derive(Clone)]
pub struct DatabaseSettings {
    /// May carry a password: kept secret.
    pub url: SecretString,
    pub max_connections: u32,
    pub timeout: Duration,
    pub audit_retention: RetentionSettings,
}

impl DatabaseSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(DatabaseSettings {
            url: vars
                .text("DATABASE_URL", "sqlite://account-recovery.db?mode=rwc")
                .into(),
            max_connections: vars.parsed("DB_MAX_CONNECTIONS", 10)?,
            timeout: vars.millis("DB_TIMEOUT_MS", 1500)?,
            audit_retention: {
                let defaults = RetentionSettings::default();
                let days: u64 = vars.parsed("AUDIT_RETENTION_DAYS", 400)?;
                RetentionSettings {
                    keep: (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400))),
                    every: vars.secs("AUDIT_PRUNE_INTERVAL_SECS", defaults.every.as_secs())?,
                    ..defaults
                }
            },
        })
    }
}
