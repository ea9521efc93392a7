#!/usr/bin/env bash
# A Redis Cluster on loopback for the tests: 3 masters + 3 replicas of the local redis-server.
#   .ci/redis-cluster.sh start DIR [BASE_PORT]   ports BASE_PORT..BASE_PORT+5 (default 17000);
#                                                 prints the redis+cluster:// URL when healthy
#   .ci/redis-cluster.sh stop DIR                 stops the nodes by the pids in DIR
# Fails (non-zero) when a node does not start or the cluster does not become healthy.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?DIR}
base=${3:-17000}
nodes=6

stop() {
  local pidfile pid
  for pidfile in "$dir"/*/redis.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

healthy() { # every node: state ok, all slots covered and served, six nodes known
  local port info
  for port in $(seq "$base" $((base + nodes - 1))); do
    info=$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null) || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
    grep -q "^cluster_known_nodes:$nodes" <<<"$info" || return 1
  done
  # Every replica is in sync with its master (a failover needs one that is).
  for port in $(seq "$base" $((base + nodes - 1))); do
    info=$(redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null) || return 1
    if grep -q '^role:slave' <<<"$info"; then
      grep -q '^master_link_status:up' <<<"$info" || return 1
    fi
  done
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    addrs=()
    for port in $(seq "$base" $((base + nodes - 1))); do
      mkdir -p "$dir/$port"
      rm -f "$dir/$port/nodes.conf"
      # A short node timeout keeps the failover (and the test that measures it) quick.
      redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
        --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" --dir "$dir/$port" \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
        --save "" --appendonly no
      addrs+=("127.0.0.1:$port")
    done
    for port in $(seq "$base" $((base + nodes - 1))); do
      ok=
      for _ in $(seq 1 50); do
        if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then ok=1; break; fi
        sleep 0.1
      done
      if [ -z "$ok" ]; then echo "redis-cluster: node $port did not start" >&2; stop; exit 1; fi
    done
    if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1; then
      echo "redis-cluster: cluster create failed (see $dir/create.log)" >&2; stop; exit 1
    fi
    for _ in $(seq 1 150); do
      if healthy; then
        (IFS=,; echo "redis+cluster://${addrs[*]}")
        exit 0
      fi
      sleep 0.2
    done
    echo "redis-cluster: not healthy after 30 s" >&2
    stop
    exit 1
    ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR [BASE_PORT]" >&2; exit 2 ;;
esac
