#!/usr/bin/env bash
# Starts a local Redis Cluster of 3 masters and 3 replicas on loopback for the tests (ports
# 7000-7005 by default, DEZKY_CLUSTER_BASE_PORT to move them), unless one answers there already;
# prints its seed URLs, comma-separated. Nodes keep nothing on disk (no RDB, no AOF) and live in
# a folder under /tmp. `scripts/redis-cluster.sh stop` shuts them down.
set -euo pipefail

base="${DEZKY_CLUSTER_BASE_PORT:-7000}"
ports=$(seq "$base" $((base + 5)))
dir="${TMPDIR:-/tmp}/dezky-redis-cluster-$base"
urls=$(for p in $ports; do printf 'redis://127.0.0.1:%s,' "$p"; done); urls="${urls%,}"

say() { printf '[redis-cluster] %s\n' "$*" >&2; }
cluster_ok() { redis-cli -p "$base" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

if [ "${1:-}" = stop ]; then
  for p in $ports; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  exit 0
fi

if cluster_ok; then printf '%s\n' "$urls"; exit 0; fi

mkdir -p "$dir"
for p in $ports; do
  if ! redis-cli -p "$p" ping >/dev/null 2>&1; then
    rm -f "$dir/nodes-$p.conf"
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --cluster-enabled yes \
      --cluster-config-file "$dir/nodes-$p.conf" --cluster-node-timeout 2000 \
      --save "" --appendonly no --dir "$dir" --logfile "$dir/redis-$p.log" >/dev/null
  fi
done
for p in $ports; do
  for _ in $(seq 1 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
if ! redis-cli -p "$base" cluster info | grep -q '^cluster_slots_assigned:16384'; then
  say "creating the cluster on ports $base-$((base + 5))"
  redis-cli --cluster create $(for p in $ports; do printf '127.0.0.1:%s ' "$p"; done) \
    --cluster-replicas 1 --cluster-yes >/dev/null
fi
# Ready when the cluster is ok and every replica's link to its master is up (a failover needs it).
replicas_linked() {
  local linked=0
  for p in $ports; do
    redis-cli -p "$p" info replication 2>/dev/null | grep -q '^master_link_status:up' && linked=$((linked + 1))
  done
  [ "$linked" -eq 3 ]
}
for _ in $(seq 1 300); do
  if cluster_ok && replicas_linked; then printf '%s\n' "$urls"; exit 0; fi
  sleep 0.1
done
say "the cluster did not come up (logs in $dir)"; exit 1
