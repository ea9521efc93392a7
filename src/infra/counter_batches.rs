//! The rate limits of concurrent requests counted together: a [`Limiter`] whose `hit_all` calls
//! (every limit of one request) go out in batches through the inner limiter's `hit_calls`, which
//! on Redis is one script per slot for the whole batch instead of one round trip per request.
//!
//! As with the member lookups (`db::batched`), a few workers take calls from one queue. An idle
//! worker takes a call at once, so a lone request waits for nothing; under load, the calls that
//! arrive while a worker's batch is out go together in its next one (at most `MAX_BATCH`). Each
//! call is still counted on its own terms (client first, a refusal ends its counting), in the
//! order the calls were queued. The caller's deadline covers its whole wait, in the queue and in
//! the store. The other counter operations (`hit`, `peek`, `clear`) go straight to the store.
use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::batch_queue::{ask, next_batch};
use crate::{
    domain::session::LimitDecision,
    recovery::ports::{CounterHit, Limiter, StoreError},
};

/// Most calls in one batch (two or three counters each).
const MAX_BATCH: usize = 64;

/// Batches out at once.
const WORKERS: usize = 2;

/// Calls waiting for a worker: far more than the connections a service accepts.
const QUEUE: usize = 8192;

/// One `hit_all` call, owned for the queue.
struct Call {
    hits: Vec<(String, u32, Duration)>,
    reply: oneshot::Sender<Result<Vec<LimitDecision>, StoreError>>,
}

impl Call {
    fn hits(&self) -> Vec<CounterHit<'_>> {
        self.hits
            .iter()
            .map(|(key, limit, window)| CounterHit {
                key,
                limit: *limit,
                window: *window,
            })
            .collect()
    }
}

/// A limiter whose `hit_all` calls are gathered into batches (see the module's comment).
pub struct BatchedCounters {
    inner: Arc<dyn Limiter>,
    queue: flume::Sender<Call>,
    limit: Duration,
}

impl BatchedCounters {
    /// Starts the workers (call inside the runtime); `limit` bounds each call's whole wait.
    /// `inner` should have its own deadline per call, so that a stuck batch frees its worker.
    pub fn new(inner: Arc<dyn Limiter>, limit: Duration) -> Self {
        let (queue, calls) = flume::bounded(QUEUE);
        for _ in 0..WORKERS {
            tokio::spawn(work(inner.clone(), calls.clone()));
        }
        BatchedCounters { inner, queue, limit }
    }
}

/// Takes the first waiting call, then every other one already queued (up to `MAX_BATCH`), and
/// counts them with one `hit_calls`.
async fn work(inner: Arc<dyn Limiter>, calls: flume::Receiver<Call>) {
    while let Some(mut batch) = next_batch(&calls, MAX_BATCH).await {
        // A caller that has gone (its request cancelled or timed out) is not counted.
        batch.retain(|c| !c.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let hits: Vec<Vec<CounterHit<'_>>> = batch.iter().map(Call::hits).collect();
        let views: Vec<&[CounterHit<'_>]> = hits.iter().map(Vec::as_slice).collect();
        let answers = inner.hit_calls(&views).await;
        for (call, answer) in batch.into_iter().zip(answers) {
            let _ = call.reply.send(answer);
        }
    }
}

#[async_trait]
impl Limiter for BatchedCounters {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<LimitDecision, StoreError> {
        self.inner.hit(key, limit, window).await
    }

    async fn hit_all(&self, hits: &[CounterHit<'_>]) -> Result<Vec<LimitDecision>, StoreError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let call = |reply| Call {
            hits: hits
                .iter()
                .map(|h| (h.key.to_owned(), h.limit, h.window))
                .collect(),
            reply,
        };
        ask(&self.queue, call, self.limit, "counters").await
    }

    async fn peek(&self, key: &str, limit: u32) -> Result<LimitDecision, StoreError> {
        self.inner.peek(key, limit).await
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.inner.clear(key).await
    }
}

#[cfg(test)]
mod tests;
