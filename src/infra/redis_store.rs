//! The Redis `TokenStore` (single node or Redis Cluster): grants, code attempts, burnt-grant markers,
//! cooldowns and token routes, each deciding operation one Lua script over one member's hash-tagged keys.
//!
//! Key layout (`P` = the configured prefix, `T` = `GrantOwner::tag()`):
//!
//! | key | type | TTL | holds |
//! |---|---|---|---|
//! | `P:{m:T}:grant` | hash | the grant's ttl | `id`, `purpose`, `token` (hash), `code` (hash, if any), `attempts`, `expires_at_ms` |
//! | `P:{m:T}:cooldown` | string | the cooldown | `1` while a new grant is refused |
//! | `P:{m:T}:fails` | string | `member_window`, set when created | wrong codes of the member in the window |
//! | `P:{m:T}:burnt` | string | what was left of the burnt grant's ttl | `1`: codes answer `TooMany` until a new grant |
//! | `P:tok:<token hash>` | string | the grant's ttl | the owner tag (routing only: the grant decides) |
//!
//! The owner keys share the hash tag `{m:T}`, so every script touches one slot (Redis Cluster safe);
//! the route key lives in its own slot and is written by a separate `SET … PX` after the script.
use std::{future::Future, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{
    Cmd, ErrorKind, FromRedisValue, RedisError, RedisFuture, RedisResult, Script, ServerErrorKind, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};

use crate::{
    domain::grant::{
        AttemptLimits, CodeCheck, CodeHash, GrantInfo, GrantOwner, GrantProof, GrantPurpose, IssueOutcome,
        NewGrant, TokenHash,
    },
    recovery::ports::{StoreError, TokenStore},
};

/// Shared by every script: a constant-time comparison and the grant writer.
const PRELUDE: &str = r#"
local function same(a, b)
  if type(a) ~= 'string' or type(b) ~= 'string' then return false end
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    diff = bit.bor(diff, bit.bxor(string.byte(a, i), string.byte(b, i)))
  end
  return diff == 0
end

-- Replaces the grant at `key` with the one in ARGV[a .. a+6]
-- (id, purpose, token, has_code, code, ttl_ms, expires_at_ms) and clears the burnt marker.
local function put_grant(key, burnt, a)
  redis.call('DEL', key, burnt)
  local ttl = tonumber(ARGV[a + 5])
  if ttl > 0 then
    redis.call('HSET', key, 'id', ARGV[a], 'purpose', ARGV[a + 1], 'token', ARGV[a + 2],
      'attempts', 0, 'expires_at_ms', ARGV[a + 6])
    if ARGV[a + 3] == '1' then redis.call('HSET', key, 'code', ARGV[a + 4]) end
    redis.call('PEXPIRE', key, ttl)
  end
end

-- KEYS: grant, fails, burnt. ARGV[1..4]: code, per_grant, per_member, window_ms.
-- Member window first; a right code is not counted; a wrong one counts against the member and the
-- grant, and the per_grant-th wrong one burns the grant.
local function judge()
  local per_grant = tonumber(ARGV[2])
  local per_member = tonumber(ARGV[3])
  local fails = tonumber(redis.call('GET', KEYS[2]) or '0')
  if fails >= per_member then return {'too_many'} end
  local g = redis.call('HMGET', KEYS[1], 'id', 'purpose', 'code', 'attempts', 'expires_at_ms')
  if not g[1] and redis.call('EXISTS', KEYS[3]) == 1 then return {'too_many'} end
  if g[1] and same(g[3], ARGV[1]) then
    if tonumber(g[4]) >= per_grant then return {'too_many'} end
    return {'valid', g[1], g[2], g[5]}
  end
  fails = redis.call('INCR', KEYS[2])
  if redis.call('PTTL', KEYS[2]) == -1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
  if g[1] and g[3] then
    local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
    if attempts >= per_grant then
      local left = redis.call('PTTL', KEYS[1])
      redis.call('DEL', KEYS[1])
      if left > 0 then redis.call('SET', KEYS[3], '1', 'PX', left) end
      return {'too_many'}
    end
  end
  if fails >= per_member then return {'too_many'} end
  return {'wrong'}
end
"#;

/// KEYS: grant, cooldown, burnt. ARGV: cooldown_ms (-1: none), then the grant (7 values).
const ISSUE: &str = r#"
local cooldown = tonumber(ARGV[1])
if cooldown >= 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
  if cooldown > 0 then redis.call('SET', KEYS[2], '1', 'PX', cooldown) end
end
put_grant(KEYS[1], KEYS[3], 2)
return 1
"#;

/// KEYS: grant. ARGV: token hash.
const CHECK_TOKEN: &str = r#"
local g = redis.call('HMGET', KEYS[1], 'id', 'purpose', 'token', 'expires_at_ms')
if g[1] and same(g[3], ARGV[1]) then return {'valid', g[1], g[2], g[4]} end
return false
"#;

/// KEYS: grant, fails, burnt. ARGV: see `judge`.
const CHECK_CODE: &str = r#"
return judge()
"#;

/// KEYS: grant, fails, burnt. ARGV: see `judge`, then the replacement grant (7 values).
const EXCHANGE_CODE: &str = r#"
local r = judge()
if r[1] == 'valid' then
  put_grant(KEYS[1], KEYS[3], 5)
  return {'valid', ARGV[5], ARGV[6], ARGV[11]}
end
return r
"#;

/// KEYS: grant. ARGV: field (`token` or `code`), proof hash.
const SPEND: &str = r#"
if same(redis.call('HGET', KEYS[1], ARGV[1]), ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

/// KEYS: grant. ARGV: code hash. Reads only: counts nothing.
const CODE_MATCHES: &str = r#"
if same(redis.call('HGET', KEYS[1], 'code'), ARGV[1]) then return 1 end
return 0
"#;

/// KEYS: grant. ARGV: grant id.
const IS_LIVE: &str = r#"
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then return 1 end
return 0
"#;

/// KEYS: grant, burnt.
const REVOKE: &str = r#"
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"#;

struct Scripts {
    issue: Script,
    check_token: Script,
    check_code: Script,
    exchange_code: Script,
    spend: Script,
    code_matches: Script,
    is_live: Script,
    revoke: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Scripts {
            issue: script(ISSUE),
            check_token: script(CHECK_TOKEN),
            check_code: script(CHECK_CODE),
            exchange_code: script(EXCHANGE_CODE),
            spend: script(SPEND),
            code_matches: script(CODE_MATCHES),
            is_live: script(IS_LIVE),
            revoke: script(REVOKE),
        }
    }
}

/// One connection for either deployment; both are cheap to clone and multiplexed.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Grants in Redis, shared by every instance of the service.
pub struct RedisTokenStore {
    conn: Conn,
    pub(super) prefix: String,
    timeout: Duration,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("cluster", &matches!(self.conn, Conn::Cluster(_)))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The keys of one owner; they share the hash tag `{m:<tag>}`.
struct OwnerKeys {
    grant: String,
    cooldown: String,
    fails: String,
    burnt: String,
}

/// Maps a Redis error to the port's error by kind only: the text may hold a URL with a password.
fn store_error(e: &RedisError) -> StoreError {
    let unavailable = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_cluster_error()
        || matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::Server(ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::ReadOnly)
        );
    let what = format!("redis: {}", e.category());
    if unavailable {
        StoreError::Unavailable(what)
    } else {
        StoreError::Internal(what)
    }
}

/// Runs one Redis command (or connection attempt) under the store's timeout.
async fn timed<T>(timeout: Duration, fut: impl Future<Output = RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(store_error(&e)),
        Err(_) => Err(StoreError::Unavailable("redis: timed out".into())),
    }
}

