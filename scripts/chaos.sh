#!/usr/bin/env bash
# The chaos run (issue 12, RELIABILITY.md): three taskhub nodes on PostgreSQL and a Redis of
# the run's own behind nginx, faults injected while tasks run and watchers drop and resume,
# then a checker that reads everything back. Non-zero exit on any violation.
#
#   scripts/chaos.sh            # the small run (CI): 300 tasks, 200 watchers, each fault once
#   scripts/chaos.sh --large    # the large run: 10,000 tasks, 5,000 watchers, repeated faults
#   scripts/chaos.sh --soak     # 30 minutes, no faults: 2,000 watchers, ~200 events/s, sampled
#   scripts/chaos.sh -- ARGS    # any other sizes (see `target/debug/chaos --help`)
#
# CHAOS_PROFILE=release runs release builds (the large run and the soak want them; the
# default, debug, is what the test suite has just built).
#
# It restarts PostgreSQL (pg_ctlcluster): by default a cluster of its own (`chaos`, port
# $CHAOS_PG_PORT, default 5433), so it may run beside other tests; with CHAOS_POSTGRES set it
# uses that server and restarts the machine's main cluster, so then never beside other tests.
# Needs nginx (Debian package), redis-server (it runs a Redis of its own) and Debian's
# PostgreSQL (pg_createcluster, pg_ctlcluster).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "chaos: nginx is not installed (apt-get install nginx)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "chaos: redis-server is not installed" >&2; exit 1; }

target="${CARGO_TARGET_DIR:-target}"
profile="${CHAOS_PROFILE:-debug}"
case "$profile" in
  debug) cargo build --all-targets --quiet ;; # --all-targets: the test suite's feature set, so no second build
  release) cargo build --release --quiet --bins ;;
  *) echo "chaos: CHAOS_PROFILE must be debug or release" >&2; exit 2 ;;
esac
args=(--taskhub "$target/$profile/taskhub")
if [ -n "${CHAOS_POSTGRES:-}" ]; then
  # A server of your own; the PostgreSQL fault then restarts the machine's main cluster
  # (override with `-- --pg-restart CMD`).
  args+=(--postgres "$CHAOS_POSTGRES")
else
  # By default the run gets a PostgreSQL cluster of its own (`chaos`, port $CHAOS_PG_PORT,
  # trust auth, made once with pg_createcluster), so restarting it never disturbs anything
  # else using the machine's main cluster. Stopped again when the run ends.
  command -v pg_createcluster >/dev/null || { echo "chaos: pg_createcluster not found (Debian's postgresql-common)" >&2; exit 1; }
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  pg_port=${CHAOS_PG_PORT:-5433}
  if [ ! -d "/etc/postgresql/$ver/chaos" ]; then
    pg_createcluster "$ver" chaos -p "$pg_port" -- --auth=trust >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" chaos start 2>/dev/null || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p "$pg_port" -q && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p "$pg_port" -q || { echo "chaos: its PostgreSQL cluster did not start on port $pg_port" >&2; exit 1; }
  trap 'pg_ctlcluster --skip-systemctl-redirect "$ver" chaos stop 2>/dev/null || true' EXIT
  args+=(--postgres "postgres://postgres@127.0.0.1:$pg_port"
    --pg-restart "pg_ctlcluster --skip-systemctl-redirect $ver chaos restart")
fi
case "${1:-}" in
  # Watchers live 30-120 s here (about 65 reconnects, i.e. WebSocket sign-ins, a second), not
  # the small run's 2-10 s: 5,000 watchers at that churn would be a reconnect storm of ~800/s.
  --large) shift; args+=(--tasks 10000 --users 500 --watchers 5000 --create-secs 600 --fault-rounds 8 --fault-gap 15
    --watcher-life-min-ms 30000 --watcher-life-max-ms 120000 --max-seconds 2400) ;;
  # 30 minutes of tasks created and finished continuously (20 a second, 20 s jobs; a task
  # commits about 11 events, so ~200 events/s), 2,000 watchers living 1-5 minutes, no
  # faults, every node sampled every 10 s; growth is measured after a 5-minute warm-up.
  --soak) shift; args+=(--tasks 36000 --users 300 --watchers 2000 --create-secs 1800 --job-secs 20 --fault-rounds 0
    --watcher-life-min-ms 60000 --watcher-life-max-ms 300000 --sample-secs 10 --warmup-secs 300 --max-seconds 2700) ;;
  --) shift ;;
  "") args+=(--tasks 300 --users 20 --watchers 200 --create-secs 60 --fault-gap 12 --max-seconds 420) ;;
esac
# Enough open files for thousands of watcher sockets in one process.
ulimit -n 20000 2>/dev/null || true
"$target/$profile/chaos" "${args[@]}" "$@"
