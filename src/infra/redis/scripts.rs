//! The Lua scripts of the Redis adapter: each deciding operation is one script over the keys of one
//! owner (see `keys.rs`), so it is atomic on a single node and on Redis Cluster alike.
use std::sync::LazyLock;

use redis::Script;

// ---- tokens ----

/// Shared by every script: a constant-time comparison and the grant writer.
const GRANT_PRELUDE: &str = r#"
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
-- (id, purpose, token, has_code, code, ttl_ms, expires_at_ms).
local function put_grant(key, a)
  redis.call('DEL', key)
  local ttl = tonumber(ARGV[a + 5])
  if ttl > 0 then
    redis.call('HSET', key, 'id', ARGV[a], 'purpose', ARGV[a + 1], 'token', ARGV[a + 2],
      'expires_at_ms', ARGV[a + 6])
    if ARGV[a + 3] == '1' then redis.call('HSET', key, 'code', ARGV[a + 4]) end
    redis.call('PEXPIRE', key, ttl)
  end
end

-- KEYS: grant. ARGV[1..2]: code, grant id. The grant's reply when it is that grant and that code.
local function grant_with_code()
  local g = redis.call('HMGET', KEYS[1], 'id', 'purpose', 'code', 'expires_at_ms')
  if g[1] and g[1] == ARGV[2] and same(g[3], ARGV[1]) then return {'valid', g[1], g[2], g[4]} end
  return false
end
"#;

/// KEYS: grant, cooldown. ARGV: cooldown_ms (-1: none), then the grant (7 values).
/// Issuing the grant that is already live (same id: a handed-off request resolved again) changes
/// nothing and answers issued, whatever the cooldown.
const ISSUE: &str = r#"
if redis.call('HGET', KEYS[1], 'id') == ARGV[2] then return 1 end
local cooldown = tonumber(ARGV[1])
if cooldown >= 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
  if cooldown > 0 then redis.call('SET', KEYS[2], '1', 'PX', cooldown) end
end
put_grant(KEYS[1], 2)
return 1
"#;

/// KEYS: grant. ARGV: token hash.
const CHECK_TOKEN: &str = r#"
local g = redis.call('HMGET', KEYS[1], 'id', 'purpose', 'token', 'expires_at_ms')
if g[1] and same(g[3], ARGV[1]) then return {'valid', g[1], g[2], g[4]} end
return false
"#;

/// KEYS: code_failures, then the code's entry under each key of the ring (one identifier's slot).
/// ARGV: limit, window_ms. Found: the entry and which of the entries (0-based). At the limit the
/// code is not looked at; a found entry counts nothing; a miss counts one failure (the first starts
/// the window), the limit-th answers too_many. The same commands run whoever the identifier names.
const JUDGE_CODE: &str = r#"
local limit = tonumber(ARGV[1])
local fails = tonumber(redis.call('GET', KEYS[1]) or '0')
if fails >= limit then return {'too_many'} end
for i = 2, #KEYS do
  local entry = redis.call('GET', KEYS[i])
  if entry then return {'found', entry, tostring(i - 2)} end
end
fails = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if fails >= limit then return {'too_many'} end
return {'wrong'}
"#;

/// KEYS: code_failures (one identifier's slot). ARGV: limit, window_ms.
/// A recovery code's attempt, counted before the code is looked at (in the database): -1 at the
/// limit (nothing counted), else the count with this attempt (the first starts the window).
const RESERVE_CODE_ATTEMPT: &str = r#"
local limit = tonumber(ARGV[1])
local fails = tonumber(redis.call('GET', KEYS[1]) or '0')
if fails >= limit then return -1 end
fails = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return fails
"#;

/// KEYS: code_failures. Gives back one reserved attempt (the code was right); the window stays.
const RELEASE_CODE_ATTEMPT: &str = r#"
local fails = tonumber(redis.call('GET', KEYS[1]) or '0')
if fails > 0 then redis.call('DECR', KEYS[1]) end
return 1
"#;

/// KEYS: grant. ARGV: code, grant id.
const CHECK_CODE: &str = r#"
return grant_with_code()
"#;

/// KEYS: grant. ARGV: code, grant id, then the replacement grant (7 values).
const EXCHANGE_CODE: &str = r#"
if not grant_with_code() then return false end
put_grant(KEYS[1], 3)
return {'valid', ARGV[3], ARGV[4], ARGV[9]}
"#;

