//! The shape both request batchers share (`db::batched` for member lookups, `counter_batches` for
//! rate limits): a caller queues its request with a reply channel and waits, within its deadline;
//! a worker waits for one request, then takes every other one already queued.
use std::time::Duration;

use tokio::sync::oneshot;

use crate::recovery::ports::StoreError;

/// Queues the request `make` builds around its reply channel and waits for the answer. `limit`
/// bounds the whole wait, in the queue and in the worker's batch: past it, or when the workers
/// are gone, the answer is `Unavailable` (its text names `what`).
pub(crate) async fn ask<T, R>(
    queue: &flume::Sender<T>,
    make: impl FnOnce(oneshot::Sender<Result<R, StoreError>>) -> T,
    limit: Duration,
    what: &str,
) -> Result<R, StoreError> {
    let gone = || StoreError::Unavailable(format!("{what} stopped"));
    let (reply, answer) = oneshot::channel();
    let waited = tokio::time::timeout(limit, async {
        queue.send_async(make(reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    })
    .await;
    waited.unwrap_or_else(|_| Err(StoreError::Unavailable(format!("{what} timed out"))))
}

/// The next batch from `queue`: the first request (waiting for it), then every other one already
/// queued, up to `max` in all; `None` once every sender is gone. A lone request goes out at once.
pub(crate) async fn next_batch<T>(queue: &flume::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = queue.recv_async().await.ok()?;
    let mut batch = vec![first];
    while batch.len() < max {
        let Ok(next) = queue.try_recv() else { break };
        batch.push(next);
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_takes_what_is_queued_up_to_the_most() {
        let (tx, rx) = flume::unbounded();
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(next_batch(&rx, 3).await, Some(vec![0, 1, 2]));
        assert_eq!(next_batch(&rx, 3).await, Some(vec![3, 4]));
        drop(tx);
        assert_eq!(next_batch(&rx, 3).await, None);
    }
}
