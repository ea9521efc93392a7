//! The shared token store: `REDIS_URL` (unset: grants, sessions and counters live in this
//! process), `REDIS_KEY_PREFIX`, `REDIS_TIMEOUT_MS` (deadline of every call), `REDIS_CA_FILE`
//! (PEM CA certificates trusted for `rediss://` instead of the system roots).
use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;

use super::vars::{SettingsError, Vars};

#[derive(Clone)]
pub struct RedisSettings {
    /// May carry a password: kept secret.
    pub url: Option<SecretString>,
    pub key_prefix: String,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

impl RedisSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(RedisSettings {
            url: vars.var("REDIS_URL").map(Into::into),
            key_prefix: vars.text("REDIS_KEY_PREFIX", "ar"),
            timeout: vars.millis("REDIS_TIMEOUT_MS", 1500)?,
            ca_file: vars.parsed_opt("REDIS_CA_FILE")?,
        })
    }
}
