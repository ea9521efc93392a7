//! The database: `DATABASE_URL` (SQLite file, PostgreSQL or MySQL/MariaDB URL),
//! `DB_MAX_CONNECTIONS` (pool size), `DB_TIMEOUT_MS` (deadline of every store call).
use std::time::Duration;

use secrecy::SecretString;

use super::vars::{SettingsError, Vars};

#[derive(Clone)]
pub struct DatabaseSettings {
    /// May carry a password: kept secret.
    pub url: SecretString,
    pub max_connections: u32,
    pub timeout: Duration,
}

impl DatabaseSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(DatabaseSettings {
            url: vars
                .text("DATABASE_URL", "sqlite://account-recovery.db?mode=rwc")
                .into(),
            max_connections: vars.parsed("DB_MAX_CONNECTIONS", 10)?,
            timeout: vars.millis("DB_TIMEOUT_MS", 1500)?,
        })
    }
}
