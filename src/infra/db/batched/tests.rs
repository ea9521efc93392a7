use std::sync::Mutex;

use tokio::sync::Semaphore;

use chrono::Utc;

use super::*;
use crate::domain::member::{JoinType, MemberId, MemberStatus, MemberType};

fn member(site: &str, login_id: &str, email: &str, joined_days_ago: i64) -> Member {
    Member {
        id: MemberId(format!("{site}-{login_id}")),
        site_id: SiteId::parse(site).unwrap(),
        login_id: LoginId::parse(login_id).unwrap(),
        email: Email::parse(email).unwrap(),
        name: login_id.into(),
        member_type: MemberType::General,
        join_type: JoinType::Citizen,
        ci_hash: None,
        password_hash: None,
        password_changed_at: None,
        joined_at: Utc::now() - chrono::Duration::days(joined_days_ago),
        status: MemberStatus::Active,
        sign_in_locked: false,
        password_history: None,
    }
}

/// Members answered by the batch queries only, each query waiting for a permit of `gate`
/// and recorded with its site and keys.
struct Directory {
    members: Vec<Member>,
    gate: Semaphore,
    queries: Mutex<Vec<(String, Vec<String>)>>,
    failing: bool,
    /// How many times a worker said it had nothing waiting.
    idles: std::sync::atomic::AtomicUsize,
}

impl Directory {
    fn new(gate_open: bool, failing: bool) -> Arc<Directory> {
        Arc::new(Directory {
            members: vec![
                member("main", "alice", "shared@example.com", 30),
                member("main", "bob", "bob@example.com", 20),
                member("main", "carol", "shared@example.com", 40),
                member("other", "alice", "alice@other.example", 10),
            ],
            gate: Semaphore::new(if gate_open { Semaphore::MAX_PERMITS } else { 0 }),
            queries: Mutex::new(Vec::new()),
            failing,
            idles: Default::default(),
        })
    }

    async fn answer(
        &self,
        site: &SiteId,
        keys: Vec<String>,
        matches: impl Fn(&Member, &str) -> bool,
    ) -> Result<Vec<Member>, StoreError> {
        self.gate.acquire().await.unwrap().forget();
        self.queries
            .lock()
            .unwrap()
            .push((site.as_str().to_owned(), keys.clone()));
        if self.failing {
            return Err(StoreError::Unavailable("database down".into()));
        }
        let mut found: Vec<Member> = self
            .members
            .iter()
            .filter(|m| m.site_id == *site && keys.iter().any(|k| matches(m, k)))
            .cloned()
            .collect();
        found.sort_by_key(|m| m.joined_at);
        Ok(found)
    }

    fn queries(&self) -> Vec<(String, Vec<String>)> {
        self.queries.lock().unwrap().clone()
    }
}

