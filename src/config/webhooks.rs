//! Webhooks (Standard Webhooks) to the host: `WEBHOOK_URL` with `WEBHOOK_SECRET` (`whsec_…`, several
//! space-separated: all sign, for rotation) and `WEBHOOK_EVENTS` (names, default all) configure one
//! endpoint; `account-recovery webhook add` keeps more. `WEBHOOK_ALLOW_PRIVATE` lets events go to
//! loopback, private and link-local addresses. The worker: `WEBHOOK_CONCURRENCY`, `WEBHOOK_POLL_MS`,
//! `WEBHOOK_LEASE_SECS`, `WEBHOOK_TIMEOUT_MS` (one POST), `WEBHOOK_RETRY_SCHEDULE` (the waits between
//! attempts), `WEBHOOK_SENT_RETENTION_SECS`, `WEBHOOK_FAILED_RETENTION_SECS`.
use std::{num::NonZeroUsize, time::Duration};

use crate::{
    domain::webhook::{EventType, WebhookSecret, check_target},
    recovery::{
        delivery::Retention,
        ports::NewEndpoint,
        webhook_delivery::{DEFAULT_SCHEDULE, WebhookDeliverySettings},
    },
    runners::delivery_worker::{SETTLE_MARGIN, WorkerSettings},
};

use super::vars::{SettingsError, Vars};

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The endpoint `WEBHOOK_URL` configures.
    pub endpoint: Option<NewEndpoint>,
    pub allow_private: bool,
    pub worker: WorkerSettings,
    pub delivery: WebhookDeliverySettings,
}

