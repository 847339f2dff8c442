#!/usr/bin/env bash
# The chaos run (issue 12, RELIABILITY.md): three taskhub nodes on PostgreSQL and a Redis of
# the run's own behind nginx, faults injected while tasks run and watchers drop and resume,
# then a checker that reads everything back. Non-zero exit on any violation.
#
#   scripts/chaos.sh            # the small run (CI): 300 tasks, 200 watchers, each fault once
#   scripts/chaos.sh --large    # the large run: 10,000 tasks, 5,000 watchers, repeated faults
#   scripts/chaos.sh -- ARGS    # any other sizes (see `target/debug/chaos --help`)
#
# It RESTARTS the local PostgreSQL cluster (pg_ctlcluster), so never run it beside other tests.
# Needs nginx (Debian package), redis-server, PostgreSQL at $CHAOS_POSTGRES
# (default postgres://postgres@127.0.0.1:5432, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "chaos: nginx is not installed (apt-get install nginx)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "chaos: redis-server is not installed" >&2; exit 1; }

target="${CARGO_TARGET_DIR:-target}"
cargo build --bins --quiet
args=(--taskhub "$target/debug/taskhub" --postgres "${CHAOS_POSTGRES:-postgres://postgres@127.0.0.1:5432}")
case "${1:-}" in
  --large) shift; args+=(--tasks 10000 --users 500 --watchers 5000 --create-secs 600 --fault-rounds 8 --fault-gap 15 --max-seconds 2400) ;;
  --) shift ;;
  "") args+=(--tasks 300 --users 20 --watchers 200 --create-secs 60 --fault-gap 12 --max-seconds 420) ;;
esac
# Enough open files for thousands of watcher sockets in one process.
ulimit -n 20000 2>/dev/null || true
exec "$target/debug/chaos" "${args[@]}" "$@"
