//! Delivering the outbox on every instance: claim due mail with a lease, send it through a bounded
//! pool of senders, drop mail whose grants died, retry with backoff, settle in batches, prune. A
//! message starts only while its lease has room for its whole send and settle, so it goes once.
use std::{num::NonZeroUsize, sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{
    sync::{Mutex, Notify, mpsc, watch},
    task::JoinSet,
    time::Instant,
};

use crate::{
    domain::{
        audit::{AuditEvent, AuditKind, AuditOutcome},
        mail_kind::MailKind,
    },
    recovery::ports::{
        ClaimedMail, MailError, MailOutbox, MailOutcome, Mailer, SettledMail, StoreError, TokenStore,
    },
};

/// How the mail worker of an instance runs (from settings).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Messages sent at once (and SMTP connections kept open for reuse).
    pub concurrency: NonZeroUsize,
    /// How long a claimed message is reserved for the instance that claimed it.
    pub lease: Duration,
    /// How often to look for mail queued by other instances.
    pub poll_every: Duration,
    pub max_attempts: u32,
    /// Deadline of the check that a message's grants are still live.
    pub check_timeout: Duration,
    /// Deadline of one message's whole SMTP conversation.
    pub send_timeout: Duration,
    /// Deadline of one outbox call (claim, release, settle).
    pub store_timeout: Duration,
    /// Sent and dropped mail is deleted this long after it finished.
    pub sent_retention: Duration,
    /// Given-up mail is kept this long for operators, then deleted.
    pub failed_retention: Duration,
}

impl DeliverySettings {
    /// The longest a started message can take until its outcome is written: its check, its send,
    /// the settler's gathering, and three settle calls (the one in progress, its own, a retry);
    /// plus a second, since MariaDB keeps a lease's end in whole seconds (truncated).
    pub fn longest_start_to_settle(&self) -> Duration {
        self.check_timeout
            + self.send_timeout
            + SETTLE_GATHER
            + 3 * self.store_timeout
            + Duration::from_secs(1)
    }

    /// A lease shorter than a start-to-settle would let a second instance claim a message that is
    /// still being sent.
    pub fn check(&self) -> Result<(), String> {
        let needed = self.longest_start_to_settle();
        if self.lease <= needed {
            return Err(format!(
                "MAIL_LEASE_SECS ({} s) must exceed SMTP_TIMEOUT_MS + REDIS_TIMEOUT_MS + 3 × DB_TIMEOUT_MS \
                 + {} ms ({} ms): a message must be sent and settled within its lease",
                self.lease.as_secs(),
                (SETTLE_GATHER + Duration::from_secs(1)).as_millis(),
                needed.as_millis()
            ));
        }
        Ok(())
    }

    /// Messages claimed at once: enough to keep every sender busy until the next claim.
    fn batch(&self) -> usize {
        2 * self.concurrency.get()
    }
}

#[derive(Clone)]
pub struct MailDelivery {
    outbox: Arc<dyn MailOutbox>,
    mailer: Arc<dyn Mailer>,
    tokens: Arc<dyn TokenStore>,
    wake: Arc<Notify>,
    settings: DeliverySettings,
}

/// 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(8)).min(Duration::from_secs(300))
}

/// Pruning runs this often while it finds nothing much to delete…
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// …and this often while it deletes whole steps (a backlog of finished mail).
const PRUNE_AGAIN: Duration = Duration::from_millis(200);
/// A settle that failed is tried again after this.
const SETTLE_RETRY: Duration = Duration::from_millis(200);
/// After a wake finds the queue empty, the claim waits this long, so one claim takes what a burst
/// of requests queued instead of one claim each (a claim is a database transaction).
const CLAIM_GATHER: Duration = Duration::from_millis(200);
/// The settler writes the outcomes that finish within this long of the first one in one
/// transaction, instead of one transaction per message when mail trickles in.
const SETTLE_GATHER: Duration = Duration::from_millis(200);
/// Rows deleted per pruning call.
const PRUNE_STEP: u64 = 1000;

/// A message the worker is done with, waiting to be settled.
struct Delivered {
    settled: SettledMail,
    events: Vec<AuditEvent>,
}

/// A claimed message not started yet, with when its claim began.
struct Waiting {
    claimed_at: Instant,
    mail: ClaimedMail,
}

