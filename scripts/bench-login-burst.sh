#!/usr/bin/env bash
# Memory after a login burst: starts a release build on loopback (fresh data dir, rate limits
# off so every login reaches the password hash), registers one user, then signs in N times,
# C at a time, and prints the server's RSS before and after (and after a short rest).
# Bounded: N requests, loopback only.
#
#   scripts/bench-login-burst.sh [N=1000] [C=50]
#   TASKHUB_BIN=path/to/taskhub scripts/bench-login-burst.sh   # an already built binary
#   BURST_SETTLE_SECS=120 scripts/bench-login-burst.sh          # also RSS that long after it
#   BURST_REPEAT=2 scripts/bench-login-burst.sh                 # two more bursts, RSS after each
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
c=${2:-50}
bin=${TASKHUB_BIN:-}
if [ -z "$bin" ]; then cargo build --release --bin taskhub; bin="${CARGO_TARGET_DIR:-target}/release/taskhub"; fi
. scripts/release-server.sh
start_release_server "$bin" TASKHUB_RATE_AUTH_PER_MIN=0 TASKHUB_HASH_QUEUE_MAX=100000 \
  TASKHUB_HASH_QUEUE_TIMEOUT_MS=600000
url="http://127.0.0.1:$port"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
curl -sf -o /dev/null -XPOST "$url/api/auth/register" -H 'content-type: application/json' \
  -d '{"username":"burst","email":"burst@example.com","password":"fake-password-123"}'
before=$(rss)
start=$(date +%s%N)
seq 1 "$n" | xargs -P "$c" -I{} curl -s -o /dev/null -w '%{http_code}\n' -XPOST "$url/api/auth/login" \
  -H 'content-type: application/json' -d '{"login":"burst","password":"fake-password-123"}' |
  sort | uniq -c | awk '{printf "status %s: %s\n", $2, $1}'
took=$(awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }')
after=$(rss)
sleep 2
rested=$(rss)
echo "$n logins, $c at a time, in ${took} s"
echo "server RSS: before ${before} KiB, after ${after} KiB, 2 s later ${rested} KiB"
awk -v b="$before" -v a="$rested" 'BEGIN { printf "growth: %.1f%%\n", (a - b) * 100 / b }'
# BURST_REPEAT=K: K more bursts on the same server, RSS after each (does each burst add, or
# only the first?).
for i in $(seq 1 "${BURST_REPEAT:-0}"); do
  seq 1 "$n" | xargs -P "$c" -I{} curl -s -o /dev/null -XPOST "$url/api/auth/login" \
    -H 'content-type: application/json' -d '{"login":"burst","password":"fake-password-123"}'
  sleep 2
  again=$(rss)
  awk -v i="$((i + 1))" -v b="$before" -v a="$again" -v r="$rested" \
    'BEGIN { printf "after burst %d: %d KiB, growth %.1f%% (%+.1f%% over the first burst)\n", i, a, (a - b) * 100 / b, (a - r) * 100 / b }'
done
settle=${BURST_SETTLE_SECS:-0}
if [ "$settle" -gt 2 ]; then
  sleep $((settle - 2))
  settled=$(rss)
  echo "server RSS ${settle} s after the burst: ${settled} KiB"
  awk -v b="$before" -v a="$settled" 'BEGIN { printf "growth after %s s: %.1f%%\n", "'"$settle"'", (a - b) * 100 / b }'
fi
