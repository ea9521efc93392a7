//! A delivery worker of an instance, one per channel of the delivery queue (mail, webhook events):
//! claims due messages under a lease, delivers them through the channel's courier, settles, prunes.
use std::{num::NonZeroUsize, sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{
    sync::{Mutex, Notify, mpsc, watch},
    task::JoinSet,
    time::Instant,
};

use crate::recovery::{
    delivery::{Courier, Delivered},
    ports::Queued,
};

/// How a delivery worker of an instance runs (from settings).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Messages sent at once (for mail, SMTP connections kept open for reuse too).
    pub concurrency: NonZeroUsize,
    /// How long a claimed message is reserved for the instance that claimed it.
    pub lease: Duration,
    /// How often to look for messages queued by other instances.
    pub poll_every: Duration,
    /// Deadline of one queue call (claim, release, settle).
    pub store_timeout: Duration,
}

/// What a start-to-settle adds to the deadlines of its calls: the settler's gathering, and a
/// second, since MariaDB keeps a lease's end in whole seconds (truncated).
pub const SETTLE_MARGIN: Duration = SETTLE_GATHER.saturating_add(Duration::from_secs(1));

impl WorkerSettings {
    /// The longest a started message can take until its outcome is written: its attempt (checks and
    /// send), three settle calls (the one in progress, its own, a retry) and the margin above.
    pub fn longest_start_to_settle(&self, attempt: Duration) -> Duration {
        attempt + 3 * self.store_timeout + SETTLE_MARGIN
    }

    /// Messages claimed at once: enough to keep every sender busy until the next claim, and at
    /// least `CLAIM_AT_LEAST`, since each claim is a commit the senders wait on.
    fn batch(&self) -> usize {
        (2 * self.concurrency.get()).max(CLAIM_AT_LEAST)
    }
}

/// Pruning runs this often while it finds nothing much to delete…
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// …and this often while it deletes whole steps (a backlog of finished messages).
const PRUNE_AGAIN: Duration = Duration::from_millis(200);
/// A settle that failed is tried again after this.
const SETTLE_RETRY: Duration = Duration::from_millis(200);
/// After a wake finds the queue empty, the claim waits this long, so one claim takes what a burst
/// of requests queued instead of one claim each (a claim is a database transaction).
const CLAIM_GATHER: Duration = Duration::from_millis(200);
/// The settler writes the outcomes that finish within this long of the first one in one
/// transaction, instead of one transaction per message when messages trickle in.
const SETTLE_GATHER: Duration = Duration::from_millis(200);
/// The fewest messages a claim asks for: each claim is a commit the senders wait on, so claims of
/// a few messages bound an instance's rate against a fast server.
const CLAIM_AT_LEAST: usize = 64;
/// The most outcomes one settle writes (the audit rows of a full one are one statement): a settle
/// capped at a claim's worth fell ever further behind the senders, towards their leases' end.
const SETTLE_AT_MOST: usize = 256;
/// Rows deleted per pruning call.
const PRUNE_STEP: u64 = 1000;

/// A claimed message not started yet, with when its claim began.
struct Waiting<M> {
    claimed_at: Instant,
    message: M,
}

/// A claimer, a bounded pool of senders and a settler as separate tasks, so no sender waits on the
/// database; a message starts only while its lease has room for its whole attempt and settle, so
/// it goes once.
pub struct DeliveryWorker<C: Courier> {
    delivery: Arc<C>,
    wake: Arc<Notify>,
    settings: WorkerSettings,
}