/// Whole milliseconds for Redis, rounding a non-zero sub-millisecond duration up to 1.
pub(super) fn millis(d: Duration) -> i64 {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    if ms == 0 && !d.is_zero() { 1 } else { ms }
}

/// The node list when `url` names a cluster (`redis+cluster://`, `rediss+cluster://`, or a
/// comma-separated list), with the scheme turned back into `redis://`/`rediss://`. Entries without a
/// scheme (`redis+cluster://:pw@a:6379,b:6379`) take the first entry's scheme and credentials.
fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let url = url.trim();
    let is_cluster =
        url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://") || url.contains(',');
    if !is_cluster {
        return None;
    }
    let translate = |item: &str| -> String {
        if let Some(rest) = item.strip_prefix("redis+cluster://") {
            format!("redis://{rest}")
        } else if let Some(rest) = item.strip_prefix("rediss+cluster://") {
            format!("rediss://{rest}")
        } else {
            item.to_owned()
        }
    };
    let items: Vec<&str> = url.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let first = translate(items.first()?);
    // `scheme://` plus `user:pass@` when the first entry has them.
    let base = first.split_once("://").map(|(scheme, rest)| {
        let userinfo = rest
            .split('/')
            .next()
            .and_then(|authority| authority.rsplit_once('@'));
        match userinfo {
            Some((userinfo, _)) => format!("{scheme}://{userinfo}@"),
            None => format!("{scheme}://"),
        }
    });
    let nodes = items
        .iter()
        .map(|item| {
            let node = translate(item);
            match &base {
                Some(base) if !node.contains("://") => format!("{base}{node}"),
                _ => node,
            }
        })
        .collect();
    Some(nodes)
}

