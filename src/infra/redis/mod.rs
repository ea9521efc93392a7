//! The Redis adapter: one neutral `RedisStore` holding the connection (single node or Redis Cluster,
//! plain or TLS with an optional CA of its own), the key layout and the command timeout; one file per port.
use std::{future::Future, time::Duration};

use redis::{
    Cmd, ErrorKind, FromRedisValue, RedisError, RedisFuture, RedisResult, Script, ServerErrorKind,
    TlsCertificates, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};

use crate::recovery::ports::StoreError;

pub mod keys;
mod limiter;
pub mod reset_queue;
mod scripts;
mod sessions;
mod tokens;

use keys::{Key, KeyLayout};

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

/// Grants, sessions and counters in Redis, shared by every instance of the service.
pub struct RedisStore {
    conn: Conn,
    layout: KeyLayout,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &matches!(self.conn, Conn::Cluster(_)))
            .field("layout", &self.layout)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
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
fn millis(d: Duration) -> i64 {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    if ms == 0 && !d.is_zero() { 1 } else { ms }
}

/// A count from Redis as a `u32`, clamped (a negative or huge reply never wraps).
fn saturating_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
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

impl RedisStore {
    /// Connects to one node (`redis://`, `rediss://`, TLS checked against the system roots) or to a
    /// cluster (`redis+cluster://`, `rediss+cluster://`, or a comma-separated list of node URLs).
    /// `prefix` starts every key; `timeout` bounds connecting and every command.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        RedisStore::connect_trusting(url, prefix, timeout, None).await
    }

    /// As `connect`, with `ca_pem` (PEM CA certificates) trusted for TLS instead of the system
    /// roots: a server whose certificate that CA did not sign is refused.
    pub async fn connect_trusting(
        url: &str,
        prefix: &str,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<RedisStore, StoreError> {
        let layout = KeyLayout::new(prefix)
            .ok_or_else(|| StoreError::Internal("redis: the key prefix may not contain braces".into()))?;
        let certs = ca_pem.map(|pem| TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        });
        let conn = match cluster_nodes(url) {
            Some(nodes) => {
                let mut builder = ClusterClient::builder(nodes)
                    .connection_timeout(timeout)
                    .response_timeout(timeout);
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder.build().map_err(|e| store_error(&e))?;
                Conn::Cluster(timed(timeout, client.get_async_connection()).await?)
            }
            None => {
                let client = match certs {
                    Some(certs) => redis::Client::build_with_tls(url.trim(), certs),
                    None => redis::Client::open(url.trim()),
                }
                .map_err(|e| store_error(&e))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(timeout);
                Conn::Single(timed(timeout, ConnectionManager::new_with_config(client, config)).await?)
            }
        };
        Ok(RedisStore {
            conn,
            layout,
            timeout,
        })
    }

    fn key(&self, key: Key<'_>) -> String {
        self.layout.key(key)
    }

    /// Runs one script over `keys` (all in one slot: see `keys.rs`).
    async fn invoke<T: FromRedisValue>(
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

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        timed(self.timeout, cmd.query_async(&mut conn)).await
    }

    async fn query_pipe<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        timed(self.timeout, pipe.query_async(&mut conn)).await
    }

    /// `SET key value PX ttl_ms`: a route or a mark that lives as long as what it points at.
    async fn set_for(&self, key: &str, value: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("PX").arg(ttl_ms);
        self.query::<()>(&cmd).await
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
