//! Password hashing: argon2id PHC strings and legacy bcrypt verification on a fixed pool of
//! `HASH_CONCURRENCY` threads, each reusing one argon2 memory block while busy (given back when
//! idle), so at most that many hashes ever run and memory stays bounded.
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash,
    password_hash::phc::{Output, ParamsString, Salt},
};
use async_trait::async_trait;
use tokio::sync::oneshot;

use super::hash_memory::{self, Area};
use crate::{
    domain::{member::StoredHash, password::Password},
    recovery::ports::{HashError, PasswordHasher, Verification},
};

/// The argon2id cost of new hashes; a stored hash with weaker ones is rehashed at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Argon2Settings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A pool thread's argon2 working area, reused by every hash it runs; none while it is idle.
type Memory = Option<Area>;
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Jobs queued per thread before callers wait (asynchronously) to hand theirs over.
const QUEUE_PER_THREAD: usize = 4;

/// How long a pool thread keeps its argon2 memory without work (a sign-in now and then pays one
/// fresh allocation; a busy pool never does).
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Argon2Hasher {
    params: Params,
    jobs: flume::Sender<Job>,
    load: Arc<HashLoad>,
    /// A real hash of a random password, verified for unknown accounts so timing reveals nothing.
    dummy: StoredHash,
}

/// Hashes running right now and the most ever seen at once: the cap made observable.
#[derive(Default)]
pub struct HashLoad {
    running: AtomicUsize,
    peak: AtomicUsize,
    /// Hashes whose caller had gone by the time they finished.
    orphaned: AtomicUsize,
    /// Argon2 working areas the pool threads hold now.
    areas: AtomicUsize,
}

impl HashLoad {
    fn start(self: &Arc<Self>) -> Running {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let peak = self.peak.fetch_max(now, Ordering::SeqCst).max(now);
        // Added and taken away, not set: two threads' `set`s can land in either order, and the
        // gauge then stayed at 1 with the pool idle.
        metrics::gauge!("password_hash_in_flight").increment(1.0);
        metrics::gauge!("password_hash_in_flight_max").set(peak as f64);
        Running(self.clone())
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn orphaned(&self) -> usize {
        self.orphaned.load(Ordering::SeqCst)
    }

    /// Argon2 working areas held by the pool threads right now (at most one each).
    pub fn areas(&self) -> usize {
        self.areas.load(Ordering::SeqCst)
    }
}

/// Held by a pool thread for exactly as long as one hash runs.
struct Running(Arc<HashLoad>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("password_hash_in_flight").decrement(1.0);
    }
}

/// Counts a caller waiting to hand its job to the pool, however the wait ends.
struct Waiting;

impl Waiting {
    fn new() -> Waiting {
        metrics::gauge!("password_hash_waiting").increment(1.0);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!("password_hash_waiting").decrement(1.0);
    }
}

impl Argon2Hasher {
    pub fn new(settings: Argon2Settings, concurrency: usize) -> Result<Self, HashError> {
        Self::with_idle_release(settings, concurrency, IDLE_RELEASE)
    }

    /// As `new`, each pool thread giving its memory back after `idle_release` without work.
    fn with_idle_release(
        settings: Argon2Settings,
        concurrency: usize,
        idle_release: std::time::Duration,
    ) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| HashError::Internal(format!("argon2 parameters: {e}")))?;
        let mut random = [0u8; 32];
        rand::fill(&mut random);
        // In an area of its own, unmapped right after: an idle instance holds no hashing memory.
        let dummy = hash_into(&params, &random, &mut Some(memory_for(&params)?))?;
        let threads = concurrency.max(1);
        let (jobs, queue) = flume::bounded::<Job>(threads * QUEUE_PER_THREAD);
        let load = Arc::new(HashLoad::default());
        for n in 0..threads {
            let queue = queue.clone();
            let params = params.clone();
            let load = load.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || pool_thread(&params, &queue, idle_release, &load))
                .map_err(|e| HashError::Internal(format!("starting a hashing thread: {e}")))?;
        }
        metrics::gauge!("password_hash_in_flight").set(0.0);
        Ok(Argon2Hasher {
            params,
            jobs,
            load,
            dummy,
        })
    }

    /// How many hashes run now and the most that ever ran at once (also `/metrics` gauges).
    pub fn load(&self) -> Arc<HashLoad> {
        self.load.clone()
    }

    /// Runs `work` on a pool thread and waits for its answer. Once a thread has started the job
    /// it finishes it even if this future is dropped, and only then takes the next one, so the
    /// cap holds for the life of every hash. A job whose caller left before it started is skipped.
    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (reply, answer) = oneshot::channel();
        let load = self.load.clone();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |memory| {
            if reply.is_closed() {
                metrics::counter!("password_hash_abandoned_total").increment(1);
                return;
            }
            let _running = load.start();
            metrics::counter!("password_hash_total").increment(1);
            if reply.send(span.in_scope(|| work(memory))).is_err() {
                // The caller left while its hash ran: the thread was still busy until now.
                load.orphaned.fetch_add(1, Ordering::SeqCst);
                metrics::counter!("password_hash_orphaned_total").increment(1);
            }
        });
        let waiting = Waiting::new();
        self.jobs
            .send_async(job)
            .await
            .map_err(|_| HashError::Internal("hashing threads stopped".into()))?;
        drop(waiting);
        answer
            .await
            .map_err(|_| HashError::Internal("a hashing thread failed".into()))
    }
}

