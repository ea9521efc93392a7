//! The in-process `SessionStore` and `Limiter` used when REDIS_URL is unset: the same semantics
//! as the Redis adapter (one mutex makes each operation atomic), with expiry. One process only.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        grant::{GrantOwner, TokenHash},
        session::{LimitDecision, NewSession, SessionInfo},
    },
    recovery::ports::{Limiter, SessionStore, StoreError},
};

struct Session {
    expires: Instant,
    expires_at: DateTime<Utc>,
    elevated_until: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct State {
    /// Sessions per owner: the index that makes "revoke all" and "count" one step.
    sessions: HashMap<GrantOwner, HashMap<TokenHash, Session>>,
    routes: HashMap<TokenHash, GrantOwner>,
    reset_marks: HashMap<GrantOwner, Instant>,
    counters: HashMap<String, (u32, Instant)>,
}

#[derive(Default)]
pub struct MemorySessionStore {
    state: Mutex<State>,
}

impl MemorySessionStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State, Instant) -> T) -> Result<T, StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::Internal("session store lock poisoned".into()))?;
        let now = Instant::now();
        for sessions in state.sessions.values_mut() {
            sessions.retain(|_, s| s.expires > now);
        }
        state.sessions.retain(|_, s| !s.is_empty());
        let State { sessions, routes, .. } = &mut *state;
        routes.retain(|token, owner| sessions.get(owner).is_some_and(|s| s.contains_key(token)));
        state.reset_marks.retain(|_, until| *until > now);
        state.counters.retain(|_, (_, until)| *until > now);
        Ok(f(&mut state, now))
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create_session(&self, owner: &GrantOwner, session: &NewSession) -> Result<(), StoreError> {
        self.with(|state, now| {
            state.sessions.entry(owner.clone()).or_default().insert(
                session.token.clone(),
                Session {
                    expires: now + session.ttl,
                    expires_at: Utc::now() + session.ttl,
                    elevated_until: session.elevated_until,
                },
            );
            state.routes.insert(session.token.clone(), owner.clone());
        })
    }

    async fn find_session(&self, token: &TokenHash) -> Result<Option<SessionInfo>, StoreError> {
        self.with(|state, _| {
            let owner = state.routes.get(token)?;
            let session = state.sessions.get(owner)?.get(token)?;
            Some(SessionInfo {
                owner: owner.clone(),
                token: token.clone(),
                expires_at: session.expires_at,
                elevated_until: session.elevated_until,
            })
        })
    }

    async fn elevate_session(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(
            |state, _| match state.sessions.get_mut(owner).and_then(|s| s.get_mut(token)) {
                Some(session) => {
                    session.elevated_until = Some(until);
                    true
                }
                None => false,
            },
        )
    }

    async fn revoke_session(&self, owner: &GrantOwner, token: &TokenHash) -> Result<(), StoreError> {
        self.with(|state, _| {
            if let Some(sessions) = state.sessions.get_mut(owner) {
                sessions.remove(token);
            }
            if state.routes.get(token) == Some(owner) {
                state.routes.remove(token);
            }
        })
    }

    async fn revoke_sessions(&self, owner: &GrantOwner, keep: Option<&TokenHash>) -> Result<u32, StoreError> {
        self.with(|state, _| {
            let Some(sessions) = state.sessions.get_mut(owner) else {
                return 0;
            };
            let before = sessions.len();
            sessions.retain(|token, _| Some(token) == keep);
            let revoked = before - sessions.len();
            u32::try_from(revoked).unwrap_or(u32::MAX)
        })
    }

    async fn count_sessions(&self, owner: &GrantOwner) -> Result<u32, StoreError> {
        self.with(|state, _| {
            state
                .sessions
                .get(owner)
                .map_or(0, |s| u32::try_from(s.len()).unwrap_or(u32::MAX))
        })
    }

    async fn mark_reset(&self, owner: &GrantOwner, ttl: Duration) -> Result<(), StoreError> {
        self.with(|state, now| {
            state.reset_marks.insert(owner.clone(), now + ttl);
        })
    }

    async fn take_reset_mark(&self, owner: &GrantOwner) -> Result<bool, StoreError> {
        self.with(|state, _| state.reset_marks.remove(owner).is_some())
    }
}

#[async_trait]
impl Limiter for MemorySessionStore {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<LimitDecision, StoreError> {
        self.with(|state, now| {
            let entry = state.counters.entry(key.to_owned()).or_insert((0, now + window));
            entry.0 = entry.0.saturating_add(1);
            LimitDecision {
                allowed: entry.0 <= limit,
                count: entry.0,
                retry_after: entry.1.saturating_duration_since(now),
            }
        })
    }

    async fn peek(&self, key: &str, limit: u32) -> Result<LimitDecision, StoreError> {
        self.with(|state, now| match state.counters.get(key) {
            Some((count, until)) => LimitDecision {
                allowed: *count < limit,
                count: *count,
                retry_after: until.saturating_duration_since(now),
            },
            None => LimitDecision {
                allowed: true,
                count: 0,
                retry_after: Duration::ZERO,
            },
        })
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.with(|state, _| {
            state.counters.remove(key);
        })
    }
}
