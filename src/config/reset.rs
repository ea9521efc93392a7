//! The reset grants: `PUBLIC_RESET_URL` (base of mailed links, never the request's Host),
//! `EMAIL_GRANT_TTL_SECS`, `DIRECT_TOKEN_TTL_SECS`, `RESET_COOLDOWN_SECS`, `EMAIL_REPLY_FLOOR_MS`,
//! `CODE_MAX_ATTEMPTS`, `CODE_FAILURE_WINDOW_SECS`, `RESET_ELEVATION_WINDOW_SECS`,
//! `REPORT_TOKEN_TTL_SECS`.
use crate::{domain::grant::AttemptLimits, recovery::password_reset::ResetSettings};

use super::vars::{SettingsError, Vars};

pub fn reset_from_vars(vars: &Vars) -> Result<ResetSettings, SettingsError> {
    Ok(ResetSettings {
        public_reset_url: vars.parsed(
            "PUBLIC_RESET_URL",
            url::Url::parse("http://127.0.0.1:8080/reset-password").expect("a URL"),
        )?,
        email_ttl: vars.secs("EMAIL_GRANT_TTL_SECS", 900)?,
        direct_ttl: vars.secs("DIRECT_TOKEN_TTL_SECS", 300)?,
        cooldown: vars.secs("RESET_COOLDOWN_SECS", 60)?,
        reply_floor: vars.millis("EMAIL_REPLY_FLOOR_MS", 0)?,
        limits: AttemptLimits {
            per_identifier: vars.parsed("CODE_MAX_ATTEMPTS", 5)?,
            window: vars.secs("CODE_FAILURE_WINDOW_SECS", 3600)?,
        },
        reset_elevation_window: vars.secs("RESET_ELEVATION_WINDOW_SECS", 3600)?,
        report_ttl: vars.secs("REPORT_TOKEN_TTL_SECS", 604_800)?,
    })
}
