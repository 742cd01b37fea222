#!/usr/bin/env bash
# The test command: sets up what the tests need on a fresh machine, then runs them all.
#
# - Redis and PostgreSQL: uses the ones it finds (DEZKY_TEST_REDIS_URL / DEZKY_TEST_DATABASE_URL,
#   default 127.0.0.1:6379 and postgres://postgres@127.0.0.1:5432/test); else starts them in Docker
#   when a Docker engine answers `docker info`; else installs the Debian packages when missing and
#   starts them locally (trust auth, a `test` database).
# - A Redis Cluster of 3 masters and 3 replicas on loopback (scripts/redis-cluster.sh) unless
#   DEZKY_TEST_REDIS_CLUSTER_URL names one (seed node URLs, comma-separated).
# - Debian's chromium and chromium-driver, for the dashboard's browser test, when missing.
# - Then cargo fmt --check, clippy with -D warnings, every test of the workspace (nextest when
#   installed, cargo test otherwise), the scan of every log of the run for secrets
#   (scripts/secrets-in-logs.sh), schemathesis against the API (scripts/schemathesis.sh), the
#   checks of deploy/ (scripts/check-deploy.sh: hadolint, the compose schema, the Kubernetes
#   manifests, systemd-analyze verify), and the chaos suite's short profile on each queue
#   backend (dezky-chaos; its report is printed).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEZKY_TEST_REDIS_URL="${DEZKY_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export DEZKY_TEST_DATABASE_URL="${DEZKY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

say() { printf '[test.sh] %s\n' "$*" >&2; }

# host and port of a URL like scheme://[user@]host:port[/db]
host_of() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; printf '%s' "${rest%%:*}"; }
port_of() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; printf '%s' "${rest##*:}"; }

redis_up() ( # a subshell: the probe's redirections must not outlive it
  host=$(host_of "$DEZKY_TEST_REDIS_URL"); port=$(port_of "$DEZKY_TEST_REDIS_URL")
  exec 2>/dev/null 3<>"/dev/tcp/$host/$port" || exit 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  [[ "$reply" == +PONG* ]]
)

postgres_up() {
  command -v psql >/dev/null 2>&1 && psql "$DEZKY_TEST_DATABASE_URL" -qtAc 'select 1' >/dev/null 2>&1
}

wait_for() { # wait_for NAME CHECK
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  say "$1 did not come up"; return 1
}

docker_engine() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  redis_up && return 0
  if docker_engine; then
    say "starting Redis in Docker"
    docker run -d --rm --name dezky-test-redis -p "$(port_of "$DEZKY_TEST_REDIS_URL"):6379" redis:7 >/dev/null
  else
    command -v redis-server >/dev/null 2>&1 || { say "installing redis-server"; apt_install redis-server; }
    say "starting redis-server"
    redis-server --daemonize yes --port "$(port_of "$DEZKY_TEST_REDIS_URL")" --save "" --appendonly no >/dev/null
  fi
  wait_for Redis redis_up
}

ensure_postgres() {
  postgres_up && return 0
  if docker_engine; then
    say "starting PostgreSQL in Docker"
    docker run -d --rm --name dezky-test-postgres -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test \
      -p "$(port_of "$DEZKY_TEST_DATABASE_URL"):5432" postgres:16 >/dev/null
    command -v psql >/dev/null 2>&1 || apt_install postgresql-client
    wait_for PostgreSQL postgres_up
    return 0
  fi
  [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] || { say "installing postgresql"; apt_install postgresql; }
  local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    say "trust auth for local TCP connections (test machine only)"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 60); do su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break; sleep 0.5; done
  su postgres -c "psql -qtAc \"select 1 from pg_database where datname = 'test'\"" | grep -q 1 \
    || su postgres -c "createdb test"
  wait_for PostgreSQL postgres_up
}

# phase NAME COMMAND...: runs it and says how long it took.
phase() {
  local name="$1" start=$SECONDS; shift
  "$@"
  say "$name took $((SECONDS - start)) s"
}

