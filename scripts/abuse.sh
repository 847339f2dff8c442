#!/usr/bin/env bash
# Abuse run: builds a release binary, starts it on loopback with production-like limits (the
# defaults) and a fresh data dir, and runs scripts/abuse.py against it: a login flood, more
# bogus logins than hashing slots, 1,000 unauthenticated sockets, 200 stalled request heads,
# and foreign subscribe_task races. Prints what held; exits non-zero if something did not.
# Bounded: every phase stops by itself (about 2 minutes in all); traffic stays on 127.0.0.0/8.
#
#   scripts/abuse.sh [extra abuse.py flags, e.g. --logins 100]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin taskhub
. scripts/release-server.sh
start_release_server "${CARGO_TARGET_DIR:-target}/release/taskhub" TASKHUB_SIMULATOR_SECONDS=6 TASKHUB_POLL_INTERVAL_MS=300
echo "taskhub (release) on port $port, pid $pid, data dir $data"
status=0
python3 scripts/abuse.py --port "$port" --pid "$pid" "$@" || status=$?
if grep -q "panicked" "$log"; then echo "the server log has a panic:"; grep -n "panicked" "$log"; status=1; fi
exit $status
