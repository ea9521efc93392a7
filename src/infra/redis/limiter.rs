//! `Limiter` on Redis: fixed-window counters, one key each, counted by one script (INCR and the
//! window's PEXPIRE together, so a counter never lives without a window); all the limits of one
//! request are counted by one script call, and so are those of concurrent requests gathered by
//! `infra::counter_batches` (one script per slot).
use std::time::Duration;

use async_trait::async_trait;

use futures_util::future::join_all;

use super::{
    RedisStore,
    keys::{Key, counter_tag},
    millis, saturating_u32,
    scripts::SCRIPTS,
};
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

impl RedisStore {
    /// Counts `calls` (their keys all in one slot) with one script; each call's decisions.
    async fn count_calls(&self, calls: &[&[CounterHit<'_>]]) -> Result<Vec<Vec<LimitDecision>>, StoreError> {
        let keys: Vec<String> = calls
            .iter()
            .flat_map(|hits| hits.iter().map(|h| self.key(Key::Counter(h.key))))
            .collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<String> = calls
            .iter()
            .flat_map(|hits| {
                std::iter::once(hits.len().to_string()).chain(
                    hits.iter()
                        .flat_map(|h| [millis(h.window).to_string(), h.limit.to_string()]),
                )
            })
            .collect();
        let reply: Vec<i64> = self.invoke(&SCRIPTS.hit_calls, &keys, &args).await?;
        decisions(calls, &reply)
    }
}

/// Reads a HIT_CALLS reply: per call, how many counters it counted, then each one's `{count, pttl}`.
fn decisions(calls: &[&[CounterHit<'_>]], reply: &[i64]) -> Result<Vec<Vec<LimitDecision>>, StoreError> {
    let bad = || StoreError::Internal("redis: unexpected counters reply".into());
    let mut rest = reply;
    let mut answers = Vec::with_capacity(calls.len());
    for hits in calls {
        let (&counted, tail) = rest.split_first().ok_or_else(bad)?;
        let counted = usize::try_from(counted).map_err(|_| bad())?;
        if counted > hits.len() || tail.len() < 2 * counted {
            return Err(bad());
        }
        let (pairs, tail) = tail.split_at(2 * counted);
        rest = tail;
        answers.push(
            hits.iter()
                .zip(pairs.chunks(2))
                .map(|(hit, pair)| {
                    let (count, retry_after) = counter(pair)?;
                    Ok(LimitDecision {
                        allowed: count <= hit.limit,
                        count,
                        retry_after,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?,
        );
    }
    if rest.is_empty() { Ok(answers) } else { Err(bad()) }
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
        let mut answers = self.hit_calls(&[hits]).await;
        answers
            .pop()
            .unwrap_or_else(|| Err(StoreError::Internal("redis: no counters reply".into())))
    }

    /// The calls whose counters share a slot (one operation's) go to one script; the scripts of
    /// different slots run side by side.
    async fn hit_calls(&self, calls: &[&[CounterHit<'_>]]) -> Vec<Result<Vec<LimitDecision>, StoreError>> {
        let mut slots: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, hits) in calls.iter().enumerate() {
            let Some(first) = hits.first() else { continue };
            let tag = counter_tag(first.key);
            match slots.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, members)) => members.push(i),
                None => slots.push((tag, vec![i])),
            }
        }
        let counted = join_all(slots.iter().map(|(_, members)| {
            let calls: Vec<&[CounterHit<'_>]> = members.iter().map(|&i| calls[i]).collect();
            async move { self.count_calls(&calls).await }
        }))
        .await;
        // A call without counters counts nothing.
        let mut answers: Vec<Option<Result<Vec<LimitDecision>, StoreError>>> = calls
            .iter()
            .map(|hits| hits.is_empty().then(|| Ok(Vec::new())))
            .collect();
        for ((_, members), result) in slots.iter().zip(counted) {
            match result {
                Ok(decisions) => {
                    for (&i, d) in members.iter().zip(decisions) {
                        answers[i] = Some(Ok(d));
                    }
                }
                Err(e) => {
                    for &i in members {
                        answers[i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| Err(StoreError::Internal("redis: unexpected counters reply".into())))
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

    fn hit(key: &str, limit: u32) -> CounterHit<'_> {
        CounterHit {
            key,
            limit,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_calls_reply_is_split_per_call_and_a_refusal_ends_its_call_only() {
        let first = [hit("op:client:a", 5), hit("op:target:x", 1)];
        let second = [hit("op:client:b", 5), hit("op:target:y", 9)];
        let calls: [&[CounterHit<'_>]; 2] = [&first, &second];
        // The first call's client is over its limit, so its target was not counted.
        let reply = [1, 6, 1000, 2, 1, 2000, 3, 3000];
        let answers = decisions(&calls, &reply).unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].len(), 1);
        assert!(!answers[0][0].allowed);
        assert_eq!(answers[0][0].count, 6);
        assert_eq!(answers[1].len(), 2);
        assert!(answers[1].iter().all(|d| d.allowed));
        assert_eq!(answers[1][1].retry_after, Duration::from_secs(3));
    }

    #[test]
    fn a_short_long_or_overcounted_reply_is_an_error() {
        let one = [hit("op:client:a", 5)];
        let calls: [&[CounterHit<'_>]; 1] = [&one];
        assert!(decisions(&calls, &[1, 1]).is_err());
        assert!(decisions(&calls, &[1, 1, 100, 7]).is_err());
        assert!(decisions(&calls, &[2, 1, 100, 1, 100]).is_err());
        assert!(decisions(&calls, &[-1]).is_err());
        assert!(decisions(&calls, &[]).is_err());
        assert_eq!(decisions(&calls, &[1, 1, 100]).unwrap()[0].len(), 1);
    }
}
