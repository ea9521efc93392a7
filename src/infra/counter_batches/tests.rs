use std::sync::Mutex;

use tokio::sync::Semaphore;

use super::*;

const PATIENT: Duration = Duration::from_secs(10);

/// Answers each call with one decision per counter, its count read from the key's last segment;
/// a call with a key ending in `bad` fails. Each `hit_calls` waits for a permit of `gate` and is
/// recorded with the keys of its calls.
struct Store {
    gate: Semaphore,
    batches: Mutex<Vec<Vec<Vec<String>>>>,
}

impl Store {
    fn new(gate_open: bool) -> Arc<Store> {
        Arc::new(Store {
            gate: Semaphore::new(if gate_open { Semaphore::MAX_PERMITS } else { 0 }),
            batches: Mutex::new(Vec::new()),
        })
    }

    fn batches(&self) -> Vec<Vec<Vec<String>>> {
        self.batches.lock().unwrap().clone()
    }
}

fn decision(key: &str) -> Result<LimitDecision, StoreError> {
    let count = key
        .rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Unavailable("bad counter".into()))?;
    Ok(LimitDecision {
        allowed: true,
        count,
        retry_after: Duration::ZERO,
    })
}

#[async_trait]
impl Limiter for Store {
    async fn hit(&self, key: &str, _: u32, _: Duration) -> Result<LimitDecision, StoreError> {
        decision(key)
    }
    async fn hit_all(&self, hits: &[CounterHit<'_>]) -> Result<Vec<LimitDecision>, StoreError> {
        hits.iter().map(|h| decision(h.key)).collect()
    }
    async fn hit_calls(&self, calls: &[&[CounterHit<'_>]]) -> Vec<Result<Vec<LimitDecision>, StoreError>> {
        self.gate.acquire().await.expect("gate").forget();
        self.batches.lock().unwrap().push(
            calls
                .iter()
                .map(|hits| hits.iter().map(|h| h.key.to_owned()).collect())
                .collect(),
        );
        let mut answers = Vec::new();
        for hits in calls {
            answers.push(self.hit_all(hits).await);
        }
        answers
    }
    async fn peek(&self, key: &str, _: u32) -> Result<LimitDecision, StoreError> {
        decision(key)
    }
    async fn clear(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

fn hits(keys: &[String]) -> Vec<CounterHit<'_>> {
    keys.iter()
        .map(|key| CounterHit {
            key,
            limit: 10,
            window: Duration::from_secs(60),
        })
        .collect()
}

async fn count(counters: &BatchedCounters, keys: Vec<String>) -> Result<Vec<u32>, StoreError> {
    let decisions = counters.hit_all(&hits(&keys)).await?;
    Ok(decisions.iter().map(|d| d.count).collect())
}

#[tokio::test]
async fn a_lone_call_goes_out_at_once_and_gets_its_own_answer() {
    let store = Store::new(true);
    let counters = BatchedCounters::new(store.clone(), PATIENT);
    let answer = count(&counters, vec!["op:client:3".into(), "op:target:7".into()]).await;
    assert_eq!(answer.unwrap(), vec![3, 7]);
    assert_eq!(
        store.batches(),
        vec![vec![vec!["op:client:3".to_owned(), "op:target:7".to_owned()]]]
    );
    assert!(counters.hit_all(&[]).await.unwrap().is_empty());
    assert_eq!(store.batches().len(), 1, "no counters, no call");
}

#[tokio::test]
async fn calls_that_wait_go_out_together_and_each_gets_its_own_answer() {
    let store = Store::new(false);
    let counters = Arc::new(BatchedCounters::new(store.clone(), PATIENT));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..40u32 {
        let counters = counters.clone();
        calls.spawn(async move {
            let answer = count(
                &counters,
                vec![format!("op:client:{i}"), format!("op:target:{}", i + 100)],
            )
            .await;
            (i, answer)
        });
    }
    // Every call is queued or held by a worker before the store answers anything.
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    while let Some(done) = calls.join_next().await {
        let (i, answer) = done.unwrap();
        assert_eq!(answer.unwrap(), vec![i, i + 100]);
    }
    let batches = store.batches();
    let calls: usize = batches.iter().map(Vec::len).sum();
    assert_eq!(calls, 40);
    assert!(
        batches.len() <= 4,
        "40 waiting calls went out in {} batches",
        batches.len()
    );
}

#[tokio::test]
async fn a_failing_call_fails_alone() {
    let store = Store::new(false);
    let counters = Arc::new(BatchedCounters::new(store.clone(), PATIENT));
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..6u32 {
        let counters = counters.clone();
        let last = if i == 3 { "bad".to_owned() } else { i.to_string() };
        calls.spawn(async move { (i, count(&counters, vec![format!("op:client:{last}")]).await) });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    while let Some(done) = calls.join_next().await {
        match done.unwrap() {
            (3, answer) => assert!(matches!(answer, Err(StoreError::Unavailable(_)))),
            (i, answer) => assert_eq!(answer.unwrap(), vec![i]),
        }
    }
    assert!(store.batches().len() < 6, "the calls were batched");
}

#[tokio::test]
async fn a_stuck_store_is_unavailable_after_the_deadline_and_a_gone_caller_is_not_counted() {
    let store = Store::new(false);
    let counters = Arc::new(BatchedCounters::new(store.clone(), Duration::from_millis(150)));
    // Both workers hold a call at the closed gate; the third waits in the queue.
    let mut stuck = Vec::new();
    for i in 0..3u32 {
        let counters = counters.clone();
        stuck.push(tokio::spawn(async move {
            count(&counters, vec![format!("op:client:{i}")]).await
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for call in stuck {
        assert!(matches!(call.await.unwrap(), Err(StoreError::Unavailable(_))));
    }
    store.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    assert_eq!(
        count(&counters, vec!["op:client:9".into()]).await.unwrap(),
        vec![9]
    );
    let counted: Vec<String> = store.batches().into_iter().flatten().flatten().collect();
    assert!(
        !counted.contains(&"op:client:2".to_owned()),
        "the call that gave up in the queue was counted: {counted:?}"
    );
    assert!(counted.contains(&"op:client:9".to_owned()));
}
