//! `SessionStore` in process: signed-in sessions indexed by owner, session routes and reset marks.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Expiring, MemoryStore};
use crate::{
    domain::{
        device::{DeviceInfo, NewDevice},
        grant::{GrantOwner, TokenHash},
        session::{NewSession, SessionInfo},
    },
    recovery::ports::{SessionStore, StoreError},
};

struct Session {
    expires: Instant,
    expires_at: DateTime<Utc>,
    elevated_until: Option<DateTime<Utc>>,
    reauthenticated: bool,
}

#[derive(Default)]
pub(super) struct SessionState {
    /// Sessions per owner: the index that makes "revoke all" and "count" one step.
    sessions: HashMap<GrantOwner, HashMap<TokenHash, Session>>,
    routes: HashMap<TokenHash, GrantOwner>,
    reset_marks: HashMap<GrantOwner, Instant>,
    /// Devices by token hash; revoking an owner's devices walks them (a development store).
    devices: HashMap<TokenHash, (Instant, DeviceInfo)>,
}

impl Expiring for SessionState {
    fn sweep(&mut self, now: Instant) {
        for sessions in self.sessions.values_mut() {
            sessions.retain(|_, s| s.expires > now);
        }
        self.sessions.retain(|_, s| !s.is_empty());
        let SessionState { sessions, routes, .. } = self;
        routes.retain(|token, owner| sessions.get(owner).is_some_and(|s| s.contains_key(token)));
        self.reset_marks.retain(|_, until| *until > now);
        self.devices.retain(|_, (until, _)| *until > now);
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, owner: &GrantOwner, session: &NewSession) -> Result<(), StoreError> {
        self.sessions.with(|state, now| {
            state.sessions.entry(owner.clone()).or_default().insert(
                session.token.clone(),
                Session {
                    expires: now + session.ttl,
                    expires_at: Utc::now() + session.ttl,
                    elevated_until: session.elevated_until,
                    reauthenticated: false,
                },
            );
            state.routes.insert(session.token.clone(), owner.clone());
        })
    }

    async fn find_session(&self, token: &TokenHash) -> Result<Option<SessionInfo>, StoreError> {
        self.sessions.with(|state, _| {
            let owner = state.routes.get(token)?;
            let session = state.sessions.get(owner)?.get(token)?;
            Some(SessionInfo {
                owner: owner.clone(),
                token: token.clone(),
                expires_at: session.expires_at,
                elevated_until: session.elevated_until,
                reauthenticated: session.reauthenticated,
            })
        })
    }

    async fn elevate_session(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.sessions.with(
            |state, _| match state.sessions.get_mut(owner).and_then(|s| s.get_mut(token)) {
                Some(session) => {
                    session.elevated_until = Some(until);
                    session.reauthenticated = true;
                    true
                }
                None => false,
            },
        )
    }

    async fn revoke_session(&self, owner: &GrantOwner, token: &TokenHash) -> Result<(), StoreError> {
        self.sessions.with(|state, _| {
            if let Some(sessions) = state.sessions.get_mut(owner) {
                sessions.remove(token);
            }
            if state.routes.get(token) == Some(owner) {
                state.routes.remove(token);
            }
        })
    }

    async fn revoke_sessions(&self, owner: &GrantOwner, keep: Option<&TokenHash>) -> Result<u32, StoreError> {
        self.sessions.with(|state, _| {
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
        self.sessions.with(|state, _| {
            state
                .sessions
                .get(owner)
                .map_or(0, |s| u32::try_from(s.len()).unwrap_or(u32::MAX))
        })
    }

    async fn mark_reset(&self, owner: &GrantOwner, ttl: Duration) -> Result<(), StoreError> {
        self.sessions.with(|state, now| {
            state.reset_marks.insert(owner.clone(), now + ttl);
        })
    }

    async fn take_reset_mark(&self, owner: &GrantOwner) -> Result<bool, StoreError> {
        self.sessions
            .with(|state, _| state.reset_marks.remove(owner).is_some())
    }

    async fn create_device(&self, owner: &GrantOwner, device: &NewDevice) -> Result<(), StoreError> {
        self.sessions.with(|state, now| {
            let info = DeviceInfo {
                owner: owner.clone(),
                token: device.token.clone(),
                targets: device.targets.clone(),
            };
            state
                .devices
                .insert(device.token.clone(), (now + device.ttl, info));
        })
    }

    async fn find_device(&self, token: &TokenHash) -> Result<Option<DeviceInfo>, StoreError> {
        self.sessions
            .with(|state, _| state.devices.get(token).map(|(_, info)| info.clone()))
    }

    async fn revoke_devices(&self, owner: &GrantOwner) -> Result<u32, StoreError> {
        self.sessions.with(|state, _| {
            let before = state.devices.len();
            state.devices.retain(|_, (_, info)| info.owner != *owner);
            u32::try_from(before - state.devices.len()).unwrap_or(u32::MAX)
        })
    }
}
