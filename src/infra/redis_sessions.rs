//! The Redis `SessionStore` and `Limiter`: signed-in sessions, reset marks and fixed-window counters,
//! on the same `RedisTokenStore` connection, each deciding operation one Lua script or one command.
//!
//! Key layout (`P` = the configured prefix, `T` = `GrantOwner::tag()`):
//!
//! | key | type | TTL | holds |
//! |---|---|---|---|
//! | `P:{m:T}:sessions` | hash | the latest session expiry | field = session token hash, value = `<expires_at_ms>\|<elevated_until_ms or 0>` |
//! | `P:sess:<token hash>` | string | the session's ttl | the owner tag (routing only: the hash decides) |
//! | `P:{m:T}:reset_mark` | string | the mark's ttl | `1` until the next sign-in takes it (GETDEL) |
//! | `P:rl:<key>` | string | the window, set by the first hit | hits counted in the window |
//!
//! Session times are Redis server time (`TIME` inside the scripts), so instances with skewed clocks
//! agree on which sessions are live. Expired fields are pruned by every script that reads the hash.
//! The owner keys share the hash tag `{m:T}` with the grant keys (Redis Cluster safe); a route and a
//! counter each live alone in their own slot.
use std::{sync::LazyLock, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::Script;

use super::redis_store::{RedisTokenStore, millis};
use crate::{
    domain::{
        grant::{GrantOwner, TokenHash},
        session::{LimitDecision, NewSession, SessionInfo},
    },
    recovery::ports::{Limiter, SessionStore, StoreError},
};

/// Shared by the session scripts: server time, the field format and pruning.
const SESSION_PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- '<expires_at_ms>|<elevated_until_ms or 0>' -> expires, elevated; nil when absent or unreadable.
local function parse(v)
  if type(v) ~= 'string' then return nil end
  local e, u = string.match(v, '^(%-?%d+)|(%-?%d+)$')
  if not e then return nil end
  return tonumber(e), tonumber(u)
end

local function field(expires, elevated)
  return string.format('%d|%s', expires, elevated)
end

-- Deletes the expired (and unreadable) sessions of hash `key`. When a field went (here, or by the
-- caller: `dirty`), the key's TTL is pulled in to the latest remaining expiry. Returns how many remain.
local function prune(key, now, dirty)
  local all = redis.call('HGETALL', key)
  local removed, remaining, latest = 0, 0, 0
  for i = 1, #all, 2 do
    local e = parse(all[i + 1])
    if not e or e <= now then
      redis.call('HDEL', key, all[i])
      removed = removed + 1
    else
      remaining = remaining + 1
      if e > latest then latest = e end
    end
  end
  if (removed > 0 or dirty) and remaining > 0 then redis.call('PEXPIRE', key, latest - now) end
  return remaining
end
"#;

/// KEYS: sessions. ARGV: token hash, ttl_ms, elevated_until_ms (0: none). Returns expires_at_ms (0 when
/// the ttl is not positive: nothing is stored).
const CREATE: &str = r#"
local now = now_ms()
local ttl = tonumber(ARGV[2])
prune(KEYS[1], now, false)
if ttl <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 0
end
local expires = now + ttl
redis.call('HSET', KEYS[1], ARGV[1], field(expires, ARGV[3]))
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return expires
"#;

/// KEYS: sessions. ARGV: token hash. Returns {expires_at_ms, elevated_until_ms} or nil.
const FIND: &str = r#"
prune(KEYS[1], now_ms(), false)
local e, u = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if not e then return false end
return {e, u}
"#;

/// KEYS: sessions. ARGV: token hash, elevated_until_ms. The expiry stays.
const ELEVATE: &str = r#"
prune(KEYS[1], now_ms(), false)
local e = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if not e then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], field(e, ARGV[2]))
return 1
"#;

/// KEYS: sessions. ARGV: token hash. Returns 1 when a live session went.
const REVOKE_ONE: &str = r#"
local now = now_ms()
local e = parse(redis.call('HGET', KEYS[1], ARGV[1]))
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
prune(KEYS[1], now, removed == 1)
if e and e > now then return 1 end
return 0
"#;

/// KEYS: sessions. ARGV: '1' and the token hash to keep, or '0' and ''. Returns how many live sessions
/// were revoked.
const REVOKE_ALL: &str = r#"
local now = now_ms()
local remaining = prune(KEYS[1], now, false)
if remaining == 0 then return 0 end
if ARGV[1] == '1' then
  local kept = parse(redis.call('HGET', KEYS[1], ARGV[2]))
  if kept then
    local revoked = 0
    for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
      if f ~= ARGV[2] then
        redis.call('HDEL', KEYS[1], f)
        revoked = revoked + 1
      end
    end
    if revoked > 0 then redis.call('PEXPIRE', KEYS[1], kept - now) end
    return revoked
  end
end
redis.call('DEL', KEYS[1])
return remaining
"#;

/// KEYS: sessions.
const COUNT: &str = r#"
return prune(KEYS[1], now_ms(), false)
"#;

/// KEYS: route. ARGV: owner tag. Deletes the route only when it points at that owner.
const UNROUTE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// KEYS: counter. ARGV: window_ms. The first hit starts the window. Returns {count, pttl}.
const HIT: &str = r#"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -1 then
  -- A counter without a window (written by something else): give it one, never count forever.
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  pttl = tonumber(ARGV[1])
end
return {count, pttl}
"#;

/// KEYS: counter. GET and PTTL in one read-only step. Returns {count, pttl}.
const PEEK: &str = r#"
local count = redis.call('GET', KEYS[1])
if not count then return {0, 0} end
return {tonumber(count) or 0, redis.call('PTTL', KEYS[1])}
"#;

