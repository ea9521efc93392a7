//! The mail worker: `MAIL_CONCURRENCY` (messages sent at once, and SMTP connections kept),
//! `MAIL_POLL_MS`, `MAIL_LEASE_SECS`, `MAIL_MAX_ATTEMPTS`, `MAIL_SENT_RETENTION_SECS`,
//! `MAIL_FAILED_RETENTION_SECS`. Its deadlines are those of the stores and of SMTP.
use std::{num::NonZeroUsize, time::Duration};

use crate::{
    recovery::mail_delivery::DeliverySettings,
    runners::delivery_worker::{SETTLE_MARGIN, WorkerSettings},
};

use super::vars::{SettingsError, Vars};

/// The deadlines the worker's calls run under, set by their own concerns.
pub struct Deadlines {
    pub database: Duration,
    pub redis: Duration,
    pub smtp: Duration,
}

/// The mail channel of the delivery queue: how its worker runs and how a message is delivered.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub worker: WorkerSettings,
    pub delivery: DeliverySettings,
}

impl MailSettings {
    /// The longest one message's attempt takes: the check that its grants live, then SMTP.
    fn attempt(&self) -> Duration {
        self.delivery.check_timeout + self.delivery.send_timeout
    }
}

pub fn delivery_from_vars(vars: &Vars, deadlines: Deadlines) -> Result<MailSettings, SettingsError> {
    let mail = MailSettings {
        worker: WorkerSettings {
            concurrency: vars.parsed("MAIL_CONCURRENCY", NonZeroUsize::new(8).expect("8 is above 0"))?,
            lease: vars.secs("MAIL_LEASE_SECS", 120)?,
            poll_every: vars.millis("MAIL_POLL_MS", 1000)?,
            store_timeout: deadlines.database,
        },
        delivery: DeliverySettings {
            max_attempts: vars.parsed("MAIL_MAX_ATTEMPTS", 10)?,
            check_timeout: deadlines.redis,
            send_timeout: deadlines.smtp,
            sent_retention: vars.secs("MAIL_SENT_RETENTION_SECS", 86_400)?,
            failed_retention: vars.secs("MAIL_FAILED_RETENTION_SECS", 2_592_000)?,
        },
    };
    check_lease(&mail).map_err(|problem| SettingsError::new("MAIL_LEASE_SECS", problem))?;
    Ok(mail)
}

/// A lease shorter than a start-to-settle would let a second instance claim a message that is
/// still being sent.
fn check_lease(mail: &MailSettings) -> Result<(), String> {
    let needed = mail.worker.longest_start_to_settle(mail.attempt());
    if mail.worker.lease <= needed {
        return Err(format!(
            "MAIL_LEASE_SECS ({} s) must exceed SMTP_TIMEOUT_MS + REDIS_TIMEOUT_MS + 3 × DB_TIMEOUT_MS \
             + {} ms ({} ms): a message must be sent and settled within its lease",
            mail.worker.lease.as_secs(),
            SETTLE_MARGIN.as_millis(),
            needed.as_millis()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(lease_secs: u64) -> MailSettings {
        MailSettings {
            worker: WorkerSettings {
                concurrency: NonZeroUsize::new(8).unwrap(),
                lease: Duration::from_secs(lease_secs),
                poll_every: Duration::from_secs(1),
                store_timeout: Duration::from_millis(1500),
            },
            delivery: DeliverySettings {
                max_attempts: 10,
                check_timeout: Duration::from_millis(1500),
                send_timeout: Duration::from_secs(10),
                sent_retention: Duration::from_secs(86_400),
                failed_retention: Duration::from_secs(30 * 86_400),
            },
        }
    }

    #[test]
    fn a_lease_must_outlast_a_start_to_settle() {
        // 1.5 s + 10 s + 0.2 s + 3 × 1.5 s + 1 s = 17.2 s.
        assert_eq!(
            settings(120)
                .worker
                .longest_start_to_settle(settings(120).attempt()),
            Duration::from_millis(17_200)
        );
        assert!(check_lease(&settings(120)).is_ok());
        assert!(check_lease(&settings(18)).is_ok());
        let refused = check_lease(&settings(17)).unwrap_err();
        assert!(refused.contains("MAIL_LEASE_SECS"), "{refused}");
        assert!(refused.contains("+ 1200 ms (17200 ms)"), "{refused}");
    }
}
