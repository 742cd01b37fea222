#!/usr/bin/env bash
# Side by side with apalis-postgres 1.0 on the same PostgreSQL: ours and the peer
# (bench/peer-apalis-postgres, its own Cargo project) alternate, three runs each, then one JSON
# line of medians, the process ratio (ours / peer) and the server settings used. Each side works
# in its own throwaway space and drops it. Run it on an otherwise idle server.
# usage: scripts/bench-vs-apalis-postgres.sh [N=100000] [C=50]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"; c="${2:-50}"
db="${DEZKY_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
runs=3
echo "building dezky-jobs and the apalis-postgres peer (release)" >&2
cargo build --release --quiet -p dezky-cli
cargo build --release --quiet --manifest-path bench/peer-apalis-postgres/Cargo.toml
peer=bench/peer-apalis-postgres/target/release/peer-apalis-postgres
out="$(mktemp -d)"
trap 'echo "failed; logs in $out" >&2' ERR
for run in $(seq "$runs"); do
  echo "run $run: dezky-jobs" >&2
  ./target/release/dezky-jobs bench --backend postgres --database-url "$db" --jobs "$n" --concurrency "$c" 2>>"$out/ours.log" >> "$out/ours.jsonl"
  echo "run $run: apalis-postgres" >&2
  "$peer" "$db" "$n" "$c" 2>>"$out/peer.log" >> "$out/peer.jsonl"
done
setting() { psql "$db" -Atc "SHOW $1"; }
PG_SERVER_VERSION="$(setting server_version)" PG_SHARED_BUFFERS="$(setting shared_buffers)" \
PG_SYNCHRONOUS_COMMIT="$(setting synchronous_commit)" PG_FSYNC="$(setting fsync)" \
PG_MAX_CONNECTIONS="$(setting max_connections)" \
python3 - "$out" "$runs" <<'PY'
import json, os, statistics, sys
d, runs = sys.argv[1], int(sys.argv[2])
ours = [json.loads(l) for l in open(f"{d}/ours.jsonl") if l.strip()]
peer = [json.loads(l) for l in open(f"{d}/peer.jsonl") if l.strip()]
med = lambda rows, key: statistics.median(r[key] for r in rows)
ours_p, peer_p = med(ours, "process_per_s"), med(peer, "process_per_s")
print(json.dumps(separators=(",", ":"), obj={
    "n": ours[0]["n"],
    "concurrency": ours[0]["concurrency"],
    "runs": runs,
    "dezky_process_per_s": ours_p,
    "apalis_postgres_process_per_s": peer_p,
    "ratio": round(ours_p / peer_p, 2),
    "dezky_enqueue_per_s": med(ours, "enqueue_per_s"),
    "apalis_postgres_enqueue_per_s": med(peer, "enqueue_per_s"),
    "apalis_postgres_all_done_s": med(peer, "all_done_s"),
    "postgres": {
        "server_version": os.environ["PG_SERVER_VERSION"],
        "shared_buffers": os.environ["PG_SHARED_BUFFERS"],
        "synchronous_commit": os.environ["PG_SYNCHRONOUS_COMMIT"],
        "fsync": os.environ["PG_FSYNC"],
        "max_connections": int(os.environ["PG_MAX_CONNECTIONS"]),
    },
}))
PY
rm -rf "$out"