#[async_trait]
impl MemberBatchLookup for Directory {
    async fn find_by_login_ids(&self, site: &SiteId, ids: &[LoginId]) -> Result<Vec<Member>, StoreError> {
        let keys = ids.iter().map(LoginId::normalized).collect();
        self.answer(site, keys, |m, k| m.login_id.normalized() == k).await
    }
    async fn find_by_emails(&self, site: &SiteId, emails: &[Email]) -> Result<Vec<Member>, StoreError> {
        let keys = emails.iter().map(|e| e.as_str().to_owned()).collect();
        self.answer(site, keys, |m, k| m.email.as_str() == k).await
    }
    async fn idle(&self) {
        self.idles.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A deadline no test here reaches.
const PATIENT: Duration = Duration::from_secs(60);

fn site(code: &str) -> SiteId {
    SiteId::parse(code).unwrap()
}

/// Spawns a login-ID lookup; its answer as the member ID, or the error.
fn spawn_login(
    batched: &Arc<Batched>,
    on: &str,
    login_id: &str,
) -> tokio::task::JoinHandle<Result<Option<String>, String>> {
    let (batched, on, login_id) = (batched.clone(), site(on), LoginId::parse(login_id).unwrap());
    tokio::spawn(async move {
        batched
            .find_by_login_id(&on, &login_id)
            .await
            .map(|m| m.map(|m| m.id.0))
            .map_err(|e| e.to_string())
    })
}

/// Two lone lookups, one taken by each worker, both held at the gate.
async fn occupy_both_workers(
    batched: &Arc<Batched>,
) -> [tokio::task::JoinHandle<Result<Option<String>, String>>; 2] {
    let first = spawn_login(batched, "main", "bob");
    settle().await;
    let second = spawn_login(batched, "main", "bob");
    settle().await;
    [first, second]
}

/// Lets the spawned lookups reach the queue (or a worker).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn lookups_queued_together_share_one_query_and_each_gets_its_own_answer() {
    let directory = Directory::new(false, false);
    let batched = Arc::new(Batched::new(|| directory.clone(), PATIENT));
    // Both workers busy, each with a lone lookup.
    let busy = occupy_both_workers(&batched).await;
    let asked = [
        ("main", "alice", Some("main-alice")),
        ("main", "ALICE", Some("main-alice")),
        ("main", "carol", Some("main-carol")),
        ("main", "nobody", None),
        ("main", "alice", Some("main-alice")),
        ("other", "alice", Some("other-alice")),
        ("other", "carol", None),
    ];
    let waiting: Vec<_> = asked
        .iter()
        .map(|(s, id, _)| spawn_login(&batched, s, id))
        .collect();
    settle().await;
    directory.gate.add_permits(100);
    for busy in busy {
        assert_eq!(busy.await.unwrap(), Ok(Some("main-bob".into())));
    }
    for ((s, id, expected), answer) in asked.iter().zip(waiting) {
        assert_eq!(answer.await.unwrap(), Ok(expected.map(str::to_owned)), "{s} {id}");
    }
    let queries = directory.queries();
    // Two lone queries, then one per site for the seven lookups queued behind them, each with
    // the distinct keys padded to a power of two.
    let owned = |site: &str, keys: &[&str]| (site.to_owned(), keys.iter().map(|k| k.to_string()).collect());
    assert_eq!(queries.len(), 4, "{queries:?}");
    let lone: (String, Vec<String>) = owned("main", &["bob"]);
    assert_eq!(queries.iter().filter(|q| **q == lone).count(), 2, "{queries:?}");
    assert!(
        queries.contains(&owned("main", &["alice", "carol", "nobody", "nobody"])),
        "{queries:?}"
    );
    assert!(
        queries.contains(&owned("other", &["alice", "carol"])),
        "{queries:?}"
    );
}

#[tokio::test]
async fn every_account_of_an_address_comes_back_oldest_first() {
    let directory = Directory::new(true, false);
    let batched = Batched::new(|| directory.clone(), PATIENT);
    let shared = Email::parse("shared@example.com").unwrap();
    let found = batched.find_by_email(&site("main"), &shared).await.unwrap();
    let ids: Vec<_> = found.iter().map(|m| m.id.0.as_str()).collect();
    assert_eq!(ids, ["main-carol", "main-alice"]);
    let unknown = Email::parse("nobody@example.com").unwrap();
    assert!(
        batched
            .find_by_email(&site("main"), &unknown)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        batched
            .find_by_email(&site("other"), &shared)
            .await
            .unwrap()
            .is_empty()
    );
    // Asked alone, each went out at once with its one key.
    assert!(directory.queries().iter().all(|(_, keys)| keys.len() == 1));
}

#[tokio::test]
async fn a_failed_query_fails_every_lookup_of_its_batch() {
    let directory = Directory::new(false, true);
    let batched = Arc::new(Batched::new(|| directory.clone(), PATIENT));
    let busy = occupy_both_workers(&batched).await;
    let waiting: Vec<_> = ["alice", "carol", "nobody"]
        .iter()
        .map(|id| spawn_login(&batched, "main", id))
        .collect();
    settle().await;
    directory.gate.add_permits(100);
    for answer in busy.into_iter().chain(waiting) {
        let error = answer.await.unwrap().unwrap_err();
        assert!(error.contains("database down"), "{error}");
    }
    assert_eq!(directory.queries().len(), 3);
}

#[tokio::test]
async fn a_cancelled_lookup_costs_its_batch_no_key() {
    let directory = Directory::new(false, false);
    let batched = Arc::new(Batched::new(|| directory.clone(), PATIENT));
    let busy = occupy_both_workers(&batched).await;
    let cancelled = spawn_login(&batched, "main", "carol");
    let kept = spawn_login(&batched, "main", "alice");
    settle().await;
    cancelled.abort();
    assert!(cancelled.await.unwrap_err().is_cancelled());
    directory.gate.add_permits(100);
    for busy in busy {
        busy.await.unwrap().unwrap();
    }
    assert_eq!(kept.await.unwrap(), Ok(Some("main-alice".into())));
    let queries = directory.queries();
    assert!(
        queries.contains(&("main".into(), vec!["alice".into()])),
        "{queries:?}"
    );
    assert!(
        !queries.iter().any(|(_, keys)| keys.contains(&"carol".into())),
        "{queries:?}"
    );
}

#[tokio::test]
async fn a_lookup_queued_behind_stuck_queries_gets_its_deadline() {
    let directory = Directory::new(false, false);
    let batched = Arc::new(Batched::new(|| directory.clone(), Duration::from_millis(200)));
    // Both workers held at the gate, their callers waiting.
    let busy = occupy_both_workers(&batched).await;
    let queued = spawn_login(&batched, "main", "alice");
    let answered = tokio::time::timeout(Duration::from_secs(5), queued).await;
    let error = answered.expect("answered at its deadline").unwrap().unwrap_err();
    assert!(error.contains("timed out"), "{error}");
    for busy in busy {
        assert!(busy.await.unwrap().unwrap_err().contains("timed out"));
    }
    // Nothing asked for alice: the worker that frees up finds her caller gone.
    directory.gate.add_permits(100);
    settle().await;
    assert!(
        !directory
            .queries()
            .iter()
            .any(|(_, keys)| keys.contains(&"alice".into()))
    );
}

#[test]
fn key_lists_keep_one_key_per_compared_value_padded_to_a_power_of_two() {
    fn padded(keys: &[&str]) -> Vec<String> {
        let compared: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        super::padded(&compared, keys.iter())
    }
    assert_eq!(padded(&["a", "A", "a"]), ["a"]);
    assert_eq!(padded(&["a", "b", "c"]), ["a", "b", "c", "c"]);
    assert_eq!(padded(&["a", "b", "A", "c", "d"]), ["a", "b", "c", "d"]);
    let many: Vec<String> = (0..33).chain(0..10).map(|n| n.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(padded(&many).len(), 64);
    assert!(padded(&[]).is_empty());
}

/// A worker that finds lookups waiting after a batch goes on with them, keeping what it holds
/// (its connection); only a worker with nothing waiting says it is idle.
#[tokio::test]
async fn a_worker_is_idle_only_when_nothing_waits() {
    let directory = Directory::new(false, false);
    let batched = Arc::new(Batched::new(|| directory.clone(), PATIENT));
    let busy = occupy_both_workers(&batched).await;
    let waiting: Vec<_> = ["alice", "carol", "nobody"]
        .into_iter()
        .map(|id| spawn_login(&batched, "main", id))
        .collect();
    settle().await;
    assert_eq!(directory.idles.load(std::sync::atomic::Ordering::SeqCst), 0);
    directory.gate.add_permits(100);
    for lookup in busy.into_iter().chain(waiting) {
        lookup.await.unwrap().unwrap();
    }
    settle().await;
    // Three batches: the first worker to finish took the three waiting lookups, so it was not
    // idle then; each worker was idle once at the end.
    assert_eq!(directory.queries().len(), 3, "{:?}", directory.queries());
    assert_eq!(directory.idles.load(std::sync::atomic::Ordering::SeqCst), 2);
}
