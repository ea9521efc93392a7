//! Single-member lookups of the light queries gathered into one query for many: a
//! [`MemberLookup`] over the batch lookups, for `checkLoginId` (by login ID) and `findId` (by e-mail). A known and
//! an unknown key take the same path and the same query.
//!
//! Each kind of lookup has a few workers that take requests from one queue. An idle worker takes
//! a request at once, so a lone lookup waits for nothing; under load, the requests that arrive
//! while a worker's query runs go out together in its next one (`IN (…)`, at most `MAX_BATCH`
//! keys). The database then serves one statement, one round trip and one pool checkout for many
//! requests instead of one each. A lookup is queued when it is asked for, so its query starts
//! after it: it sees every write committed before it, as a query of its own would. The caller's
//! deadline (DB_TIMEOUT_MS) covers its whole wait, in the queue and in the query: a stuck
//! database is SERVICE_UNAVAILABLE for every waiting lookup after that long, as it was unbatched.
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::{
    domain::{email::Email, login_id::LoginId, member::Member, site::SiteId},
    infra::{
        batch_queue::next_batch,
        db::{shapes, timeouts::within},
    },
    recovery::ports::{MemberBatchLookup, MemberLookup, StoreError},
};

/// Most keys in one query. Key lists are padded to a power of two up to this (by repeating the
/// last key), so each connection prepares at most seven statement shapes per kind, not one per
/// batch size.
const MAX_BATCH: usize = 64;

/// Queries of each kind that run at once.
const WORKERS: usize = 2;

/// Lookups waiting for a worker, per kind: far more than the connections a service accepts.
const QUEUE: usize = 8192;

type Found<'a> = Pin<Box<dyn Future<Output = Result<Vec<Member>, StoreError>> + Send + 'a>>;

/// One kind of single lookup and the batch query that answers many of them.
trait Kind: Send + Sync + 'static {
    type Key: Clone + Send + Sync + 'static;
    type Answer: Send + 'static;
    fn fetch<'a>(dir: &'a dyn MemberBatchLookup, site: &'a SiteId, keys: &'a [Self::Key]) -> Found<'a>;
    /// What the database compares: two keys with the same one find the same members.
    fn compared(key: &Self::Key) -> String;
    /// The same for a member found.
    fn compared_of(member: &Member) -> String;
    /// The answer from the members a key found, in the query's order.
    fn answer(matching: Vec<Member>) -> Self::Answer;
}

struct ByLoginId;

impl Kind for ByLoginId {
    type Key = LoginId;
    type Answer = Option<Member>;
    fn fetch<'a>(dir: &'a dyn MemberBatchLookup, site: &'a SiteId, keys: &'a [LoginId]) -> Found<'a> {
        dir.find_by_login_ids(site, keys)
    }
    fn compared(key: &LoginId) -> String {
        key.normalized()
    }
    fn compared_of(member: &Member) -> String {
        member.login_id.normalized()
    }
    fn answer(matching: Vec<Member>) -> Option<Member> {
        matching.into_iter().next()
    }
}

struct ByEmail;

impl Kind for ByEmail {
    type Key = Email;
    type Answer = Vec<Member>;
    fn fetch<'a>(dir: &'a dyn MemberBatchLookup, site: &'a SiteId, keys: &'a [Email]) -> Found<'a> {
        dir.find_by_emails(site, keys)
    }
    fn compared(key: &Email) -> String {
        key.as_str().to_owned()
    }
    fn compared_of(member: &Member) -> String {
        member.email.as_str().to_owned()
    }
    /// Every account of the address, oldest first.
    fn answer(matching: Vec<Member>) -> Vec<Member> {
        matching
    }
}

struct Lookup<K: Kind> {
    site: SiteId,
    key: K::Key,
    reply: oneshot::Sender<Result<K::Answer, StoreError>>,
}

/// The queue of one kind of lookup, served by its workers.
struct Batcher<K: Kind> {
    queue: flume::Sender<Lookup<K>>,
    limit: Duration,
}

impl<K: Kind> Batcher<K> {
    fn start(inner: Arc<dyn MemberBatchLookup>, limit: Duration) -> Self {
        let (queue, requests) = flume::bounded(QUEUE);
        for _ in 0..WORKERS {
            tokio::spawn(work::<K>(inner.clone(), requests.clone()));
        }
        Batcher { queue, limit }
    }

