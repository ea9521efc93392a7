//! The in-process adapter used when REDIS_URL is unset: one `MemoryStore` with the Redis adapter's
//! ports and semantics, expiry included, for one process. Each part's state sits behind the
//! lock-and-sweep wrapper below: every operation is atomic and drops what expired before it looks.
use std::{sync::Mutex, time::Instant};

use crate::recovery::ports::StoreError;

mod limiter;
mod sessions;
mod tokens;

/// State that knows what in it has expired.
trait Expiring: Default {
    fn sweep(&mut self, now: Instant);
}

/// The lock-and-sweep wrapper: one mutex per part, swept on every operation (cheap enough for a
/// development store).
#[derive(Default)]
struct Swept<T> {
    state: Mutex<T>,
}

impl<T: Expiring> Swept<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T, Instant) -> R) -> Result<R, StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::Internal("in-process store lock poisoned".into()))?;
        let now = Instant::now();
        state.sweep(now);
        Ok(f(&mut state, now))
    }
}

/// Grants, sessions and counters in this process.
#[derive(Default)]
pub struct MemoryStore {
    tokens: Swept<tokens::TokenState>,
    sessions: Swept<sessions::SessionState>,
    counters: Swept<limiter::Counters>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}
