#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis (pinned, from PyPI, into a
# venv under target/), configured by schemathesis.toml: `dezky-jobs run` on a throwaway SQLite
# file, then on Redis (DEZKY_TEST_REDIS_URL) under a throwaway prefix — their search cursors
# differ, and so do their documents. The server is given an Authentik that never answers (port
# 9), so the seeding and reconciliation schedules exist for the schedule routes; the jobs that
# need Authentik wait behind its gate. Any failure fails the script.
# usage: scripts/schemathesis.sh [--no-build]   (--no-build: use target/debug/dezky-jobs as it
# is, as scripts/test.sh does right after the tests built it)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/schemathesis-venv
version=4.32.5
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
if [ "${1:-}" != --no-build ] || [ ! -x target/debug/dezky-jobs ]; then
  cargo build --quiet -p dezky-cli
fi
out="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
redis_url="${DEZKY_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
port=18790
for backend in sqlite redis; do
  port=$((port + 1)); env=()
  if [ "$backend" = redis ]; then
    env=(DEZKY_REDIS_URL="$redis_url" DEZKY_REDIS_PREFIX="dzt-schemathesis-$$")
  fi
  env "${env[@]}" DEZKY_LISTEN="127.0.0.1:$port" DEZKY_DATABASE_URL="sqlite://$out/jobs.db" \
    DEZKY_API_TOKENS="portal=schemathesis-portal-token" DEZKY_OPS_TOKENS="ops=schemathesis-ops-token" \
    DEZKY_AUTHENTIK_URL="http://127.0.0.1:9/api/v3" DEZKY_AUTHENTIK_TOKEN="schemathesis-unreachable" \
    RUST_LOG=warn ./target/debug/dezky-jobs run >"$out/$backend.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  # A live job (due in a century) for the operations on one job.
  DEZKY_ST_JOB_ID=$(curl -fs -X POST "http://127.0.0.1:$port/v1/jobs" \
    -H 'Authorization: Bearer schemathesis-ops-token' -H 'Content-Type: application/json' \
    -d '{"kind":"sleep","args":{"ms":1},"run_at":"2126-01-01T00:00:00Z"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  export DEZKY_ST_JOB_ID
  echo "[schemathesis] $backend" >&2
  status=0
  "$venv/bin/schemathesis" --config-file schemathesis.toml run "http://127.0.0.1:$port/openapi.json" || status=$?
  kill -TERM "$pid"; wait "$pid" || true
  if [ "$backend" = redis ]; then
    # Deleted by the server itself: keys may hold any character (fuzzed ones do), which a shell
    # pipe of key names would mangle.
    redis-cli -u "$redis_url" eval "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end" 0 "dzt-schemathesis-$$:*" >/dev/null
  fi
  [ "$status" -eq 0 ] || { echo "[schemathesis] failures on $backend (server log: $out/$backend.log)" >&2; exit "$status"; }
done
