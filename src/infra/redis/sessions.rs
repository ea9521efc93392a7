//! `SessionStore` on Redis: signed-in sessions in one hash per owner, session routes and reset marks.
//! Session times are Redis server time (`TIME` inside the scripts), so instances with skewed clocks
//! agree on which sessions are live; expired fields are pruned by every script that reads the hash.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{RedisStore, keys::Key, millis, saturating_u32, scripts::SCRIPTS};
use crate::{
    domain::{
        device::{DeviceInfo, NewDevice},
        grant::{GrantOwner, TokenHash},
        session::{NewSession, SessionInfo},
    },
    recovery::ports::{SessionStore, StoreError},
};

fn time_ms(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_session(&self, owner: &GrantOwner, session: &NewSession) -> Result<(), StoreError> {
        let ttl_ms = millis(session.ttl);
        let elevated = session.elevated_until.map_or_else(|| "0".to_owned(), time_ms);
        let args = [session.token.0.clone(), ttl_ms.to_string(), elevated];
        let _: i64 = self
            .invoke(&SCRIPTS.create_session, &[&self.key(Key::Sessions(owner))], &args)
            .await?;
        if ttl_ms <= 0 {
            return Ok(());
        }
        self.set_for(&self.key(Key::SessionRoute(&session.token)), &owner.tag(), ttl_ms)
            .await
    }

    async fn find_session(&self, token: &TokenHash) -> Result<Option<SessionInfo>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(Key::SessionRoute(token)));
        let Some(tag) = self.query::<Option<String>>(&cmd).await? else {
            return Ok(None);
        };
        let owner = GrantOwner::parse_tag(&tag)
            .ok_or_else(|| StoreError::Internal("redis: unreadable session route".into()))?;
        let reply: Option<Vec<i64>> = self
            .invoke(
                &SCRIPTS.find_session,
                &[&self.key(Key::Sessions(&owner))],
                std::slice::from_ref(&token.0),
            )
            .await?;
        let Some(reply) = reply else { return Ok(None) };
        let [expires_ms, elevated_ms, reauthenticated] = reply[..] else {
            return Err(StoreError::Internal("redis: unexpected session reply".into()));
        };
        let unreadable = || StoreError::Internal("redis: unreadable session times".into());
        let expires_at = DateTime::<Utc>::from_timestamp_millis(expires_ms).ok_or_else(unreadable)?;
        let elevated_until = match elevated_ms {
            0 => None,
            ms => Some(DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(unreadable)?),
        };
        Ok(Some(SessionInfo {
            owner,
            token: token.clone(),
            expires_at,
            elevated_until,
            reauthenticated: reauthenticated == 1,
        }))
    }

    async fn elevate_session(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let elevated: i64 = self
            .invoke(
                &SCRIPTS.elevate_session,
                &[&self.key(Key::Sessions(owner))],
                &[token.0.clone(), time_ms(until)],
            )
            .await?;
        Ok(elevated == 1)
    }

    async fn revoke_session(&self, owner: &GrantOwner, token: &TokenHash) -> Result<(), StoreError> {
        let _: i64 = self
            .invoke(
                &SCRIPTS.revoke_session,
                &[&self.key(Key::Sessions(owner))],
                std::slice::from_ref(&token.0),
            )
            .await?;
        // Tidying only: the route of another owner's session with this token is left alone.
        let _: i64 = self
            .invoke(
                &SCRIPTS.unroute,
                &[&self.key(Key::SessionRoute(token))],
                &[owner.tag()],
            )
            .await?;
        Ok(())
    }

    async fn revoke_sessions(&self, owner: &GrantOwner, keep: Option<&TokenHash>) -> Result<u32, StoreError> {
        let args = match keep {
            Some(token) => ["1".to_owned(), token.0.clone()],
            None => ["0".to_owned(), String::new()],
        };
        let revoked: i64 = self
            .invoke(
                &SCRIPTS.revoke_sessions,
                &[&self.key(Key::Sessions(owner))],
                &args,
            )
            .await?;
        Ok(saturating_u32(revoked))
    }

    async fn count_sessions(&self, owner: &GrantOwner) -> Result<u32, StoreError> {
        let count: i64 = self
            .invoke(&SCRIPTS.count_sessions, &[&self.key(Key::Sessions(owner))], &[])
            .await?;
        Ok(saturating_u32(count))
    }

    async fn mark_reset(&self, owner: &GrantOwner, ttl: Duration) -> Result<(), StoreError> {
        let ttl_ms = millis(ttl);
        let key = self.key(Key::ResetMark(owner));
        if ttl_ms > 0 {
            return self.set_for(&key, "1", ttl_ms).await;
        }
        // A mark that expires at once replaces (kills) the old one.
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&key);
        self.query::<()>(&cmd).await
    }

    async fn take_reset_mark(&self, owner: &GrantOwner) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(Key::ResetMark(owner)));
        let mark: Option<String> = self.query(&cmd).await?;
        Ok(mark.is_some())
    }

    async fn create_device(&self, owner: &GrantOwner, device: &NewDevice) -> Result<(), StoreError> {
        let ttl_ms = millis(device.ttl);
        if ttl_ms <= 0 {
            return Ok(());
        }
        let expires_ms = Utc::now().timestamp_millis().saturating_add(ttl_ms);
        // The hash lives as long as its longest-lived device: its expiry is set when it has none
        // (NX) and only ever pushed later (GT), never cut short by a device of a shorter life.
        let mut cmd = redis::pipe();
        let devices = self.key(Key::Devices(owner));
        cmd.hset(&devices, &device.token.0, expires_ms).ignore();
        for only in ["NX", "GT"] {
            cmd.cmd("PEXPIRE").arg(&devices).arg(ttl_ms).arg(only).ignore();
        }
        self.query_pipe::<()>(&cmd).await?;
        let route = std::iter::once(owner.tag())
            .chain(device.targets.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n");
        self.set_for(&self.key(Key::DeviceRoute(&device.token)), &route, ttl_ms)
            .await
    }

    async fn find_device(&self, token: &TokenHash) -> Result<Option<DeviceInfo>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(Key::DeviceRoute(token)));
        let Some(route) = self.query::<Option<String>>(&cmd).await? else {
            return Ok(None);
        };
        let mut lines = route.split('\n');
        let owner = lines
            .next()
            .and_then(GrantOwner::parse_tag)
            .ok_or_else(|| StoreError::Internal("redis: unreadable device route".into()))?;
        // The owner's hash decides: a revoked device's route may outlive it.
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.key(Key::Devices(&owner))).arg(&token.0);
        let expires_ms: Option<i64> = self.query(&cmd).await?;
        if expires_ms.is_none_or(|ms| ms <= Utc::now().timestamp_millis()) {
            return Ok(None);
        }
        Ok(Some(DeviceInfo {
            owner,
            token: token.clone(),
            targets: lines.map(str::to_owned).collect(),
        }))
    }

    async fn revoke_devices(&self, owner: &GrantOwner) -> Result<u32, StoreError> {
        let devices = self.key(Key::Devices(owner));
        let mut cmd = redis::pipe();
        cmd.hlen(&devices).del(&devices).ignore();
        let (count,): (i64,) = self.query_pipe(&cmd).await?;
        Ok(saturating_u32(count))
    }
}