impl MailDelivery {
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        mailer: Arc<dyn Mailer>,
        tokens: Arc<dyn TokenStore>,
        wake: Arc<Notify>,
        settings: DeliverySettings,
    ) -> Self {
        MailDelivery {
            outbox,
            mailer,
            tokens,
            wake,
            settings,
        }
    }

    /// Delivers until `shutdown`, then finishes and settles the messages being sent and releases the
    /// claimed ones not started. A claimer, `concurrency` senders and a settler run as separate
    /// tasks, so no sender waits on the database.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let pruner = tokio::spawn(self.clone().prune_until(shutdown.clone()));
        let this = Arc::new(self);
        let concurrency = this.settings.concurrency.get();
        let (queue, claimed) = mpsc::channel::<Waiting>(this.settings.batch());
        let claimed = Arc::new(Mutex::new(claimed));
        let taken = Arc::new(Notify::new());
        let (done, finished) = mpsc::unbounded_channel::<Delivered>();
        let settler = tokio::spawn(this.clone().settle_all(finished));
        let mut senders = JoinSet::new();
        for _ in 0..concurrency {
            let (this, claimed, taken, done) = (this.clone(), claimed.clone(), taken.clone(), done.clone());
            senders.spawn(this.send_from(claimed, taken, done, shutdown.clone()));
        }
        drop(done);
        this.claim_into(&queue, &taken, shutdown).await;
        // Stopping: the senders finish the messages in hand and take no more; what is left in the
        // queue goes back at once.
        while senders.join_next().await.is_some() {}
        let mut unstarted = Vec::new();
        {
            let mut claimed = claimed.lock().await;
            while let Ok(waiting) = claimed.try_recv() {
                unstarted.push(waiting.mail.claim());
            }
        }
        if !unstarted.is_empty() {
            match this.outbox.release(&unstarted).await {
                Ok(()) => tracing::info!(released = unstarted.len(), "claimed mail released"),
                Err(e) => {
                    tracing::warn!(error = %e, "claimed mail not released; it is due again after its lease")
                }
            }
        }
        let _ = settler.await;
        let _ = pruner.await;
        tracing::info!("mail delivery stopped");
    }

    /// Keeps the queue topped up until `shutdown`: claims a batch when less than `concurrency`
    /// messages wait; when the last claim found less than it asked for, waits for a wake or the
    /// poll interval.
    async fn claim_into(
        &self,
        queue: &mpsc::Sender<Waiting>,
        taken: &Notify,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let concurrency = self.settings.concurrency.get();
        // Claims whose lease ran out (an instance stopped mid-send) are looked for once per poll
        // interval, not on every claim.
        let mut swept_at: Option<Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let queued = queue.max_capacity() - queue.capacity();
            let mut drained = false;
            if queued < concurrency {
                let ask = self.settings.batch() - queued;
                // The lease starts no earlier than this: measured before the call.
                let claimed_at = Instant::now();
                let lapsed = swept_at.is_none_or(|at| at.elapsed() >= self.settings.poll_every);
                if lapsed {
                    swept_at = Some(claimed_at);
                }
                match self
                    .outbox
                    .claim_due(ask as u64, self.settings.lease, lapsed)
                    .await
                {
                    Ok(claimed) => {
                        drained = claimed.len() < ask;
                        for mail in claimed {
                            // Room was left for every one of them: only this task fills the queue.
                            if queue.send(Waiting { claimed_at, mail }).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming mail failed; retrying");
                        drained = true;
                    }
                }
            }
            if drained {
                tokio::select! {
                    _ = self.wake.notified() => {
                        // More requests of the same burst are likely queueing mail right now.
                        tokio::select! {
                            _ = tokio::time::sleep(CLAIM_GATHER) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                    _ = tokio::time::sleep(self.settings.poll_every) => {}
                    _ = shutdown.changed() => {}
                }
            } else if queue.max_capacity() - queue.capacity() >= concurrency {
                tokio::select! {
                    _ = taken.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    /// One sender: takes claimed mail until `shutdown` and delivers it; a message whose lease no
    /// longer has room for a whole start-to-settle is released instead.
    async fn send_from(
        self: Arc<Self>,
        claimed: Arc<Mutex<mpsc::Receiver<Waiting>>>,
        taken: Arc<Notify>,
        done: mpsc::UnboundedSender<Delivered>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let next = {
                let mut claimed = claimed.lock().await;
                tokio::select! {
                    biased;
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    next = claimed.recv() => next,
                }
            };
            let Some(next) = next else {
                return;
            };
            taken.notify_one();
            if next.claimed_at.elapsed() + self.settings.longest_start_to_settle() >= self.settings.lease {
                tracing::warn!(
                    outbox_id = next.mail.id,
                    "claimed mail waited too long to start; released"
                );
                if let Err(e) = self.outbox.release(&[next.mail.claim()]).await {
                    tracing::warn!(error = %e, "claimed mail not released; it is due again after its lease");
                }
                continue;
            }
            if done.send(self.deliver(next.mail).await).is_err() {
                return;
            }
        }
    }

    /// Writes what the senders did, everything finished since the last write in one call, until
    /// every sender is gone; a failed write is retried with what finished meanwhile.
    async fn settle_all(self: Arc<Self>, mut finished: mpsc::UnboundedReceiver<Delivered>) {
        let mut done: Vec<Delivered> = Vec::new();
        let mut open = true;
        let mut failures = 0;
        loop {
            if open {
                let next = if done.is_empty() {
                    finished.recv().await
                } else {
                    // A failed write goes again shortly, with whatever finished meanwhile.
                    tokio::time::timeout(SETTLE_RETRY, finished.recv())
                        .await
                        .unwrap_or_default()
                };
                match next {
                    Some(delivered) => done.push(delivered),
                    None if finished.is_closed() => open = false,
                    None => {}
                }
                // What finishes shortly after goes into the same write, up to a claim's worth.
                let gather = tokio::time::sleep(SETTLE_GATHER);
                tokio::pin!(gather);
                while open && done.len() < self.settings.batch() {
                    tokio::select! {
                        next = finished.recv() => match next {
                            Some(delivered) => done.push(delivered),
                            None => open = false,
                        },
                        _ = &mut gather => break,
                    }
                }
            } else {
                tokio::time::sleep(SETTLE_RETRY).await;
            }
            if !done.is_empty() {
                self.settle(&mut done).await;
                failures = if done.is_empty() { 0 } else { failures + 1 };
            }
            if !open && done.is_empty() {
                return;
            }
            if !open && failures > 5 {
                tracing::error!(
                    count = done.len(),
                    "mail outcomes not written; those messages are due again after their lease"
                );
                return;
            }
        }
    }

    /// Writes what became of the finished messages; on failure they are kept for the next round.
    async fn settle(&self, done: &mut Vec<Delivered>) {
        let settled: Vec<SettledMail> = done.iter().map(|d| d.settled.clone()).collect();
        let events: Vec<AuditEvent> = done.iter().flat_map(|d| d.events.iter().cloned()).collect();
        match self.outbox.settle(&settled, &events).await {
            Ok(()) => done.clear(),
            Err(e) => tracing::warn!(error = %e, pending = done.len(), "settling mail failed; retrying"),
        }
    }

    /// Deletes finished mail past its retention, until `shutdown` turns true.
    async fn prune_until(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = Utc::now();
            let (sent_before, failed_before) = (
                now - self.settings.sent_retention,
                now - self.settings.failed_retention,
            );
            let pause = match self.outbox.prune(sent_before, failed_before, PRUNE_STEP).await {
                Ok(deleted) if deleted >= PRUNE_STEP => PRUNE_AGAIN,
                Ok(_) => PRUNE_EVERY,
                Err(e) => {
                    tracing::warn!(error = %e, "pruning finished mail failed; retrying");
                    PRUNE_EVERY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
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

    /// One attempt at one message, within its deadlines; never fails, the outcome says it all.
    async fn deliver(&self, mail: ClaimedMail) -> Delivered {
        let claim = mail.claim();
        let finished = |outcome| Delivered {
            settled: SettledMail { claim, outcome },
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
                return finished(MailOutcome::Dropped);
            }
            Ok(Err(e)) => MailError::Temporary(format!("grants could not be checked: {e}")),
            Err(_) => MailError::Temporary("grants could not be checked in time".into()),
        };
        match error {
            MailError::Temporary(e) if mail.attempts < self.settings.max_attempts => {
                let delay = backoff(mail.attempts);
                metrics::counter!("mail_retried_total").increment(1);
                tracing::warn!(outbox_id = mail.id, attempts = mail.attempts, error = %e, retry_in_ms = delay.as_millis() as u64, "mail not sent; will retry");
                finished(MailOutcome::Retry {
                    error: e,
                    after: delay,
                })
            }
            MailError::Temporary(e) | MailError::Permanent(e) => {
                tracing::error!(outbox_id = mail.id, attempts = mail.attempts, error = %e, "mail given up");
                metrics::counter!("mail_failed_total").increment(1);
                finished(MailOutcome::Failed { error: e })
            }
        }
    }

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
            settled: SettledMail {
                claim: mail.claim(),
                outcome: MailOutcome::Sent,
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

    fn settings(lease_secs: u64) -> DeliverySettings {
        DeliverySettings {
            concurrency: NonZeroUsize::new(8).unwrap(),
            lease: Duration::from_secs(lease_secs),
            poll_every: Duration::from_secs(1),
            max_attempts: 10,
            check_timeout: Duration::from_millis(1500),
            send_timeout: Duration::from_secs(10),
            store_timeout: Duration::from_millis(1500),
            sent_retention: Duration::from_secs(86_400),
            failed_retention: Duration::from_secs(30 * 86_400),
        }
    }

    #[test]
    fn a_lease_must_outlast_a_start_to_settle() {
        // 1.5 s + 10 s + 0.2 s + 3 × 1.5 s + 1 s = 17.2 s.
        assert_eq!(
            settings(120).longest_start_to_settle(),
            Duration::from_millis(17_200)
        );
        assert!(settings(120).check().is_ok());
        assert!(settings(18).check().is_ok());
        let refused = settings(17).check().unwrap_err();
        assert!(refused.contains("MAIL_LEASE_SECS"), "{refused}");
        assert!(refused.contains("+ 1200 ms (17200 ms)"), "{refused}");
    }
}
