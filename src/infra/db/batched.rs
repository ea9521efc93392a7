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
        batch_queue::{ask, next_batch},
        db::shapes,
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
    fn start(lookups: &impl Fn() -> Arc<dyn MemberBatchLookup>, limit: Duration) -> Self {
        let (queue, requests) = flume::bounded(QUEUE);
        for _ in 0..WORKERS {
            tokio::spawn(work::<K>(lookups(), requests.clone()));
        }
        Batcher { queue, limit }
    }

    async fn find(&self, site: &SiteId, key: &K::Key) -> Result<K::Answer, StoreError> {
        let lookup = |reply| Lookup {
            site: site.clone(),
            key: key.clone(),
            reply,
        };
        ask(&self.queue, lookup, self.limit, "member lookups").await
    }
}

/// Takes the first waiting lookup, then every other one already queued (up to `MAX_BATCH`), and
/// answers them with one query per site. With nothing left waiting, `inner` is told it is idle.
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
        if requests.is_empty() {
            inner.idle().await;
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
    /// Starts the workers (call inside the runtime), each with the batch lookups `lookups` gives
    /// it; `limit` bounds each batched lookup's whole wait. Those lookups should have their own
    /// deadline per call, so that a stuck query frees its worker.
    pub fn new(lookups: impl Fn() -> Arc<dyn MemberBatchLookup>, limit: Duration) -> Self {
        Batched {
            by_login_id: Batcher::start(&lookups, limit),
            by_email: Batcher::start(&lookups, limit),
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
mod tests;
