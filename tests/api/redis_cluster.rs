//! Redis Cluster: every key layout keeps one owner's keys in one slot (asked of the cluster itself),
//! and a master killed under traffic costs only `SERVICE_UNAVAILABLE` until its replica takes over.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use account_recovery::{
    domain::{grant::GrantOwner, member::MemberId, site::SiteId},
    infra::redis::{RedisStore, keys::KeyLayout},
};
use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, fresh_database, redis_cluster_url, redis_keys, scratch_dir, spawn_app_with, test_settings,
        unique_name,
    },
    session_store_contract::{run_limiter_contract, run_session_contract},
    token_store_contract::run_contract,
};

/// Where `.ci/redis-cluster.sh` lives.
fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/redis-cluster.sh")
}

/// A cluster of this test's own (3 masters + 3 replicas), stopped by pid when dropped.
struct OwnCluster {
    dir: PathBuf,
    base: u16,
    url: String,
}

impl OwnCluster {
    fn start(base: u16) -> OwnCluster {
        let dir = scratch_dir().join("cluster");
        let out = Command::new(cluster_script())
            .args(["start", dir.to_str().unwrap(), &base.to_string()])
            .output()
            .expect("run .ci/redis-cluster.sh");
        assert!(
            out.status.success(),
            "the test cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        OwnCluster { dir, base, url }
    }

    fn ports(&self) -> impl Iterator<Item = u16> {
        self.base..self.base + 6
    }

    fn pid(&self, port: u16) -> i32 {
        let text = std::fs::read_to_string(self.dir.join(port.to_string()).join("redis.pid")).unwrap();
        text.trim().parse().unwrap()
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(cluster_script())
            .args(["stop", self.dir.to_str().unwrap()])
            .status();
    }
}

async fn node(port: u16) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn is_master(conn: &mut redis::aio::MultiplexedConnection) -> bool {
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(conn).await.unwrap();
    matches!(&role[0], redis::Value::BulkString(r) if r == b"master")
}

/// The ports of the nodes listed in a `redis+cluster://a:1,b:2` URL.
fn cluster_ports(url: &str) -> Vec<u16> {
    url.trim_start_matches("redis+cluster://")
        .split(',')
        .map(|node| node.rsplit(':').next().unwrap().parse().unwrap())
        .collect()
}

/// The keys one atomic operation may touch (one owner's) hash to one slot, by CLUSTER KEYSLOT.
#[tokio::test]
async fn the_keys_of_one_owner_share_a_slot_on_the_cluster() {
    let Some(url) = redis_cluster_url() else { return };
    let mut conn = node(cluster_ports(&url)[0]).await;
    let layout = KeyLayout::new("ar").unwrap();
    let mut slots_seen = std::collections::BTreeSet::new();
    for i in 0..50u32 {
        let owner = GrantOwner {
            site: SiteId::parse(if i.is_multiple_of(2) { "main" } else { "shop-2" }).unwrap(),
            member: MemberId(uuid::Uuid::new_v4().to_string()),
        };
        let mut slots = Vec::new();
        for key in layout.owner_keys(&owner) {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("CLUSTER KEYSLOT");
            slots.push((key, slot));
        }
        let first = slots[0].1;
        assert!(slots.iter().all(|(_, s)| *s == first), "{slots:?}");
        slots_seen.insert(first);
    }
    // Owners spread over the cluster rather than all landing on one slot.
    assert!(slots_seen.len() > 40, "{slots_seen:?}");
}

/// What the store really writes on the cluster: every key is one of the layout's, and the keys of
/// one owner sit in one slot.
#[tokio::test]
async fn every_key_the_store_writes_follows_the_layout() {
    let Some(url) = redis_cluster_url() else { return };
    let prefix = unique_name();
    let store = RedisStore::connect(&url, &prefix, Duration::from_secs(2))
        .await
        .expect("connect to the cluster");
    run_contract(&store).await;
    run_session_contract(&store).await;
    run_limiter_contract(&store).await;

    let layout = KeyLayout::new(&prefix).unwrap();
    let mut slot_of_owner: HashMap<String, u16> = HashMap::new();
    let mut slot_of_identifier: HashMap<String, u16> = HashMap::new();
    let mut kinds = std::collections::BTreeSet::new();
    for port in cluster_ports(&url) {
        let mut conn = node(port).await;
        if !is_master(&mut conn).await {
            continue;
        }
        for key in redis_keys(&mut conn, &format!("{prefix}:*")).await {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            let rest = &key[prefix.len() + 1..];
            if let Some(tagged) = rest.strip_prefix("{m:") {
                let (tag, _) = tagged.split_once('}').expect("a closed hash tag");
                let owner = GrantOwner::parse_tag(tag).expect("an owner tag");
                assert!(
                    layout.owner_keys(&owner).contains(&key),
                    "{key} is not in the layout"
                );
                let first = *slot_of_owner.entry(tag.to_owned()).or_insert(slot);
                assert_eq!(slot, first, "{key} is not in its owner's slot");
                kinds.insert(key.rsplit(':').next().unwrap().to_owned());
            } else if let Some(tagged) = rest.strip_prefix("{i:") {
                // An identifier's keys: its failure counter and its code index entries.
                let (tag, name) = tagged.split_once("}:").expect("a closed hash tag");
                let kind = match name.split_once(':') {
                    Some(("code", hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => "code",
                    None if name == "code_failures" => "code_failures",
                    _ => panic!("{key} is not in the layout"),
                };
                let first = *slot_of_identifier.entry(tag.to_owned()).or_insert(slot);
                assert_eq!(slot, first, "{key} is not in its identifier's slot");
                kinds.insert(kind.to_owned());
            } else {
                let kind = rest.split(':').next().unwrap();
                assert!(
                    ["tok", "sess", "dev", "rl", "once"].contains(&kind),
                    "{key} is not in the layout"
                );
                kinds.insert(kind.to_owned());
            }
        }
    }
    // The contracts leave most kinds behind; a layout change that stops writing them shows here.
    for kind in [
        "grant",
        "cooldown",
        "sessions",
        "devices",
        "tok",
        "sess",
        "dev",
        "rl",
        "once",
        "code",
        "code_failures",
    ] {
        assert!(kinds.contains(kind), "no {kind} key written: {kinds:?}");
    }
    assert!(slot_of_owner.len() > 10, "{} owners", slot_of_owner.len());
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

const ISSUE: &str = "mutation { issueResetToken(by: {identity: {loginId: \"alice01\", ci: \"CI-ALICE\"}}) { token errors { code } } }";
const CODE: &str = "mutation { verifyResetToken(credential: {code: {loginId: \"alice01\", code: \"123456\"}}) { valid errors { code } } }";

/// What one request during the failover may answer: served rightly, or `SERVICE_UNAVAILABLE`.
#[derive(Debug, PartialEq)]
enum Answer {
    Served,
    Unavailable,
}

fn judge(query: &str, body: &Value) -> Answer {
    if code(body) == "SERVICE_UNAVAILABLE" {
        assert!(body["data"].is_null(), "no partial answer: {body}");
        return Answer::Unavailable;
    }
    assert!(
        body["errors"].is_null(),
        "only SERVICE_UNAVAILABLE may fail: {body}"
    );
    if query == ISSUE {
        let payload = &body["data"]["issueResetToken"];
        assert!(payload["token"].is_string(), "{body}");
    } else {
        // A wrong code is wrong or, once counted often enough, too many: never valid, never "none".
        let payload = &body["data"]["verifyResetToken"];
        assert_eq!(payload["valid"], false, "{body}");
        let code = payload["errors"][0]["code"].as_str().unwrap_or("");
        assert!(code == "INVALID_CODE" || code == "TOO_MANY_ATTEMPTS", "{body}");
    }
    Answer::Served
}

/// The failover test runs on a cluster of its own (ports 17010–17015): killing a master of the
/// shared cluster would fail the contract tests running on it at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_costs_only_service_unavailable_until_its_replica_takes_over() {
    if redis_cluster_url().is_none() {
        return;
    }
    let cluster = OwnCluster::start(17010);
    let backend = Backend::Sqlite;
    let db = fresh_database(&backend).await;
    let prefix = unique_name();
    let settings = test_settings(&db, &[("REDIS_URL", &cluster.url), ("REDIS_KEY_PREFIX", &prefix)]);
    let app = spawn_app_with(&backend, settings).await.with_fixture().await;
    assert_eq!(judge(ISSUE, &app.graphql(ISSUE, json!({})).await), Answer::Served);

    // The master that holds alice's grant (and so every key of hers).
    let mut victim = None;
    let mut grant_key = String::new();
    for port in cluster.ports() {
        let mut conn = node(port).await;
        if !is_master(&mut conn).await {
            continue;
        }
        let keys = redis_keys(&mut conn, &format!("{prefix}:*:grant")).await;
        if let Some(key) = keys.into_iter().next() {
            victim = Some(port);
            grant_key = key;
        }
    }
    let victim = victim.expect("a master holds alice's grant");
    let killed_at = Instant::now();
    // SAFETY: kill(2) on the pid of a redis-server this test started.
    assert_eq!(unsafe { libc::kill(cluster.pid(victim), libc::SIGKILL) }, 0);

    let (mut unavailable, mut served, mut back_at) = (0, 0, Duration::ZERO);
    let mut healthy_in_a_row = 0;
    let deadline = killed_at + Duration::from_secs(30);
    let mut i = 0usize;
    while healthy_in_a_row < 10 {
        assert!(
            Instant::now() < deadline,
            "the service did not come back by itself within 30 s"
        );
        let query = if i.is_multiple_of(2) { ISSUE } else { CODE };
        i += 1;
        match judge(query, &app.graphql(query, json!({})).await) {
            Answer::Served => {
                served += 1;
                healthy_in_a_row += 1;
            }
            Answer::Unavailable => {
                unavailable += 1;
                healthy_in_a_row = 0;
                back_at = killed_at.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // From the kill to the last refused answer: after it, only served ones.
    let outage = back_at;
    eprintln!(
        "redis cluster failover: outage {outage:?} after the master was killed \
         ({unavailable} SERVICE_UNAVAILABLE, {served} served)"
    );
    assert!(outage < Duration::from_secs(20), "outage {outage:?}");

    // The test did hit the failover: alice's slot is now served by another node (the promoted
    // replica), which answers for her key instead of redirecting.
    let mut new_owner = None;
    for port in cluster.ports().filter(|p| *p != victim) {
        let mut conn = node(port).await;
        let is_master = is_master(&mut conn).await;
        let owns: redis::RedisResult<i64> = redis::cmd("EXISTS").arg(&grant_key).query_async(&mut conn).await;
        if is_master && owns.is_ok() {
            new_owner = Some(port);
        }
    }
    let new_owner = new_owner.unwrap_or_else(|| panic!("no surviving master serves {grant_key}"));
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut node(new_owner).await)
        .await
        .unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");
}
