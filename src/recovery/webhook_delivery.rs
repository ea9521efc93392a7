//! The webhook channel's courier: a claimed event is signed (Standard Webhooks) and posted to its
//! endpoint; a 2xx settles it, 410 Gone disables the endpoint, 429 and 503 come back after their
//! `Retry-After`, anything else after the next step of the retry schedule, until it runs out.
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::Utc;

use crate::{
    domain::webhook::signature_header,
    recovery::{
        delivery::{Courier, Delivered, Retention},
        ports::{
            ClaimedEvent, DeliveryOutcome, DeliveryQueue, EventQueue, Queued, Settled, SignedDelivery,
            WebhookAnswer, WebhookEndpoints, WebhookSender,
        },
    },
};

/// How events are delivered (from settings).
#[derive(Debug, Clone)]
pub struct WebhookDeliverySettings {
    /// The waits after each failed attempt: the first attempt is at once, then one per step;
    /// after the last step's attempt fails, the event is given up.
    pub schedule: Vec<Duration>,
    /// Deadline of one POST, connection included.
    pub timeout: Duration,
    pub retention: Retention,
}

/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27 hours (Standard Webhooks'
/// and Svix's schedule), so a receiver down for a day still gets every event.
pub const DEFAULT_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The longest a receiver's `Retry-After` parks an event: the default schedule's longest wait, so a
/// receiver cannot push an event past the day its retries span.
pub const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

/// What one answer means for the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// 410 Gone: the endpoint is disabled, the event given up.
    Gone,
    Retry {
        after: Duration,
        error: String,
    },
    GiveUp {
        error: String,
    },
}

/// The rule: what `answer` to attempt number `attempts` (counting it) means under `schedule`.
pub fn verdict(answer: &WebhookAnswer, attempts: u32, schedule: &[Duration]) -> Verdict {
    let (error, asked) = match answer {
        WebhookAnswer::Status { code, .. } if (200..300).contains(code) => return Verdict::Delivered,
        WebhookAnswer::Status { code: 410, .. } => return Verdict::Gone,
        // A receiver that asks for time gets it, up to LONGEST_RETRY_AFTER.
        WebhookAnswer::Status {
            code: code @ (429 | 503),
            retry_after,
        } => (format!("the endpoint answered {code}"), *retry_after),
        WebhookAnswer::Status { code, .. } => (format!("the endpoint answered {code}"), None),
        WebhookAnswer::Unreachable(why) => (why.clone(), None),
    };
    let step = usize::try_from(attempts.saturating_sub(1)).unwrap_or(usize::MAX);
    match schedule.get(step) {
        Some(next) => Verdict::Retry {
            after: asked.map_or(*next, |asked| asked.min(LONGEST_RETRY_AFTER)),
            error,
        },
        None => Verdict::GiveUp { error },
    }
}

pub struct WebhookDelivery {
    queue: Arc<dyn EventQueue>,
    endpoints: Arc<dyn WebhookEndpoints>,
    sender: Arc<dyn WebhookSender>,
    settings: WebhookDeliverySettings,
}

impl WebhookDelivery {
    pub fn new(
        queue: Arc<dyn EventQueue>,
        endpoints: Arc<dyn WebhookEndpoints>,
        sender: Arc<dyn WebhookSender>,
        settings: WebhookDeliverySettings,
    ) -> Self {
        WebhookDelivery {
            queue,
            endpoints,
            sender,
            settings,
        }
    }
}

fn finished(event: &ClaimedEvent, outcome: DeliveryOutcome) -> Delivered {
    Delivered {
        settled: Settled {
            claim: event.claim(),
            outcome,
        },
        events: Vec::new(),
    }
}

#[async_trait]
impl Courier for WebhookDelivery {
    type Message = ClaimedEvent;