ensure_redis_cluster() {
  [ -n "${DEZKY_TEST_REDIS_CLUSTER_URL:-}" ] && return 0
  command -v redis-server >/dev/null 2>&1 || { say "installing redis-server"; apt_install redis-server; }
  DEZKY_TEST_REDIS_CLUSTER_URL=$(scripts/redis-cluster.sh)
  export DEZKY_TEST_REDIS_CLUSTER_URL
}

# Headless Chromium and its WebDriver for the dashboard's browser test.
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; then return 0; fi
  say "installing chromium and chromium-driver"
  apt_install chromium chromium-driver
}

phase redis ensure_redis
phase redis-cluster ensure_redis_cluster
phase postgres ensure_postgres
phase chromium ensure_chromium
say "Redis at $DEZKY_TEST_REDIS_URL, Redis Cluster at $DEZKY_TEST_REDIS_CLUSTER_URL, PostgreSQL at $DEZKY_TEST_DATABASE_URL"

phase fmt cargo fmt --all -- --check
phase clippy cargo clippy --workspace --all-targets --locked -- -D warnings
# The model-based test runs PROPTEST_CASES cases (200 by default) of 50 steps per backend and
# prints its seed; multi-process tests run one at a time (.config/nextest.toml).
# The simulators append every secret they issue or receive to DEZKY_TEST_SECRETS_LOG; binaries
# the tests start log into DEZKY_TEST_LOG_DIR; after the tests, no log may hold one of them.
export DEZKY_TEST_LOG_DIR="$PWD/target/test-logs" DEZKY_TEST_SECRETS_LOG="$PWD/target/test-secrets.txt"
rm -rf "$DEZKY_TEST_LOG_DIR" "$DEZKY_TEST_SECRETS_LOG" target/nextest/default/junit.xml
mkdir -p "$DEZKY_TEST_LOG_DIR"
if cargo nextest --version >/dev/null 2>&1; then
  phase tests cargo nextest run --workspace --locked --no-fail-fast
else
  phase tests bash -c 'set -o pipefail; cargo test --workspace --locked --no-fail-fast -- --nocapture 2>&1 | tee "$DEZKY_TEST_LOG_DIR/cargo-test.out"'
fi
phase secrets-in-logs scripts/secrets-in-logs.sh "$DEZKY_TEST_SECRETS_LOG" \
  target/nextest/default/junit.xml "$DEZKY_TEST_LOG_DIR"
# The HTTP API fuzzed from its own OpenAPI document (schemathesis.toml): no failure, no 5xx.
# The tests just built target/debug/dezky-jobs (the binary's tests start it): no second build.
phase schemathesis scripts/schemathesis.sh --no-build
# Everything in deploy/, without a container engine or a cluster; the units run the binary the
# tests built.
phase deploy scripts/check-deploy.sh target/debug/dezky-jobs
# The chaos suite's short profile, alone after the rest: the real topology (api, three workers,
# two schedulers, the simulator, Redis with its AOF) under a seeded nemesis for a minute per
# backend, gating on correctness only (lost, dead, duplicates, ticks, the gate's probe rate).
# Its seed is printed; DEZKY_CHAOS_SEED replays one.
chaos_seed="${DEZKY_CHAOS_SEED:-$(date +%s)}"
# Each run's logs, databases and report stay in target/chaos/<backend>.
rm -rf target/chaos
# The tests built both binaries (their integration tests run them); build them only if not.
if [ ! -x target/debug/dezky-chaos ] || [ ! -x target/debug/dezky-jobs ]; then
  phase chaos-build cargo build --locked -p dezky-chaos -p dezky-cli
fi
for backend in sqlite redis; do
  phase "chaos-$backend" target/debug/dezky-chaos --queue "$backend" --seconds 60 \
    --seed "$chaos_seed" --dir "target/chaos/$backend"
done