/// `5s`, `5m`, `2h`, `1d` or plain seconds.
fn duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => raw.split_at(at),
        None => (raw, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn schedule(vars: &Vars) -> Result<Vec<Duration>, SettingsError> {
    const NAME: &str = "WEBHOOK_RETRY_SCHEDULE";
    let Some(raw) = vars.var(NAME) else {
        return Ok(DEFAULT_SCHEDULE.to_vec());
    };
    let steps: Option<Vec<Duration>> = raw
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(duration)
        .collect();
    match steps {
        Some(steps) if !steps.is_empty() => Ok(steps),
        _ => Err(SettingsError::new(
            NAME,
            "a list of waits such as 5s,5m,30m,2h,5h,10h,10h",
        )),
    }
}

fn endpoint(vars: &Vars, allow_private: bool) -> Result<Option<NewEndpoint>, SettingsError> {
    let Some(raw) = vars.var("WEBHOOK_URL") else {
        for name in ["WEBHOOK_SECRET", "WEBHOOK_EVENTS"] {
            if vars.var(name).is_some() {
                return Err(SettingsError::new(name, "is set but WEBHOOK_URL is not"));
            }
        }
        return Ok(None);
    };
    let url =
        url::Url::parse(&raw).map_err(|e| SettingsError::new("WEBHOOK_URL", format!("not a URL ({e})")))?;
    check_target(&url, allow_private).map_err(|e| SettingsError::new("WEBHOOK_URL", e.to_string()))?;
    // Never the value itself in an error: it is a secret.
    let secrets = vars
        .var("WEBHOOK_SECRET")
        .ok_or_else(|| SettingsError::new("WEBHOOK_SECRET", "is required with WEBHOOK_URL"))?
        .split_whitespace()
        .map(WebhookSecret::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SettingsError::new("WEBHOOK_SECRET", e.to_string()))?;
    let events = vars
        .var("WEBHOOK_EVENTS")
        .map(|raw| EventType::parse_list(&raw))
        .transpose()
        .map_err(|e| SettingsError::new("WEBHOOK_EVENTS", e))?;
    Ok(Some(NewEndpoint { url, secrets, events }))
}

impl WebhookSettings {
    pub fn from_vars(vars: &Vars, store_timeout: Duration) -> Result<Self, SettingsError> {
        let allow_private = vars.parsed("WEBHOOK_ALLOW_PRIVATE", false)?;
        let settings = WebhookSettings {
            endpoint: endpoint(vars, allow_private)?,
            allow_private,
            worker: WorkerSettings {
                concurrency: vars.parsed(
                    "WEBHOOK_CONCURRENCY",
                    NonZeroUsize::new(16).expect("16 is above 0"),
                )?,
                lease: vars.secs("WEBHOOK_LEASE_SECS", 120)?,
                poll_every: vars.millis("WEBHOOK_POLL_MS", 1000)?,
                store_timeout,
            },
            delivery: WebhookDeliverySettings {
                schedule: schedule(vars)?,
                timeout: vars.millis_above_zero("WEBHOOK_TIMEOUT_MS", 15_000)?,
                retention: Retention {
                    sent: vars.secs("WEBHOOK_SENT_RETENTION_SECS", 86_400)?,
                    failed: vars.secs("WEBHOOK_FAILED_RETENTION_SECS", 2_592_000)?,
                },
            },
        };
        // An attempt is the POST and, after a 410, disabling the endpoint.
        let needed = settings
            .worker
            .longest_start_to_settle(2 * settings.delivery.timeout);
        if settings.worker.lease <= needed {
            return Err(SettingsError::new(
                "WEBHOOK_LEASE_SECS",
                format!(
                    "must exceed 2 × WEBHOOK_TIMEOUT_MS + 3 × DB_TIMEOUT_MS + {} ms ({} ms): an event must \
                     be posted and settled within its lease",
                    SETTLE_MARGIN.as_millis(),
                    needed.as_millis()
                ),
            ));
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn read(pairs: &[(&str, &str)]) -> Result<WebhookSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |k: &str| map.get(k).cloned();
        WebhookSettings::from_vars(&Vars::new(&get), Duration::from_millis(1500))
    }

    fn problem(pairs: &[(&str, &str)]) -> String {
        read(pairs).unwrap_err().to_string()
    }

    #[test]
    fn off_by_default_with_the_standard_schedule() {
        let settings = read(&[]).unwrap();
        assert!(settings.endpoint.is_none());
        assert_eq!(settings.delivery.schedule, DEFAULT_SCHEDULE);
        assert_eq!(settings.delivery.timeout, Duration::from_secs(15));
    }

    #[test]
    fn the_configured_endpoint_is_checked() {
        let ok = read(&[
            ("WEBHOOK_URL", "https://host.example/hooks"),
            ("WEBHOOK_SECRET", &format!("{SECRET} {SECRET}")),
            ("WEBHOOK_EVENTS", "member.password.reset,member.withdrawn"),
        ])
        .unwrap();
        let endpoint = ok.endpoint.unwrap();
        assert_eq!(endpoint.secrets.len(), 2);
        assert_eq!(
            endpoint.events,
            Some(vec![EventType::PasswordReset, EventType::Withdrawn])
        );
        assert!(problem(&[("WEBHOOK_URL", "https://host.example/")]).contains("WEBHOOK_SECRET"));
        assert!(problem(&[("WEBHOOK_SECRET", SECRET)]).contains("WEBHOOK_URL"));
        let bad_secret = problem(&[
            ("WEBHOOK_URL", "https://host.example/"),
            ("WEBHOOK_SECRET", "whsec_!!"),
        ]);
        assert!(
            bad_secret.contains("WEBHOOK_SECRET") && !bad_secret.contains("!!"),
            "{bad_secret}"
        );
        let unknown = problem(&[
            ("WEBHOOK_URL", "https://host.example/"),
            ("WEBHOOK_SECRET", SECRET),
            ("WEBHOOK_EVENTS", "member.deleted"),
        ]);
        assert!(unknown.contains("member.deleted"), "{unknown}");
    }

    #[test]
    fn private_targets_need_the_switch() {
        let local = [
            ("WEBHOOK_URL", "http://127.0.0.1:9000/hooks"),
            ("WEBHOOK_SECRET", SECRET),
        ];
        assert!(problem(&local).contains("WEBHOOK_ALLOW_PRIVATE"));
        let allowed = [local[0], local[1], ("WEBHOOK_ALLOW_PRIVATE", "true")];
        assert!(read(&allowed).unwrap().endpoint.is_some());
        assert!(
            problem(&[("WEBHOOK_URL", "ftp://host.example/"), ("WEBHOOK_SECRET", SECRET)]).contains("http")
        );
    }

    #[test]
    fn schedules_and_leases_are_checked() {
        let steps = read(&[("WEBHOOK_RETRY_SCHEDULE", "1s, 2s,500ms,2m,1h,1d,30")]).unwrap();
        assert_eq!(
            steps.delivery.schedule,
            [1, 2, 0, 120, 3600, 86_400, 30]
                .map(Duration::from_secs)
                .map(|d| if d.is_zero() {
                    Duration::from_millis(500)
                } else {
                    d
                })
        );
        assert!(problem(&[("WEBHOOK_RETRY_SCHEDULE", "soon")]).contains("WEBHOOK_RETRY_SCHEDULE"));
        // 2 × 15 s + 3 × 1.5 s + 1.2 s = 35.7 s.
        assert!(problem(&[("WEBHOOK_LEASE_SECS", "35")]).contains("35700 ms"));
        assert!(read(&[("WEBHOOK_LEASE_SECS", "36")]).is_ok());
    }
}
