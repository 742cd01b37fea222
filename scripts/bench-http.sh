#!/usr/bin/env bash
# The HTTP enqueue path, side by side: `dezky-jobs run` (API and workers in one process) on its
# embedded SQLite queue and on Redis, each loaded in turn with `wrk -t2 -c50 -d8s` posting `noop`
# jobs to /v1/jobs, alternating, two runs each; prints a Markdown table of medians and the
# SQLite/Redis ratio. wrk comes from Debian's package (installed when missing).
# usage: scripts/bench-http.sh [DURATION=8s] [CONNECTIONS=50]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-8s}"; connections="${2:-50}"
redis_url="${DEZKY_REDIS_URL:-redis://127.0.0.1:6379}"
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
token="bench-token-$$"
cat > "$out/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"kind":"noop"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format('{"rps":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,"non2xx":%d,"errors":%d}\n',
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

run_one() { # run_one BACKEND PORT
  local backend="$1" port="$2" env=()
  if [ "$backend" = redis ]; then
    env=(DEZKY_REDIS_URL="$redis_url" DEZKY_REDIS_PREFIX="dezky-bench-http-$$")
  fi
  env "${env[@]}" DEZKY_LISTEN="127.0.0.1:$port" DEZKY_API_TOKENS="bench=$token" \
    DEZKY_DATABASE_URL="sqlite://$out/$backend-$port.db" RUST_LOG=warn \
    ./target/release/dezky-jobs run >"$out/$backend-$port.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  wrk -t2 -c"$connections" -d"$duration" -s "$out/post.lua" "http://127.0.0.1:$port/v1/jobs" \
    | tail -n 1 | sed "s/^{/{\"backend\":\"$backend\",/" >> "$out/runs.jsonl"
  kill -TERM "$pid"; wait "$pid" || true
  if [ "$backend" = redis ]; then
    # Deleted by the server itself: keys may hold any character (fuzzed ones do), which a shell
    # pipe of key names would mangle.
    redis-cli -u "$redis_url" eval "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end" 0 "dezky-bench-http-$$:*" >/dev/null
  fi
}

port=18400
for run in 1 2; do
  for backend in sqlite redis; do
    echo "run $run: $backend" >&2
    port=$((port + 1)); run_one "$backend" "$port"
  done
done
python3 - "$out/runs.jsonl" "$duration" "$connections" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = lambda b, k: statistics.median(r[k] for r in runs if r["backend"] == b)
print(f"wrk -t2 -c{sys.argv[3]} -d{sys.argv[2]}, POST /v1/jobs {{\"kind\":\"noop\"}} to `dezky-jobs run` (workers running), medians of 2 alternating runs")
print()
print("| backend | requests/s | p50 | p99 |")
print("|---|---|---|---|")
for b in ("sqlite", "redis"):
    print(f"| {b} | {med(b, 'rps'):,.0f} | {med(b, 'p50_ms'):.2f} ms | {med(b, 'p99_ms'):.2f} ms |")
print()
print(f"SQLite / Redis: {med('sqlite', 'rps') / med('redis', 'rps'):.2f}")
bad = [r for r in runs if r["non2xx"] or r["errors"]]
if bad:
    print("runs with errors or non-2xx answers:", json.dumps(bad))
print("raw:", json.dumps(runs))
PY
