//! `Limiter` on Redis: fixed-window counters, one key each, counted by one script (INCR and the
//! window's PEXPIRE together, so a counter never lives without a window); all the limits of one
//! request are counted by one script call.
use std::time::Duration;

use async_trait::async_trait;

use super::{RedisStore, keys::Key, millis, saturating_u32, scripts::SCRIPTS};
use crate::{
    domain::session::LimitDecision,
    recovery::ports::{CounterHit, Limiter, StoreError},
};

/// A PTTL reply as the time left (nothing for "no key" / "no expiry").
fn time_left(pttl: i64) -> Duration {
    Duration::from_millis(u64::try_from(pttl).unwrap_or(0))
}

/// Reads a `{count, pttl}` reply.
fn counter(reply: &[i64]) -> Result<(u32, Duration), StoreError> {
    match reply {
        [count, pttl] => Ok((saturating_u32(*count), time_left(*pttl))),
        _ => Err(StoreError::Internal("redis: unexpected counter reply".into())),
    }
}

#[async_trait]
impl Limiter for RedisStore {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<LimitDecision, StoreError> {
        let reply: Vec<i64> = self
            .invoke(
                &SCRIPTS.hit,
                &[&self.key(Key::Counter(key))],
                &[millis(window).to_string()],
            )
            .await?;
        let (count, retry_after) = counter(&reply)?;
        Ok(LimitDecision {
            allowed: count <= limit,
            count,
            retry_after,
        })
    }

    async fn hit_all(&self, hits: &[CounterHit<'_>]) -> Result<Vec<LimitDecision>, StoreError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = hits.iter().map(|h| self.key(Key::Counter(h.key))).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<String> = hits
            .iter()
            .flat_map(|h| [millis(h.window).to_string(), h.limit.to_string()])
            .collect();
        let reply: Vec<i64> = self.invoke(&SCRIPTS.hit_all, &keys, &args).await?;
        if !reply.len().is_multiple_of(2) || reply.len() > 2 * hits.len() {
            return Err(StoreError::Internal("redis: unexpected counters reply".into()));
        }
        hits.iter()
            .zip(reply.chunks(2))
            .map(|(hit, pair)| {
                let (count, retry_after) = counter(pair)?;
                Ok(LimitDecision {
                    allowed: count <= hit.limit,
                    count,
                    retry_after,
                })
            })
            .collect()
    }

    async fn peek(&self, key: &str, limit: u32) -> Result<LimitDecision, StoreError> {
        let reply: Vec<i64> = self
            .invoke(&SCRIPTS.peek, &[&self.key(Key::Counter(key))], &[])
            .await?;
        let (count, retry_after) = counter(&reply)?;
        Ok(LimitDecision {
            allowed: count < limit,
            count,
            retry_after: if count == 0 { Duration::ZERO } else { retry_after },
        })
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(Key::Counter(key)));
        self.query::<()>(&cmd).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pttl_replies_become_durations() {
        assert_eq!(time_left(-2), Duration::ZERO);
        assert_eq!(time_left(-1), Duration::ZERO);
        assert_eq!(time_left(1500), Duration::from_millis(1500));
        assert_eq!(counter(&[3, 250]).unwrap(), (3, Duration::from_millis(250)));
        assert!(counter(&[3]).is_err());
        assert_eq!(saturating_u32(-1), 0);
        assert_eq!(saturating_u32(i64::MAX), u32::MAX);
    }
}