/// KEYS: grant. ARGV: field (`token` or `code`), proof hash.
const SPEND: &str = r#"
if same(redis.call('HGET', KEYS[1], ARGV[1]), ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

/// KEYS: grant. ARGV: grant id.
const IS_LIVE: &str = r#"
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then return 1 end
return 0
"#;

/// KEYS: grant.
const REVOKE: &str = r#"
redis.call('DEL', KEYS[1])
return 1
"#;

// ---- sessions ----

/// Shared by the session scripts: server time, the field format and pruning.
const SESSION_PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- '<expires_at_ms>|<elevated_until_ms or 0>[|p]' -> expires, elevated, reauthenticated (1 when the
-- elevation came from the password typed again: '|p'); nil when absent or unreadable.
local function parse(v)
  if type(v) ~= 'string' then return nil end
  local e, u, p = string.match(v, '^(%-?%d+)|(%-?%d+)(|?p?)$')
  if not e then return nil end
  local reauthenticated = 0
  if p == '|p' then reauthenticated = 1 end
  return tonumber(e), tonumber(u), reauthenticated
end

local function field(expires, elevated, reauthenticated)
  if reauthenticated then return string.format('%d|%s|p', expires, elevated) end
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

/// KEYS: sessions. ARGV: token hash. Returns {expires_at_ms, elevated_until_ms, reauthenticated} or nil.
const FIND: &str = r#"
prune(KEYS[1], now_ms(), false)
local e, u, p = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if not e then return false end
return {e, u, p}
"#;

/// KEYS: sessions. ARGV: token hash, elevated_until_ms. The expiry stays; the elevation is marked
/// as the password's (reauthenticate).
const ELEVATE: &str = r#"
prune(KEYS[1], now_ms(), false)
local e = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if not e then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], field(e, ARGV[2], true))
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

// ---- limiter ----

/// KEYS: the counters of one or more calls, call after call (one slot: see keys.rs). ARGV: for each
/// call, its number of counters n, then each counter's window_ms and limit in turn. Each call is
/// counted like HIT on each of its keys in turn, stopping after its first counter over its limit
/// (its later ones are not counted). Returns, call after call, {m, count1, pttl1, ..., countm,
/// pttlm} for the m counters it counted.
const HIT_CALLS: &str = r#"
local out = {}
local a, k = 1, 1
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local at = #out + 1
  out[at] = 0
  local stopped = false
  for _ = 1, n do
    local key, window, limit = KEYS[k], ARGV[a], tonumber(ARGV[a + 1])
    k, a = k + 1, a + 2
    if not stopped then
      local count = redis.call('INCR', key)
      if count == 1 then redis.call('PEXPIRE', key, window) end
      local pttl = redis.call('PTTL', key)
      if pttl == -1 then
        redis.call('PEXPIRE', key, window)
        pttl = tonumber(window)
      end
      out[at] = out[at] + 1
      out[#out + 1] = count
      out[#out + 1] = pttl
      stopped = count > limit
    end
  end
end
return out
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

// ---- reset hand-off ----

/// KEYS: stream. ARGV: group, consumer, min_idle_ms, cursor, count. Creates the group when missing
/// (from the stream's start, so nothing handed off earlier is skipped), takes over entries idle
/// longer than the lease, then reads new ones. Returns {next_cursor, taken_over, new}.
const CLAIM_RESETS: &str = r#"
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local n = tonumber(ARGV[5])
local auto = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', n)
local taken = auto[2]
local fresh = {}
if n - #taken > 0 then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', n - #taken, 'STREAMS', KEYS[1], '>')
  if r then fresh = r[1][2] end
end
return {auto[1], taken, fresh}
"#;

/// KEYS: stream. ARGV: group, then entry ids. Acknowledged entries are deleted, so the stream's
/// length is the backlog.
const ACK_RESETS: &str = r#"
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
"#;

/// Every script, compiled once (the SHA is computed here; Redis caches the body on first use).
pub struct Scripts {
    pub issue: Script,
    pub check_token: Script,
    pub judge_code: Script,
    pub reserve_code_attempt: Script,
    pub release_code_attempt: Script,
    pub check_code: Script,
    pub exchange_code: Script,
    pub spend: Script,
    pub is_live: Script,
    pub revoke_grants: Script,
    pub create_session: Script,
    pub find_session: Script,
    pub elevate_session: Script,
    pub revoke_session: Script,
    pub revoke_sessions: Script,
    pub count_sessions: Script,
    pub unroute: Script,
    pub hit: Script,
    pub hit_calls: Script,
    pub peek: Script,
    pub claim_resets: Script,
    pub ack_resets: Script,
}

pub static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let token = |body: &str| Script::new(&format!("{GRANT_PRELUDE}{body}"));
    let session = |body: &str| Script::new(&format!("{SESSION_PRELUDE}{body}"));
    Scripts {
        issue: token(ISSUE),
        check_token: token(CHECK_TOKEN),
        judge_code: Script::new(JUDGE_CODE),
        reserve_code_attempt: Script::new(RESERVE_CODE_ATTEMPT),
        release_code_attempt: Script::new(RELEASE_CODE_ATTEMPT),
        check_code: token(CHECK_CODE),
        exchange_code: token(EXCHANGE_CODE),
        spend: token(SPEND),
        is_live: token(IS_LIVE),
        revoke_grants: token(REVOKE),
        create_session: session(CREATE),
        find_session: session(FIND),
        elevate_session: session(ELEVATE),
        revoke_session: session(REVOKE_ONE),
        revoke_sessions: session(REVOKE_ALL),
        count_sessions: session(COUNT),
        unroute: Script::new(UNROUTE),
        hit: Script::new(HIT),
        hit_calls: Script::new(HIT_CALLS),
        peek: Script::new(PEEK),
        claim_resets: Script::new(CLAIM_RESETS),
        ack_resets: Script::new(ACK_RESETS),
    }
});