/// A pool thread: takes its working area when work comes and gives it back to the system after
/// `IDLE_RELEASE` without any, so an idle instance holds no hashing memory. Ends when the hasher
/// (the only sender) is dropped.
fn pool_thread(
    params: &Params,
    queue: &flume::Receiver<Job>,
    idle_release: std::time::Duration,
    load: &HashLoad,
) {
    let mut memory: Memory = None;
    loop {
        match queue.recv_timeout(idle_release) {
            Ok(job) => {
                if memory.is_none() {
                    // When the area cannot be had, the job gets none and answers an error.
                    memory = memory_for(params).ok();
                    if memory.is_some() {
                        load.areas.fetch_add(1, Ordering::SeqCst);
                    }
                }
                job(&mut memory);
            }
            Err(flume::RecvTimeoutError::Timeout) => {
                if memory.take().is_some() {
                    load.areas.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A working area for `params`; an error, not an abort, when it cannot be had (a stored hash
/// may name any memory cost).
fn memory_for(params: &Params) -> Result<Area, HashError> {
    Area::new(params.block_count())
}

/// The thread's area, or the error of a thread that could not get one.
fn area_of<'a>(memory: &'a mut Memory, params: &Params) -> Result<&'a mut Area, HashError> {
    memory
        .as_mut()
        .ok_or_else(|| hash_memory::unavailable(params.block_count()))
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params.clone())
}

/// Hashes into `memory` with a fresh 16-byte salt and formats the PHC string exactly as
/// `argon2::PasswordHasher::hash_password` does (verified both ways by a unit test).
fn hash_into(params: &Params, password: &[u8], memory: &mut Memory) -> Result<StoredHash, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError::Internal(format!("argon2: {e}"));
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::fill(&mut salt);
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = &mut buffer[..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    argon2(params)
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut *out,
            area_of(memory, params)?.as_mut_slice(),
        )
        .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(out).map_err(|e| fail(&e))?),
    };
    Ok(StoredHash(phc.to_string()))
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| stored.starts_with(p)) && stored.len() == 60
}

fn verify_into(
    params: &Params,
    password: &[u8],
    stored: &str,
    memory: &mut Memory,
) -> Result<Verification, HashError> {
    if is_bcrypt(stored) {
        let matches = bcrypt::verify(password, stored).map_err(|_| HashError::UnsupportedHash)?;
        return Ok(Verification {
            matches,
            needs_rehash: true,
        });
    }
    let parsed = PasswordHash::new(stored).map_err(|_| HashError::UnsupportedHash)?;
    let algorithm = Algorithm::new(parsed.algorithm.as_str()).map_err(|_| HashError::UnsupportedHash)?;
    let version = parsed
        .version
        .map(argon2::Version::try_from)
        .transpose()
        .map_err(|_| HashError::UnsupportedHash)?
        .unwrap_or_default();
    let current = Params::try_from(&parsed).map_err(|_| HashError::UnsupportedHash)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(HashError::UnsupportedHash);
    };
    let needs_rehash = algorithm != Algorithm::Argon2id
        || current.m_cost() < params.m_cost()
        || current.t_cost() < params.t_cost()
        || current.p_cost() != params.p_cost();
    // A hash stored with more memory than configured (parameters since lowered) needs a larger
    // area for this one verification; it is freed right after.
    let mut larger;
    let area = area_of(memory, params)?;
    let area = if current.block_count() > area.blocks() {
        larger = memory_for(&current)?;
        &mut larger
    } else {
        area
    };
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = &mut buffer[..expected.len()];
    Argon2::new(algorithm, version, current)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut *out, area.as_mut_slice())
        .map_err(|e| HashError::Internal(format!("argon2: {e}")))?;
    // `Output` compares in constant time.
    let matches = Output::new(out).is_ok_and(|computed| &computed == expected);
    Ok(Verification {
        matches,
        needs_rehash,
    })
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<StoredHash, HashError> {
        let params = self.params.clone();
        let password = password.expose().as_bytes().to_vec();
        self.on_pool(move |memory| hash_into(&params, &password, memory))
            .await?
    }

    async fn verify(&self, password: &Password, stored: &StoredHash) -> Result<Verification, HashError> {
        let params = self.params.clone();
        let password = password.expose().as_bytes().to_vec();
        let stored = stored.0.clone();
        self.on_pool(move |memory| verify_into(&params, &password, &stored, memory))
            .await?
    }

    async fn verify_dummy(&self, password: &Password) {
        let _ = self.verify(password, &self.dummy.clone()).await;
    }

    fn is_supported_hash(&self, stored: &str) -> bool {
        if is_bcrypt(stored) {
            return stored.parse::<bcrypt::HashParts>().is_ok();
        }
        PasswordHash::new(stored)
            .ok()
            .is_some_and(|h| h.algorithm.as_str().starts_with("argon2") && Params::try_from(&h).is_ok())
    }
}

#[cfg(test)]
mod tests;
