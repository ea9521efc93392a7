//! Delivering the outbox: claim due mail, drop mail whose grants died, send, retry with backoff.
//! Runs in the background of every instance; the lease on claimed rows keeps instances apart.
use std::{sync::Arc, time::Duration};

use tokio::sync::{Notify, watch};

use crate::recovery::ports::{
    AuditEvent, AuditKind, AuditLog, AuditOutcome, ClaimedMail, MailError, MailKind, MailOutbox, Mailer,
    TokenStore,
};

#[derive(Clone)]
pub struct MailDelivery {
    outbox: Arc<dyn MailOutbox>,
    mailer: Arc<dyn Mailer>,
    tokens: Arc<dyn TokenStore>,
    audit: Arc<dyn AuditLog>,
    wake: Arc<Notify>,
    poll_every: Duration,
    max_attempts: u32,
}

/// How long a claimed message is reserved for the instance that claimed it.
const LEASE: Duration = Duration::from_secs(120);
/// Claimed one at a time: a claimed message is always sent well within its lease (SMTP timeout
/// ≪ LEASE), so no other instance can take it over and send it twice.
const BATCH: u64 = 1;

/// 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(8)).min(Duration::from_secs(300))
}

impl MailDelivery {
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        mailer: Arc<dyn Mailer>,
        tokens: Arc<dyn TokenStore>,
        audit: Arc<dyn AuditLog>,
        wake: Arc<Notify>,
        poll_every: Duration,
        max_attempts: u32,
    ) -> Self {
        MailDelivery {
            outbox,
            mailer,
            tokens,
            audit,
            wake,
            poll_every,
            max_attempts,
        }
    }

    /// Delivers until `shutdown` turns true; a message being sent is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.deliver_due().await {
                tracing::warn!(error = %e, "mail delivery round failed; retrying");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll_every) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("mail delivery stopped");
    }

    /// One round: delivers due messages until none is left; returns how many were handled.
    pub async fn deliver_due(&self) -> Result<usize, crate::recovery::ports::StoreError> {
        let mut count = 0;
        loop {
            let claimed = self.outbox.claim_due(BATCH, LEASE).await?;
            if claimed.is_empty() {
                return Ok(count);
            }
            count += claimed.len();
            for mail in claimed {
                self.deliver(mail).await?;
            }
        }
    }

    async fn still_wanted(&self, mail: &ClaimedMail) -> Result<bool, crate::recovery::ports::StoreError> {
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

    async fn deliver(&self, mail: ClaimedMail) -> Result<(), crate::recovery::ports::StoreError> {
        if !self.still_wanted(&mail).await? {
            tracing::info!(
                outbox_id = mail.id,
                "dropping mail: its grant was spent or expired"
            );
            metrics::counter!("mail_dropped_total").increment(1);
            return self.outbox.mark_dropped(mail.id).await;
        }
        match self.mailer.send(&mail.mail).await {
            Ok(()) => {
                tracing::info!(outbox_id = mail.id, kind = mail.meta.kind.code(), "mail sent");
                metrics::counter!("mail_sent_total", "kind" => mail.meta.kind.code()).increment(1);
                self.outbox.mark_sent(mail.id).await?;
                if mail.meta.kind == MailKind::ResetRequested {
                    for (owner, _) in &mail.meta.grants {
                        let event = AuditEvent {
                            site: owner.site.clone(),
                            member: Some(owner.member.clone()),
                            kind: AuditKind::ResetMailed,
                            outcome: AuditOutcome::Sent,
                            client: None,
                            identifier: None,
                        };
                        if let Err(e) = self.audit.record(event).await {
                            tracing::error!(error = %e, "audit event not written");
                        }
                    }
                }
                Ok(())
            }
            Err(MailError::Temporary(e)) if mail.attempts < self.max_attempts => {
                let delay = backoff(mail.attempts);
                metrics::counter!("mail_retried_total").increment(1);
                tracing::warn!(outbox_id = mail.id, attempts = mail.attempts, error = %e, retry_in_ms = delay.as_millis() as u64, "mail not sent; will retry");
                self.outbox.mark_failed(mail.id, &e, Some(delay)).await
            }
            Err(MailError::Temporary(e) | MailError::Permanent(e)) => {
                tracing::error!(outbox_id = mail.id, attempts = mail.attempts, error = %e, "mail given up");
                metrics::counter!("mail_failed_total").increment(1);
                self.outbox.mark_failed(mail.id, &e, None).await
            }
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