    fn channel(&self) -> &'static str {
        "webhook"
    }

    fn queue(&self) -> &dyn DeliveryQueue<ClaimedEvent> {
        self.queue.as_ref()
    }

    fn retention(&self) -> Retention {
        self.settings.retention
    }

    fn attempt_deadline(&self) -> Duration {
        // The POST, and disabling the endpoint after a 410.
        2 * self.settings.timeout
    }

    async fn deliver(&self, event: ClaimedEvent) -> Delivered {
        let Some(endpoint) = &event.endpoint else {
            tracing::info!(
                outbox_id = event.id,
                "dropping an event: its endpoint was removed"
            );
            return finished(&event, DeliveryOutcome::Dropped);
        };
        if let Some(reason) = &endpoint.disabled {
            let error = format!("the endpoint is disabled: {reason}");
            return finished(&event, DeliveryOutcome::Failed { error });
        }
        let timestamp = Utc::now().timestamp();
        let delivery = SignedDelivery {
            signature: signature_header(&endpoint.secrets, &event.webhook_id, timestamp, &event.body),
            webhook_id: event.webhook_id.clone(),
            timestamp,
            body: event.body.clone(),
        };
        let answer = tokio::time::timeout(self.settings.timeout, self.sender.post(&endpoint.url, &delivery))
            .await
            .unwrap_or_else(|_| {
                let secs = self.settings.timeout.as_secs_f32();
                WebhookAnswer::Unreachable(format!("no answer within {secs} s"))
            });
        let outcome = match verdict(&answer, event.attempts, &self.settings.schedule) {
            Verdict::Delivered => {
                metrics::counter!("webhook_delivered_total").increment(1);
                DeliveryOutcome::Sent
            }
            Verdict::Gone => {
                let reason = format!("answered 410 Gone at {}", Utc::now().to_rfc3339());
                tracing::warn!(endpoint = %endpoint.id, "webhook endpoint answered 410 Gone; disabled");
                if let Err(e) = self
                    .endpoints
                    .disable_endpoint(&endpoint.id, &reason, Utc::now())
                    .await
                {
                    tracing::error!(endpoint = %endpoint.id, error = %e, "could not disable the endpoint");
                }
                metrics::counter!("webhook_failed_total").increment(1);
                DeliveryOutcome::Failed {
                    error: "the endpoint answered 410 Gone and is disabled".into(),
                }
            }
            Verdict::Retry { after, error } => {
                metrics::counter!("webhook_retried_total").increment(1);
                tracing::warn!(outbox_id = event.id, attempts = event.attempts, error = %error, retry_in_s = after.as_secs(), "event not delivered; will retry");
                DeliveryOutcome::Retry { error, after }
            }
            Verdict::GiveUp { error } => {
                metrics::counter!("webhook_failed_total").increment(1);
                tracing::error!(outbox_id = event.id, attempts = event.attempts, error = %error, "event given up");
                DeliveryOutcome::Failed { error }
            }
        };
        finished(&event, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> WebhookAnswer {
        WebhookAnswer::Status {
            code,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn any_2xx_delivers_and_410_disables() {
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(
                verdict(&status(code, None), 1, &DEFAULT_SCHEDULE),
                Verdict::Delivered
            );
        }
        assert_eq!(verdict(&status(410, None), 3, &DEFAULT_SCHEDULE), Verdict::Gone);
    }

    #[test]
    fn failures_follow_the_schedule_until_it_runs_out() {
        let waits: Vec<Duration> = (1..=7)
            .map(
                |attempt| match verdict(&status(500, None), attempt, &DEFAULT_SCHEDULE) {
                    Verdict::Retry { after, error } => {
                        assert_eq!(error, "the endpoint answered 500");
                        after
                    }
                    other => panic!("attempt {attempt}: {other:?}"),
                },
            )
            .collect();
        assert_eq!(waits, DEFAULT_SCHEDULE);
        // Over a day in all: a receiver down for a day still hears.
        assert!(waits.iter().sum::<Duration>() > Duration::from_secs(86_400));
        assert!(matches!(
            verdict(&status(500, None), 8, &DEFAULT_SCHEDULE),
            Verdict::GiveUp { .. }
        ));
        let unreachable = WebhookAnswer::Unreachable("connection refused".into());
        assert_eq!(
            verdict(&unreachable, 1, &DEFAULT_SCHEDULE),
            Verdict::Retry {
                after: Duration::from_secs(5),
                error: "connection refused".into()
            }
        );
        // A redirect is not followed: it is a failed attempt like any other.
        assert!(matches!(
            verdict(&status(302, None), 1, &DEFAULT_SCHEDULE),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        for code in [429, 503] {
            assert_eq!(
                verdict(&status(code, Some(90)), 1, &DEFAULT_SCHEDULE),
                Verdict::Retry {
                    after: Duration::from_secs(90),
                    error: format!("the endpoint answered {code}")
                }
            );
        }
        // Without one, or on another status, the schedule decides.
        assert!(matches!(
            verdict(&status(429, None), 2, &DEFAULT_SCHEDULE),
            Verdict::Retry { after, .. } if after == Duration::from_secs(300)
        ));
        assert!(matches!(
            verdict(&status(500, Some(90)), 1, &DEFAULT_SCHEDULE),
            Verdict::Retry { after, .. } if after == Duration::from_secs(5)
        ));
        // A receiver cannot park an event for longer than 10 h, nor past the schedule's end.
        assert!(matches!(
            verdict(&status(429, Some(10 * 86_400)), 1, &DEFAULT_SCHEDULE),
            Verdict::Retry { after, .. } if after == Duration::from_secs(36_000)
        ));
        assert!(matches!(
            verdict(&status(429, Some(1)), 8, &DEFAULT_SCHEDULE),
            Verdict::GiveUp { .. }
        ));
    }
}