/// Reads a `{'valid', id, purpose, expires_at_ms}` reply.
fn grant_info(reply: &[String]) -> Result<GrantInfo, StoreError> {
    let [_, id, purpose, expires_at_ms] = reply else {
        return Err(StoreError::Internal("redis: unexpected grant reply".into()));
    };
    let purpose = GrantPurpose::from_code(purpose)
        .ok_or_else(|| StoreError::Internal("redis: unknown grant purpose".into()))?;
    let expires_at = expires_at_ms
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| StoreError::Internal("redis: unreadable grant expiry".into()))?;
    Ok(GrantInfo {
        id: id.clone(),
        purpose,
        expires_at,
    })
}

/// Reads a `judge` reply.
fn code_check(reply: &[String]) -> Result<CodeCheck, StoreError> {
    match reply.first().map(String::as_str) {
        Some("valid") => Ok(CodeCheck::Valid(grant_info(reply)?)),
        Some("wrong") => Ok(CodeCheck::Wrong),
        Some("too_many") => Ok(CodeCheck::TooMany),
        _ => Err(StoreError::Internal("redis: unexpected code reply".into())),
    }
}

/// The 7 script arguments that describe a grant to store, and its ttl in milliseconds.
fn grant_args(grant: &NewGrant) -> (Vec<String>, i64) {
    let ttl_ms = millis(grant.ttl);
    let expires_at_ms = Utc::now().timestamp_millis().saturating_add(ttl_ms);
    let args = vec![
        grant.id.clone(),
        grant.purpose.code().to_owned(),
        grant.token.0.clone(),
        if grant.code.is_some() { "1" } else { "0" }.to_owned(),
        grant.code.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
        ttl_ms.to_string(),
        expires_at_ms.to_string(),
    ];
    (args, ttl_ms)
}

fn limit_args(code: &CodeHash, limits: &AttemptLimits) -> [String; 4] {
    [
        code.0.clone(),
        limits.per_grant.to_string(),
        limits.per_member.to_string(),
        millis(limits.member_window).to_string(),
    ]
}