struct SessionScripts {
    create: Script,
    find: Script,
    elevate: Script,
    revoke_one: Script,
    revoke_all: Script,
    count: Script,
    unroute: Script,
    hit: Script,
    peek: Script,
}

static SCRIPTS: LazyLock<SessionScripts> = LazyLock::new(|| {
    let session = |body: &str| Script::new(&format!("{SESSION_PRELUDE}{body}"));
    SessionScripts {
        create: session(CREATE),
        find: session(FIND),
        elevate: session(ELEVATE),
        revoke_one: session(REVOKE_ONE),
        revoke_all: session(REVOKE_ALL),
        count: session(COUNT),
        unroute: Script::new(UNROUTE),
        hit: Script::new(HIT),
        peek: Script::new(PEEK),
    }
});

fn time_ms(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

fn saturating_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

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

impl RedisTokenStore {
    fn sessions_key(&self, owner: &GrantOwner) -> String {
        format!("{}:{{m:{}}}:sessions", self.prefix, owner.tag())
    }

    fn reset_mark_key(&self, owner: &GrantOwner) -> String {
        format!("{}:{{m:{}}}:reset_mark", self.prefix, owner.tag())
    }

    fn session_route_key(&self, token: &TokenHash) -> String {
        format!("{}:sess:{}", self.prefix, token.0)
    }

    fn counter_key(&self, key: &str) -> String {
        format!("{}:rl:{key}", self.prefix)
    }
}

#[async_trait]
impl SessionStore for RedisTokenStore {
    async fn create_session(&self, owner: &GrantOwner, session: &NewSession) -> Result<(), StoreError> {
        let ttl_ms = millis(session.ttl);
        let elevated = session.elevated_until.map_or_else(|| "0".to_owned(), time_ms);
        let args = [session.token.0.clone(), ttl_ms.to_string(), elevated];
        let _: i64 = self
            .invoke(&SCRIPTS.create, &[&self.sessions_key(owner)], &args)
            .await?;
        if ttl_ms <= 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.session_route_key(&session.token))
            .arg(owner.tag())
            .arg("PX")
            .arg(ttl_ms);
        self.query::<()>(&cmd).await
    }

    async fn find_session(&self, token: &TokenHash) -> Result<Option<SessionInfo>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.session_route_key(token));
        let Some(tag) = self.query::<Option<String>>(&cmd).await? else {
            return Ok(None);
        };
        let owner = GrantOwner::parse_tag(&tag)
            .ok_or_else(|| StoreError::Internal("redis: unreadable session route".into()))?;
        let reply: Option<Vec<i64>> = self
            .invoke(
                &SCRIPTS.find,
                &[&self.sessions_key(&owner)],
                std::slice::from_ref(&token.0),
            )
            .await?;
        let Some(reply) = reply else { return Ok(None) };
        let [expires_ms, elevated_ms] = reply[..] else {
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
                &SCRIPTS.elevate,
                &[&self.sessions_key(owner)],
                &[token.0.clone(), time_ms(until)],
            )
            .await?;
        Ok(elevated == 1)
    }

    async fn revoke_session(&self, owner: &GrantOwner, token: &TokenHash) -> Result<(), StoreError> {
        let _: i64 = self
            .invoke(
                &SCRIPTS.revoke_one,
                &[&self.sessions_key(owner)],
                std::slice::from_ref(&token.0),
            )
            .await?;
        // Tidying only: the route of another owner's session with this token is left alone.
        let _: i64 = self
            .invoke(
                &SCRIPTS.unroute,
                &[&self.session_route_key(token)],
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
            .invoke(&SCRIPTS.revoke_all, &[&self.sessions_key(owner)], &args)
            .await?;
        Ok(saturating_u32(revoked))
    }

    async fn count_sessions(&self, owner: &GrantOwner) -> Result<u32, StoreError> {
        let count: i64 = self
            .invoke(&SCRIPTS.count, &[&self.sessions_key(owner)], &[])
            .await?;
        Ok(saturating_u32(count))
    }

    async fn mark_reset(&self, owner: &GrantOwner, ttl: Duration) -> Result<(), StoreError> {
        let ttl_ms = millis(ttl);
        let key = self.reset_mark_key(owner);
        let cmd = if ttl_ms > 0 {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg("1").arg("PX").arg(ttl_ms);
            cmd
        } else {
            // A mark that expires at once replaces (kills) the old one.
            let mut cmd = redis::cmd("DEL");
            cmd.arg(&key);
            cmd
        };
        self.query::<()>(&cmd).await
    }

    async fn take_reset_mark(&self, owner: &GrantOwner) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.reset_mark_key(owner));
        let mark: Option<String> = self.query(&cmd).await?;
        Ok(mark.is_some())
    }
}

#[async_trait]
impl Limiter for RedisTokenStore {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<LimitDecision, StoreError> {
        let reply: Vec<i64> = self
            .invoke(
                &SCRIPTS.hit,
                &[&self.counter_key(key)],
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

    async fn peek(&self, key: &str, limit: u32) -> Result<LimitDecision, StoreError> {
        let reply: Vec<i64> = self.invoke(&SCRIPTS.peek, &[&self.counter_key(key)], &[]).await?;
        let (count, retry_after) = counter(&reply)?;
        Ok(LimitDecision {
            allowed: count < limit,
            count,
            retry_after: if count == 0 { Duration::ZERO } else { retry_after },
        })
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.counter_key(key));
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
}
