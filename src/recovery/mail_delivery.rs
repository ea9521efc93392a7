//! The mail channel's courier: a claimed message is dropped if its grants died, else sent, retried
//! later or given up.
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, AuditOutcome},
        mail_kind::MailKind,
    },
    recovery::{
        delivery::{Courier, Delivered, Retention},
        ports::{
            ClaimedMail, DeliveryOutcome, DeliveryQueue, MailError, MailOutbox, Mailer, Queued, Settled,
            StoreError, TokenStore,
        },
    },
};

/// How one message is delivered and how long finished mail is kept (from settings).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub max_attempts: u32,
    /// Deadline of the check that a message's grants are still live.
    pub check_timeout: Duration,
    /// Deadline of one message's whole SMTP conversation.
    pub send_timeout: Duration,
    /// Sent and dropped mail is deleted this long after it finished.
    pub sent_retention: Duration,
    /// Given-up mail is kept this long for operators, then deleted.
    pub failed_retention: Duration,
}

#[derive(Clone)]
pub struct MailDelivery {
    outbox: Arc<dyn MailOutbox>,
    mailer: Arc<dyn Mailer>,
    tokens: Arc<dyn TokenStore>,
    settings: DeliverySettings,
}

/// 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(8)).min(Duration::from_secs(300))
}

impl MailDelivery {
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        mailer: Arc<dyn Mailer>,
        tokens: Arc<dyn TokenStore>,
        settings: DeliverySettings,
    ) -> Self {
        MailDelivery {
            outbox,
            mailer,
            tokens,
            settings,
        }
    }

    /// Whether any grant the mail carries is still live (mail without grants always is).
    async fn still_wanted(&self, mail: &ClaimedMail) -> Result<bool, StoreError> {
        if mail.meta.grants.is_empty() {
            return Ok(true);
        }
        for (owner, grant_id) in &mail.meta.grants {
            if self.tokens.grant_is_live(owner, grant_id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[async_trait]
impl Courier for MailDelivery {
    type Message = ClaimedMail;

    fn channel(&self) -> &'static str {
        "mail"
    }

    fn queue(&self) -> &dyn DeliveryQueue<ClaimedMail> {
        self.outbox.as_ref()
    }

    fn retention(&self) -> Retention {
        Retention {
            sent: self.settings.sent_retention,
            failed: self.settings.failed_retention,
        }
    }

    fn attempt_deadline(&self) -> Duration {
        self.settings.check_timeout + self.settings.send_timeout
    }

    /// Sent, dropped (no grant it carries is live), retried after a backoff or given up.
    async fn deliver(&self, mail: ClaimedMail) -> Delivered {
        let claim = mail.claim();
        let finished = |outcome| Delivered {
            settled: Settled { claim, outcome },
            events: Vec::new(),
        };
        let wanted = tokio::time::timeout(self.settings.check_timeout, self.still_wanted(&mail)).await;
        let error = match wanted {
            Ok(Ok(true)) => {
                match tokio::time::timeout(self.settings.send_timeout, self.mailer.send(&mail.mail)).await {
                    Ok(Ok(())) => return self.sent(mail),
                    Ok(Err(e)) => e,
                    Err(_) => {
                        MailError::Temporary("the SMTP conversation took longer than SMTP_TIMEOUT_MS".into())
                    }
                }
            }
            Ok(Ok(false)) => {
                tracing::info!(
                    outbox_id = mail.id,
                    "dropping mail: its grant was spent or expired"
                );
                metrics::counter!("mail_dropped_total").increment(1);
                return finished(DeliveryOutcome::Dropped);
            }
            Ok(Err(e)) => MailError::Temporary(format!("grants could not be checked: {e}")),
            Err(_) => MailError::Temporary("grants could not be checked in time".into()),
        };
        match error {
            MailError::Temporary(e) if mail.attempts < self.settings.max_attempts => {
                let delay = backoff(mail.attempts);
                metrics::counter!("mail_retried_total").increment(1);
                tracing::warn!(outbox_id = mail.id, attempts = mail.attempts, error = %e, retry_in_ms = delay.as_millis() as u64, "mail not sent; will retry");
                finished(DeliveryOutcome::Retry {
                    error: e,
                    after: delay,
                })
            }
            MailError::Temporary(e) | MailError::Permanent(e) => {
                tracing::error!(outbox_id = mail.id, attempts = mail.attempts, error = %e, "mail given up");
                metrics::counter!("mail_failed_total").increment(1);
                finished(DeliveryOutcome::Failed { error: e })
            }
        }
    }
}

impl MailDelivery {
    fn sent(&self, mail: ClaimedMail) -> Delivered {
        tracing::info!(outbox_id = mail.id, kind = mail.meta.kind.code(), "mail sent");
        metrics::counter!("mail_sent_total", "kind" => mail.meta.kind.code()).increment(1);
        let events = if mail.meta.kind == MailKind::ResetRequested {
            mail.meta
                .grants
                .iter()
                .map(|(owner, _)| AuditEvent {
                    site: owner.site.clone(),
                    member: Some(owner.member.clone()),
                    kind: AuditKind::ResetMailed,
                    outcome: AuditOutcome::Sent,
                    client: None,
                    identifier: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        Delivered {
            settled: Settled {
                claim: mail.claim(),
                outcome: DeliveryOutcome::Sent,
            },
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), Duration::from_secs(256));
        assert!(backoff(u32::MAX) <= Duration::from_secs(300));
    }
}
