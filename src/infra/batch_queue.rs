//! The shape both request batchers share (`db::batched` for member lookups, `counter_batches` for
//! rate limits): a worker waits for one request, then takes every other one already queued.

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