impl RedisTokenStore {
    /// Connects to a single node (`redis://`, `rediss://`) through a reconnecting connection
    /// manager, or to a cluster (`redis+cluster://`, `rediss+cluster://`, or a comma-separated list
    /// of node URLs). `prefix` starts every key; `timeout` bounds connecting and every command.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<RedisTokenStore, StoreError> {
        if prefix.contains(['{', '}']) {
            return Err(StoreError::Internal(
                "redis: the key prefix may not contain braces".into(),
            ));
        }
        let conn = match cluster_nodes(url) {
            Some(nodes) => {
                let client = ClusterClient::builder(nodes)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .build()
                    .map_err(|e| store_error(&e))?;
                Conn::Cluster(timed(timeout, client.get_async_connection()).await?)
            }
            None => {
                let client = redis::Client::open(url.trim()).map_err(|e| store_error(&e))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(timeout);
                Conn::Single(timed(timeout, ConnectionManager::new_with_config(client, config)).await?)
            }
        };
        Ok(RedisTokenStore {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            scripts: Scripts::new(),
        })
    }

    fn owner_keys(&self, owner: &GrantOwner) -> OwnerKeys {
        let base = format!("{}:{{m:{}}}", self.prefix, owner.tag());
        OwnerKeys {
            grant: format!("{base}:grant"),
            cooldown: format!("{base}:cooldown"),
            fails: format!("{base}:fails"),
            burnt: format!("{base}:burnt"),
        }
    }

    fn route_key(&self, token: &TokenHash) -> String {
        format!("{}:tok:{}", self.prefix, token.0)
    }

    pub(super) async fn invoke<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[String],
    ) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        timed(self.timeout, invocation.invoke_async(&mut conn)).await
    }

    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        timed(self.timeout, cmd.query_async(&mut conn)).await
    }

    /// Points the grant's token at its owner for as long as the grant lives.
    async fn set_route(&self, owner: &GrantOwner, grant: &NewGrant, ttl_ms: i64) -> Result<(), StoreError> {
        if ttl_ms <= 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.route_key(&grant.token))
            .arg(owner.tag())
            .arg("PX")
            .arg(ttl_ms);
        self.query::<()>(&cmd).await
    }
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn issue_grant(
        &self,
        owner: &GrantOwner,
        grant: &NewGrant,
        cooldown: Option<Duration>,
    ) -> Result<IssueOutcome, StoreError> {
        let keys = self.owner_keys(owner);
        let (grant_args, ttl_ms) = grant_args(grant);
        let mut args = vec![cooldown.map_or(-1, millis).to_string()];
        args.extend(grant_args);
        let issued: i64 = self
            .invoke(
                &self.scripts.issue,
                &[&keys.grant, &keys.cooldown, &keys.burnt],
                &args,
            )
            .await?;
        if issued == 0 {
            return Ok(IssueOutcome::CoolingDown);
        }
        self.set_route(owner, grant, ttl_ms).await?;
        Ok(IssueOutcome::Issued)
    }

    async fn owner_of_token(&self, token: &TokenHash) -> Result<Option<GrantOwner>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.route_key(token));
        let tag: Option<String> = self.query(&cmd).await?;
        tag.map(|tag| {
            GrantOwner::parse_tag(&tag)
                .ok_or_else(|| StoreError::Internal("redis: unreadable token route".into()))
        })
        .transpose()
    }

    async fn check_token(
        &self,
        owner: &GrantOwner,
        token: &TokenHash,
    ) -> Result<Option<GrantInfo>, StoreError> {
        let keys = self.owner_keys(owner);
        let reply: Option<Vec<String>> = self
            .invoke(
                &self.scripts.check_token,
                &[&keys.grant],
                std::slice::from_ref(&token.0),
            )
            .await?;
        reply.as_deref().map(grant_info).transpose()
    }

    async fn check_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        limits: &AttemptLimits,
    ) -> Result<CodeCheck, StoreError> {
        let keys = self.owner_keys(owner);
        let reply: Vec<String> = self
            .invoke(
                &self.scripts.check_code,
                &[&keys.grant, &keys.fails, &keys.burnt],
                &limit_args(code, limits),
            )
            .await?;
        code_check(&reply)
    }

    async fn exchange_code(
        &self,
        owner: &GrantOwner,
        code: &CodeHash,
        replacement: &NewGrant,
        limits: &AttemptLimits,
    ) -> Result<CodeCheck, StoreError> {
        let keys = self.owner_keys(owner);
        let (grant_args, ttl_ms) = grant_args(replacement);
        let mut args = limit_args(code, limits).to_vec();
        args.extend(grant_args);
        let reply: Vec<String> = self
            .invoke(
                &self.scripts.exchange_code,
                &[&keys.grant, &keys.fails, &keys.burnt],
                &args,
            )
            .await?;
        let check = code_check(&reply)?;
        if matches!(check, CodeCheck::Valid(_)) {
            self.set_route(owner, replacement, ttl_ms).await?;
        }
        Ok(check)
    }

    async fn spend_grant(&self, owner: &GrantOwner, proof: &GrantProof) -> Result<bool, StoreError> {
        let keys = self.owner_keys(owner);
        let args = match proof {
            GrantProof::Token(t) => ["token".to_owned(), t.0.clone()],
            GrantProof::Code(c) => ["code".to_owned(), c.0.clone()],
        };
        let spent: i64 = self.invoke(&self.scripts.spend, &[&keys.grant], &args).await?;
        Ok(spent == 1)
    }

    async fn code_matches(&self, owner: &GrantOwner, code: &CodeHash) -> Result<bool, StoreError> {
        let keys = self.owner_keys(owner);
        let matches: i64 = self
            .invoke(
                &self.scripts.code_matches,
                &[&keys.grant],
                std::slice::from_ref(&code.0),
            )
            .await?;
        Ok(matches == 1)
    }

    async fn grant_is_live(&self, owner: &GrantOwner, grant_id: &str) -> Result<bool, StoreError> {
        let keys = self.owner_keys(owner);
        let live: i64 = self
            .invoke(&self.scripts.is_live, &[&keys.grant], &[grant_id.to_owned()])
            .await?;
        Ok(live == 1)
    }

    async fn revoke_grants(&self, owner: &GrantOwner) -> Result<(), StoreError> {
        let keys = self.owner_keys(owner);
        let _: i64 = self
            .invoke(&self.scripts.revoke, &[&keys.grant, &keys.burnt], &[])
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls_are_single_node() {
        assert_eq!(cluster_nodes("redis://127.0.0.1:6379"), None);
        assert_eq!(cluster_nodes("rediss://:pw@cache.example:6380/0"), None);
    }

    #[test]
    fn cluster_urls_become_node_lists() {
        assert_eq!(
            cluster_nodes("redis+cluster://10.0.0.1:7000").unwrap(),
            vec!["redis://10.0.0.1:7000".to_owned()]
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://u:pw@a:7000,b:7001").unwrap(),
            vec![
                "rediss://u:pw@a:7000".to_owned(),
                "rediss://u:pw@b:7001".to_owned()
            ]
        );
        assert_eq!(
            cluster_nodes("redis://a:7000, redis://b:7001").unwrap(),
            vec!["redis://a:7000".to_owned(), "redis://b:7001".to_owned()]
        );
    }

    #[test]
    fn durations_round_up_to_a_millisecond() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(60)), 60_000);
    }
}
