//! The mail worker: `MAIL_CONCURRENCY` (messages sent at once, and SMTP connections kept),
//! `MAIL_POLL_MS`, `MAIL_LEASE_SECS`, `MAIL_MAX_ATTEMPTS`, `MAIL_SENT_RETENTION_SECS`,
//! `MAIL_FAILED_RETENTION_SECS`. Its deadlines are those of the stores and of SMTP.
use std::{num::NonZeroUsize, time::Duration};

use crate::recovery::mail_delivery::DeliverySettings;

use super::vars::{SettingsError, Vars};

/// The deadlines the worker's calls run under, set by their own concerns.
pub struct Deadlines {
    pub database: Duration,
    pub redis: Duration,
    pub smtp: Duration,
}

pub fn delivery_from_vars(vars: &Vars, deadlines: Deadlines) -> Result<DeliverySettings, SettingsError> {
    let delivery = DeliverySettings {
        concurrency: vars.parsed("MAIL_CONCURRENCY", NonZeroUsize::new(8).expect("8 is above 0"))?,
        lease: vars.secs("MAIL_LEASE_SECS", 120)?,
        poll_every: vars.millis("MAIL_POLL_MS", 1000)?,
        max_attempts: vars.parsed("MAIL_MAX_ATTEMPTS", 10)?,
        check_timeout: deadlines.redis,
        send_timeout: deadlines.smtp,
        store_timeout: deadlines.database,
        sent_retention: vars.secs("MAIL_SENT_RETENTION_SECS", 86_400)?,
        failed_retention: vars.secs("MAIL_FAILED_RETENTION_SECS", 2_592_000)?,
    };
    delivery
        .check()
        .map_err(|problem| SettingsError::new("MAIL_LEASE_SECS", problem))?;
    Ok(delivery)
}
