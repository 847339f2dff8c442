#!/usr/bin/env bash
# The hub benchmark: starts a release server (SQLite store, Redis bus) on a free port,
# runs the load generator against it with the arguments given, then stops the server.
#
#   scripts/bench-hub.sh --sockets 19800 --users 990 --rate 2000 --duration 60
#   BENCH_RAW=1 scripts/bench-hub.sh ...   # the sockets go to the load generator's minimal
#                                          # raw server instead (users and tasks still come
#                                          # from taskhub), for the floor to compare with
#
# Needs Redis at $REDIS_URL (default redis://127.0.0.1:6379). Users persist in
# $BENCH_DATA_DIR (default target/bench-data), so later runs skip creating them.
# Binaries come from $CARGO_TARGET_DIR/release (default target/release), built first; or
# from $BENCH_BIN_DIR as they are (e.g. an older build for a "before" row).
# Server settings can be overridden through the environment (TASKHUB_*).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin="$BENCH_BIN_DIR"
else
  cargo build --release --bins --quiet
  bin="${CARGO_TARGET_DIR:-target}/release"
fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export TASKHUB_DATA_DIR="${BENCH_DATA_DIR:-target/bench-data}"
export TASKHUB_ADDR=127.0.0.1:0
export TASKHUB_ENV=development
export TASKHUB_WS_MAX_SOCKETS_PER_USER="${TASKHUB_WS_MAX_SOCKETS_PER_USER:-1000}"
# The loadgen signs in hundreds of users and opens ~20k sockets from one address.
export TASKHUB_HTTP_MAX_CONNECTIONS="${TASKHUB_HTTP_MAX_CONNECTIONS:-19900}"
export TASKHUB_RATE_AUTH_PER_MIN="${TASKHUB_RATE_AUTH_PER_MIN:-1000000}"
export TASKHUB_RATE_TASK_CREATE_PER_MIN="${TASKHUB_RATE_TASK_CREATE_PER_MIN:-1000000}"
export TASKHUB_RATE_TASK_QUERY_PER_MIN="${TASKHUB_RATE_TASK_QUERY_PER_MIN:-1000000}"
export TASKHUB_RATE_OTHER_PER_MIN="${TASKHUB_RATE_OTHER_PER_MIN:-1000000}"
# ...and connects them faster than they authenticate: the per-address cap on sockets not yet
# authenticated would refuse most of them (1013).
export TASKHUB_WS_MAX_UNAUTHENTICATED="${TASKHUB_WS_MAX_UNAUTHENTICATED:-20000}"
export TASKHUB_WS_MAX_UNAUTHENTICATED_PER_IP="${TASKHUB_WS_MAX_UNAUTHENTICATED_PER_IP:-0}"
# The hub is measured, not the poller: the loadgen's tasks stay queued (their real events
# would reach the sockets too and blur the memory and frame counts). With the poller on,
# keep the tasks open: the simulator should not finish them mid-run.
export TASKHUB_POLLER="${TASKHUB_POLLER:-false}"
export TASKHUB_SIMULATOR_SECONDS="${TASKHUB_SIMULATOR_SECONDS:-100000}"
# Every run creates --tasks-per-user tasks per user, each paid in credits: give the users
# the server signs up enough for any number of runs (a fresh data dir starts from nothing).
# Users created by an older server keep the bonus they got: start from a fresh data dir.
export TASKHUB_SIGNUP_BONUS_CREDITS="${TASKHUB_SIGNUP_BONUS_CREDITS:-1000000000}"
export TASKHUB_SIGNUP_BONUS_DAYS="${TASKHUB_SIGNUP_BONUS_DAYS:-0}"
export RUST_LOG="${RUST_LOG:-warn}"

log="$(mktemp /tmp/taskhub-bench-server.XXXXXX)"
"$bin/taskhub" serve >"$log" 2>&1 &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

url=""
for _ in $(seq 1 100); do
  url="$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true)"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start"; cat "$log"; exit 1; }
echo "server $server on $url (log: $log)"
echo "versions: $("$bin/taskhub" --version), $(redis-server --version | cut -d' ' -f3), $(rustc --version)"
if [ -n "${BENCH_RAW:-}" ]; then
  rawlog="$(mktemp /tmp/taskhub-bench-raw.XXXXXX)"
  "$bin/loadgen" --raw-server 127.0.0.1:0 >"$rawlog" 2>&1 &
  raw=$!
  trap 'kill -TERM "$raw" "$server" 2>/dev/null; wait "$raw" "$server" 2>/dev/null || true' EXIT
  rawurl=""
  for _ in $(seq 1 100); do
    rawurl="$(grep -o 'http://127.0.0.1:[0-9]*' "$rawlog" | head -1 || true)"
    [ -n "$rawurl" ] && break
    sleep 0.1
  done
  [ -n "$rawurl" ] || { echo "raw server did not start"; cat "$rawlog"; exit 1; }
  echo "raw server $raw on $rawurl"
  "$bin/loadgen" --url "$url" --ws-url "$rawurl" --server-pid "$raw" "$@"
else
  "$bin/loadgen" --url "$url" --server-pid "$server" "$@"
fi
