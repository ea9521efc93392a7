//! The reset resolver (it turns handed-off e-mail reset requests into grants and mail):
//! `RESET_RESOLVER` (whether this instance runs one), `RESET_RESOLVER_LOOPS`,
//! `RESET_RESOLVER_LEASE_SECS`, `RESET_RESOLVER_POLL_MS`, `RESET_RESOLVER_BATCH`,
//! `RESET_RESOLVER_LINGER_MS`.
use std::num::NonZeroUsize;

use crate::runners::reset_resolver::ResolverSettings;

use super::vars::{SettingsError, Vars};

#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Whether this instance resolves (`false` leaves it to the others).
    pub enabled: bool,
    pub settings: ResolverSettings,
}

pub fn resolver_from_vars(vars: &Vars) -> Result<ResolverConfig, SettingsError> {
    let settings = ResolverSettings {
        lease: vars.secs("RESET_RESOLVER_LEASE_SECS", 30)?,
        poll_every: vars.millis("RESET_RESOLVER_POLL_MS", 250)?,
        batch: vars.parsed(
            "RESET_RESOLVER_BATCH",
            NonZeroUsize::new(256).expect("256 is above 0"),
        )?,
        linger: vars.millis("RESET_RESOLVER_LINGER_MS", 50)?,
        // Two: one loop claims and resolves while the other's transaction commits.
        loops: vars.parsed(
            "RESET_RESOLVER_LOOPS",
            NonZeroUsize::new(2).expect("2 is above 0"),
        )?,
    };
    Ok(ResolverConfig {
        enabled: vars.parsed("RESET_RESOLVER", true)?,
        settings,
    })
}
