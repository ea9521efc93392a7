//! Passwords: the default policy (`PASSWORD_MIN_LENGTH`, `PASSWORD_MAX_LENGTH`,
//! `PASSWORD_FORBID_WHITESPACE`, `PASSWORD_MAX_SEQUENTIAL_RUN`, `PASSWORD_MAX_REPEATED_RUN`,
//! `PASSWORD_HISTORY_SIZE`, `PASSWORD_EXPIRES_AFTER_DAYS`; a site may set its own) and the
//! hashing cost (`ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`, `ARGON2_PARALLELISM`,
//! `HASH_CONCURRENCY`: hashes run at once, by default one per CPU).
use std::num::NonZeroUsize;

use crate::{domain::password_policy::PasswordPolicy, infra::hasher::Argon2Settings};

use super::vars::{SettingsError, Vars};

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub policy: PasswordPolicy,
    pub argon2: Argon2Settings,
    pub hash_concurrency: NonZeroUsize,
}

impl PasswordSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        let d = PasswordPolicy::default();
        let policy = PasswordPolicy {
            min_length: vars.parsed("PASSWORD_MIN_LENGTH", d.min_length)?,
            max_length: vars.parsed("PASSWORD_MAX_LENGTH", d.max_length)?,
            forbid_whitespace: vars.parsed("PASSWORD_FORBID_WHITESPACE", d.forbid_whitespace)?,
            max_sequential_run: vars.parsed("PASSWORD_MAX_SEQUENTIAL_RUN", d.max_sequential_run)?,
            max_repeated_run: vars.parsed("PASSWORD_MAX_REPEATED_RUN", d.max_repeated_run)?,
            history_size: vars.parsed("PASSWORD_HISTORY_SIZE", d.history_size)?,
            expires_after_days: vars.parsed("PASSWORD_EXPIRES_AFTER_DAYS", d.expires_after_days)?,
        };
        if policy.min_length == 0 || policy.min_length > policy.max_length {
            return Err(SettingsError::new(
                "PASSWORD_MIN_LENGTH",
                "must be at least 1 and not above PASSWORD_MAX_LENGTH",
            ));
        }
        let a = Argon2Settings::default();
        let cpus = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        Ok(PasswordSettings {
            policy,
            argon2: Argon2Settings {
                memory_kib: vars.parsed("ARGON2_MEMORY_KIB", a.memory_kib)?,
                iterations: vars.parsed("ARGON2_ITERATIONS", a.iterations)?,
                parallelism: vars.parsed("ARGON2_PARALLELISM", a.parallelism)?,
            },
            hash_concurrency: vars.parsed("HASH_CONCURRENCY", cpus)?,
        })
    }
}