    async fn find(&self, site: &SiteId, key: &K::Key) -> Result<K::Answer, StoreError> {
        let gone = || StoreError::Unavailable("member lookups stopped".into());
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup {
            site: site.clone(),
            key: key.clone(),
            reply,
        };
        within(self.limit, async {
            self.queue.send_async(lookup).await.map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
        })
        .await
    }
}

/// Takes the first waiting lookup, then every other one already queued (up to `MAX_BATCH`), and
/// answers them with one query per site.
async fn work<K: Kind>(inner: Arc<dyn MemberBatchLookup>, requests: flume::Receiver<Lookup<K>>) {
    while let Some(mut batch) = next_batch(&requests, MAX_BATCH).await {
        // A caller that has gone (its request cancelled) costs no key.
        batch.retain(|l| !l.reply.is_closed());
        while let Some(site) = batch.first().map(|l| l.site.clone()) {
            let (same, rest): (Vec<_>, Vec<_>) = batch.into_iter().partition(|l| l.site == site);
            batch = rest;
            let compared: Vec<String> = same.iter().map(|l| K::compared(&l.key)).collect();
            let keys = padded(&compared, same.iter().map(|l| &l.key));
            let found = K::fetch(inner.as_ref(), &site, &keys).await.map(|found| {
                let keyed: Vec<(String, Member)> =
                    found.into_iter().map(|m| (K::compared_of(&m), m)).collect();
                keyed
            });
            for (lookup, key) in same.into_iter().zip(&compared) {
                let answer = match &found {
                    Ok(found) => Ok(K::answer(
                        found
                            .iter()
                            .filter(|(of, _)| of == key)
                            .map(|(_, m)| m.clone())
                            .collect(),
                    )),
                    Err(e) => Err(e.clone()),
                };
                let _ = lookup.reply.send(answer);
            }
        }
    }
}

/// One key per distinct compared value, padded to a power of two by repeating the last one.
fn padded<'a, T: Clone + 'a>(compared: &[String], keys: impl Iterator<Item = &'a T>) -> Vec<T> {
    let mut seen: Vec<&str> = Vec::new();
    let mut distinct: Vec<T> = Vec::new();
    for (value, key) in compared.iter().zip(keys) {
        if !seen.contains(&value.as_str()) {
            seen.push(value);
            distinct.push(key.clone());
        }
    }
    shapes::padded(distinct)
}

/// `find_by_login_id` and `find_by_email`, each answered by a batch query shared with the lookups
/// queued alongside it.
pub struct Batched {
    by_login_id: Batcher<ByLoginId>,
    by_email: Batcher<ByEmail>,
}

impl Batched {
    /// Starts the workers (call inside the runtime); `limit` bounds each batched lookup's whole
    /// wait. `inner` should have its own deadline per call, so that a stuck query frees its worker.
    pub fn new(inner: Arc<dyn MemberBatchLookup>, limit: Duration) -> Self {
        Batched {
            by_login_id: Batcher::start(inner.clone(), limit),
            by_email: Batcher::start(inner, limit),
        }
    }
}

#[async_trait]
impl MemberLookup for Batched {
    async fn find_by_login_id(
        &self,
        site: &SiteId,
        login_id: &LoginId,
    ) -> Result<Option<Member>, StoreError> {
        self.by_login_id.find(site, login_id).await
    }
    async fn find_by_email(&self, site: &SiteId, email: &Email) -> Result<Vec<Member>, StoreError> {
        self.by_email.find(site, email).await
    }
}

#[cfg(test)]
mod tests {
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
        let batched = Arc::new(Batched::new(directory.clone(), PATIENT));
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
        let owned =
            |site: &str, keys: &[&str]| (site.to_owned(), keys.iter().map(|k| k.to_string()).collect());
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
        let batched = Batched::new(directory.clone(), PATIENT);
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
        let batched = Arc::new(Batched::new(directory.clone(), PATIENT));
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
        let batched = Arc::new(Batched::new(directory.clone(), PATIENT));
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
        let batched = Arc::new(Batched::new(directory.clone(), Duration::from_millis(200)));
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
}
