//! Sessions and sign-in: `SESSION_TTL_SECS`, `ELEVATION_SECS` (how long `reauthenticate`
//! elevates), `SIGNIN_MAX_FAILURES` (per login ID), `SIGNIN_CLIENT_MAX_FAILURES` (per client
//! address), `SIGNIN_FAILURE_WINDOW_SECS`, `DEVICE_TOKEN_TTL_SECS` (how long a device token
//! from `signIn` is trusted).
use crate::recovery::{password_check::ThrottleSettings, sessions::SessionSettings};

use super::vars::{SettingsError, Vars};

pub fn sessions_from_vars(vars: &Vars) -> Result<SessionSettings, SettingsError> {
    Ok(SessionSettings {
        ttl: vars.secs("SESSION_TTL_SECS", 28_800)?,
        elevation: vars.secs("ELEVATION_SECS", 600)?,
        // 180 days: a device the member signs in from now and then stays known.
        device_ttl: vars.secs("DEVICE_TOKEN_TTL_SECS", 180 * 86_400)?,
        throttle: ThrottleSettings {
            member_failures: vars.parsed("SIGNIN_MAX_FAILURES", 5)?,
            client_failures: vars.parsed("SIGNIN_CLIENT_MAX_FAILURES", 50)?,
            failure_window: vars.secs("SIGNIN_FAILURE_WINDOW_SECS", 900)?,
        },
    })
}