impl<C: Courier> Clone for DeliveryWorker<C> {
    fn clone(&self) -> Self {
        DeliveryWorker {
            delivery: self.delivery.clone(),
            wake: self.wake.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<C: Courier> DeliveryWorker<C> {
    /// A worker delivering through `courier`; `wake` is notified when a message is queued.
    pub fn new(courier: C, wake: Arc<Notify>, settings: WorkerSettings) -> Self {
        DeliveryWorker {
            delivery: Arc::new(courier),
            wake,
            settings,
        }
    }

    /// Delivers until `shutdown`, then finishes and settles the messages being sent and releases the
    /// claimed ones not started.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let pruner = tokio::spawn(self.clone().prune_until(shutdown.clone()));
        let this = Arc::new(self);
        let concurrency = this.settings.concurrency.get();
        let (queue, claimed) = mpsc::channel::<Waiting<C::Message>>(this.settings.batch());
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
                unstarted.push(waiting.message.claim());
            }
        }
        if !unstarted.is_empty() {
            match this.delivery.release(&unstarted).await {
                Ok(()) => tracing::info!(
                    channel = this.delivery.channel(),
                    released = unstarted.len(),
                    "claimed messages released"
                ),
                Err(e) => tracing::warn!(
                    channel = this.delivery.channel(),
                    error = %e,
                    "claimed messages not released; they are due again after their lease"
                ),
            }
        }
        let _ = settler.await;
        let _ = pruner.await;
        tracing::info!("{} delivery stopped", this.delivery.channel());
    }

    /// Keeps the queue topped up until `shutdown`: claims a batch when less than `concurrency`
    /// messages wait; when the last claim found less than it asked for, waits for a wake or the
    /// poll interval.
    async fn claim_into(
        &self,
        queue: &mpsc::Sender<Waiting<C::Message>>,
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
                match self.delivery.claim(ask as u64, self.settings.lease, lapsed).await {
                    Ok(claimed) => {
                        drained = claimed.len() < ask;
                        for message in claimed {
                            // Room was left for every one of them: only this task fills the queue.
                            if queue.send(Waiting { claimed_at, message }).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(channel = self.delivery.channel(), error = %e, "claiming failed; retrying");
                        drained = true;
                    }
                }
            }
            if drained {
                tokio::select! {
                    _ = self.wake.notified() => {
                        // More requests of the same burst are likely queueing more right now.
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

    /// One sender: takes claimed messages until `shutdown` and delivers it; a message whose lease no
    /// longer has room for a whole start-to-settle is released instead.
    async fn send_from(
        self: Arc<Self>,
        claimed: Arc<Mutex<mpsc::Receiver<Waiting<C::Message>>>>,
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
            let whole = self
                .settings
                .longest_start_to_settle(self.delivery.attempt_deadline());
            if next.claimed_at.elapsed() + whole >= self.settings.lease {
                tracing::warn!(
                    channel = self.delivery.channel(),
                    outbox_id = next.message.claim().id,
                    "claimed message waited too long to start; released"
                );
                if let Err(e) = self.delivery.release(&[next.message.claim()]).await {
                    tracing::warn!(error = %e, "claimed message not released; it is due again after its lease");
                }
                continue;
            }
            if done.send(self.delivery.deliver(next.message).await).is_err() {
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
                // What finishes shortly after goes into the same write, up to SETTLE_AT_MOST.
                let gather = tokio::time::sleep(SETTLE_GATHER);
                tokio::pin!(gather);
                while open && done.len() < SETTLE_AT_MOST {
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
                    channel = self.delivery.channel(),
                    count = done.len(),
                    "outcomes not written; those messages are due again after their lease"
                );
                return;
            }
        }
    }

    /// Writes what became of the finished messages; on failure they are kept for the next round.
    async fn settle(&self, done: &mut Vec<Delivered>) {
        match self.delivery.settle(done).await {
            Ok(()) => done.clear(),
            Err(e) => {
                tracing::warn!(channel = self.delivery.channel(), error = %e, pending = done.len(), "settling failed; retrying")
            }
        }
    }

    /// Deletes finished messages past their retention, reading the clock once per round, until
    /// `shutdown`.
    async fn prune_until(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = Utc::now();
            let pause = match self.delivery.prune(now, PRUNE_STEP).await {
                Ok(deleted) if deleted >= PRUNE_STEP => PRUNE_AGAIN,
                Ok(_) => PRUNE_EVERY,
                Err(e) => {
                    tracing::warn!(channel = self.delivery.channel(), error = %e, "pruning failed; retrying");
                    PRUNE_EVERY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}
