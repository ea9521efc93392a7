//! Keys and limits: `SECRET_KEY` (at least 32 characters; keys every stored hash of a code,
//! identity or identifier, and seals outbox mail) and `RATE_LIMITS` (overrides such as
//! `signIn.client=30/600,findId.id=5/60`: count per window in seconds, 0 turns a limit off) and
//! `POW_DIFFICULTY` (zero bits of the proof of work past a target's limit, 0–32; 0 turns the
//! challenges off).
use secrecy::{ExposeSecret, SecretString};

use crate::recovery::rate_limits::{DEFAULT_POW_DIFFICULTY, RateLimitTable};

use super::vars::{SettingsError, Vars};

/// The development key used when SECRET_KEY is unset. `serve` warns loudly when it is in use.
pub const DEVELOPMENT_SECRET_KEY: &str = "insecure-development-key-change-me";

#[derive(Clone)]
pub struct SecuritySettings {
    pub secret_key: SecretString,
    pub rate_limits: RateLimitTable,
}

impl SecuritySettings {
    pub fn from_vars(vars: &Vars, production: bool) -> Result<Self, SettingsError> {
        let secret_key = vars.text("SECRET_KEY", DEVELOPMENT_SECRET_KEY);
        if secret_key.len() < 32 {
            return Err(SettingsError::new("SECRET_KEY", "must be at least 32 characters"));
        }
        if production && secret_key == DEVELOPMENT_SECRET_KEY {
            return Err(SettingsError::new(
                "SECRET_KEY",
                "must be set when PRODUCTION=true",
            ));
        }
        let mut rate_limits = RateLimitTable::default()
            .with_overrides(&vars.text("RATE_LIMITS", ""))
            .map_err(|e| SettingsError::new("RATE_LIMITS", e.to_string()))?;
        rate_limits.pow_difficulty = vars.parsed("POW_DIFFICULTY", DEFAULT_POW_DIFFICULTY)?;
        if rate_limits.pow_difficulty > 32 {
            // 2^32 hashes is hours on a phone: a lock by another name.
            return Err(SettingsError::new("POW_DIFFICULTY", "must be at most 32"));
        }
        Ok(SecuritySettings {
            secret_key: secret_key.into(),
            rate_limits,
        })
    }

    pub fn secret_key_bytes(&self) -> &[u8] {
        self.secret_key.expose_secret().as_bytes()
    }

    pub fn uses_development_key(&self) -> bool {
        self.secret_key.expose_secret() == DEVELOPMENT_SECRET_KEY
    }
}
