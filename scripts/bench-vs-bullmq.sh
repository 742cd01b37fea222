#!/usr/bin/env bash
# Side by side with BullMQ on the same Redis: ours and the peer alternate, three runs each, then
# a Markdown table of medians and ratios. Run it on an otherwise idle Redis (commands are counted
# server-wide). usage: scripts/bench-vs-bullmq.sh [N=50000] [C=50]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-50000}"; c="${2:-50}"
redis_url="${DEZKY_REDIS_URL:-redis://127.0.0.1:6379}"
peer="${PEER_BULLMQ:-../shared/bench/peer-bullmq/run.sh}"
cargo build --release --quiet
out="$(mktemp -d)"
for run in 1 2 3; do
  echo "run $run: dezky-jobs" >&2
  ./target/release/dezky-jobs bench --backend redis --redis-url "$redis_url" --jobs "$n" --concurrency "$c" 2>/dev/null >> "$out/ours.jsonl"
  echo "run $run: bullmq" >&2
  CMDSTATS=1 bash "$peer" "$n" "$c" plain 2>/dev/null >> "$out/peer.jsonl"
done
python3 - "$out" <<'PY'
import json, statistics, sys
d = sys.argv[1]
ours = [json.loads(l) for l in open(f"{d}/ours.jsonl")]
peer = [json.loads(l) for l in open(f"{d}/peer.jsonl")]
med = lambda xs: statistics.median(xs)
rows = [
    ("enqueue jobs/s", med([r["enqueue_per_s"] for r in ours]), med([r["enqueue_per_s"] for r in peer]), True),
    ("process jobs/s", med([r["process_per_s"] for r in ours]), med([r["process_per_s"] for r in peer]), True),
    ("Redis commands per job", med([r["redis_cmds_per_job"] for r in ours]),
     med([r["redis_cmds_enqueue"]["total_per_job"] + r["redis_cmds_process"]["total_per_job"] for r in peer]), False),
]
print(f"N = {ours[0]['n']}, concurrency {ours[0]['concurrency']}, medians of 3 alternating runs")
print()
print("| metric | dezky-jobs | BullMQ | ratio |")
print("|---|---|---|---|")
for name, a, b, higher in rows:
    ratio = a / b if higher else b / a
    print(f"| {name} | {a:,.2f} | {b:,.2f} | {ratio:.2f}× {'faster' if higher else 'fewer'} |")
print(f"| idle pickup p99 | {med([r['pickup_p99_ms'] for r in ours]):.2f} ms | | |")
print()
print("raw:", json.dumps({"ours": ours, "bullmq": [{k: r[k] for k in ('enqueue_per_s', 'process_per_s')} for r in peer]}))
PY
