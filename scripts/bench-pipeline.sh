#!/usr/bin/env bash
# The whole pipeline across three nodes (issue 13, BENCHMARKS.md): three taskhub nodes on
# PostgreSQL + Redis and three load generators, each in a network namespace of its own, so
# that no process holds more than ~19,800 sockets (20,000 open files per process here).
#
#   scripts/bench-pipeline.sh                              # 3 x 19,800 = 59,400 sockets
#   scripts/bench-pipeline.sh --sockets-per-node 2000 --duration 20   # a small run
#
# Options (defaults in brackets): --sockets-per-node N [19800], --users-per-gen N [198],
# --task-rate R: tasks created per second by each load generator [2], --duration S: seconds
# of task creation [60], --job-secs S: simulated job length [6], --drain S [120].
#
# Topology (everything on this machine; needs root for `ip netns`):
#   namespace tb-genN, veth tbvN (10.77.N.1, root side) <-> tbvNp (10.77.N.2, inside)
#   node A listens on 10.77.1.1, B on 10.77.2.1, C on 10.77.3.1 (root namespace, so they
#   reach PostgreSQL and Redis on 127.0.0.1); load generator N runs in tb-genN and opens its
#   sockets on node N over its veth.
# Who drives which task: a node's poller claims only tasks whose `provider` it has, and a
# task gets the provider of the node it is created on. A runs TASKHUB_PROVIDER=openai
# (against a `taskhub simulator` on 127.0.0.1), B runs TASKHUB_PROVIDER=callback (its own
# mounted simulator), C runs no poller; every node also has `simulator`, which no task here
# uses. So tasks created on A are driven by A alone, those created on B by B alone.
# Load generator 1 (sockets on A) creates its users' tasks on B; 2 and 3 (sockets on B and C)
# create theirs on A. The database is checked afterwards.
#
# Cleans up (processes it started, namespaces, veths, the database) on exit, Ctrl-C or
# failure. Binaries from $CARGO_TARGET_DIR/release (built first) or $BENCH_BIN_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

per_node=19800 users=198 rate=2 duration=60 job_secs=6 drain=120
while [ $# -gt 0 ]; do
  case "$1" in
    --sockets-per-node) per_node=$2; shift 2 ;;
    --users-per-gen) users=$2; shift 2 ;;
    --task-rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --job-secs) job_secs=$2; shift 2 ;;
    --drain) drain=$2; shift 2 ;;
    *) echo "unknown option $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bench-pipeline: needs root (ip netns)" >&2; exit 1; }
if ip route | grep -q '^10\.77\.' || ip netns list | grep -q '^tb-gen'; then
  echo "bench-pipeline: 10.77.0.0/16 or a tb-gen namespace is already in use (another run?)" >&2
  exit 1
fi

if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin="$BENCH_BIN_DIR"
else
  cargo build --release --bins --quiet
  bin="${CARGO_TARGET_DIR:-target}/release"
fi
bin="$(cd "$bin" && pwd)"
out="$(pwd)/target/bench-pipeline/run-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
pg="${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
db="${BENCH_DB:-bench_pipeline}"
port=18701 sim_port=18709
ulimit -n 20000

pids=() node_pid=() gen_pid=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  for n in 1 2 3; do
    ip netns del "tb-gen$n" 2>/dev/null
    ip link del "tbv$n" 2>/dev/null
  done
  [ -n "${BENCH_KEEP_DB:-}" ] || psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
for n in 1 2 3; do
  ip netns add "tb-gen$n"
  ip link add "tbv$n" type veth peer name "tbv${n}p"
  ip link set "tbv${n}p" netns "tb-gen$n"
  ip addr add "10.77.$n.1/24" dev "tbv$n"
  ip link set "tbv$n" up
  ip netns exec "tb-gen$n" ip link set lo up
  ip netns exec "tb-gen$n" ip addr add "10.77.$n.2/24" dev "tbv${n}p"
  ip netns exec "tb-gen$n" ip link set "tbv${n}p" up
  # The other nodes' addresses are local to the root namespace: no forwarding involved.
  ip netns exec "tb-gen$n" ip route add default via "10.77.$n.1"
done

"$bin/taskhub" simulator --addr "127.0.0.1:$sim_port" --seconds "$job_secs" >"$out/simulator.log" 2>&1 &
pids+=($!)

node_env() { # node number, then its own settings
  local n=$1; shift
  env TASKHUB_ENV=development TASKHUB_ALLOW_PUBLIC_DEV=true \
    TASKHUB_ADDR="10.77.$n.1:$port" TASKHUB_DATA_DIR="$out/node$n" \
    DATABASE_URL="$pg/$db" REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}" \
    JWT_SECRET=FAKE-bench-pipeline-secret-0123456789abcdef \
    TASKHUB_SIMULATOR_SECONDS="$job_secs" \
    TASKHUB_SIGNUP_BONUS_CREDITS=1000000000 TASKHUB_SIGNUP_BONUS_DAYS=0 \
    TASKHUB_WS_MAX_SOCKETS_PER_USER=1000 TASKHUB_HTTP_MAX_CONNECTIONS=19950 \
    TASKHUB_WS_MAX_UNAUTHENTICATED=20000 TASKHUB_WS_MAX_UNAUTHENTICATED_PER_IP=0 \
    TASKHUB_RATE_AUTH_PER_MIN=0 TASKHUB_RATE_TASK_CREATE_PER_MIN=0 \
    TASKHUB_RATE_TASK_QUERY_PER_MIN=0 TASKHUB_RATE_OTHER_PER_MIN=0 TASKHUB_RATE_PROVIDER_PER_MIN=0 \
    RUST_LOG="${RUST_LOG:-warn}" "$@" "$bin/taskhub" serve >"$out/node$n.log" 2>&1 &
  pids+=($!)
  node_pid[$n]=$!
}
node_env 1 TASKHUB_PROVIDER=openai OPENAI_BASE_URL="http://127.0.0.1:$sim_port/v1" OPENAI_API_KEY=sk-FAKE-bench-pipeline
node_env 2 TASKHUB_PROVIDER=callback
node_env 3 TASKHUB_POLLER=false
for n in 1 2 3; do
  for _ in $(seq 1 300); do
    curl -sf "http://10.77.$n.1:$port/health" >/dev/null && break
    kill -0 "${node_pid[$n]}" 2>/dev/null || { echo "node $n died:"; cat "$out/node$n.log"; exit 1; }
    sleep 0.2
  done
  curl -sf "http://10.77.$n.1:$port/health" >/dev/null || { echo "node $n did not start"; exit 1; }
done
echo "nodes A B C: pids ${node_pid[1]} ${node_pid[2]} ${node_pid[3]} on 10.77.{1,2,3}.1:$port, database $db, output in $out"
echo "versions: $("$bin/taskhub" --version), redis $(redis-server --version | cut -d' ' -f3), $(psql --version), $(rustc --version)"

# Line-buffered: the event phase's samples are picked by line count as it starts and ends.
stdbuf -oL vmstat -t 5 >"$out/vmstat.log" 2>&1 &
pids+=($!)
# Load generator N: sockets on node N, tasks created on the node that drives them.
creator=(x 2 1 1)
max=$((600 + duration + drain))
for n in 1 2 3; do
  ip netns exec "tb-gen$n" "$bin/loadgen" --url "http://10.77.$n.1:$port" \
    --create-url "http://10.77.${creator[$n]}.1:$port" --user-prefix "pipe$n-" \
    --sockets "$per_node" --users "$users" --tasks-per-user 0 --mode user \
    --source-ip "10.77.$n.2" --sources 1 --server-pid "${node_pid[$n]}" \
    --task-rate "$rate" --duration "$duration" --drain-max "$drain" \
    --start-file "$out/start" --max-seconds "$max" --threads 1 >"$out/gen$n.log" 2>&1 &
  pids+=($!)
  gen_pid[$n]=$!
done
for n in 1 2 3; do
  until grep -q 'pipeline: ready' "$out/gen$n.log"; do
    kill -0 "${gen_pid[$n]}" 2>/dev/null || { echo "load generator $n ended early:"; cat "$out/gen$n.log"; exit 1; }
    sleep 0.5
  done
  grep -E '^(setup|connected|server RSS)' "$out/gen$n.log" | sed "s/^/gen$n: /"
done
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
node_ticks() { echo "x $(ticks "${node_pid[1]}") $(ticks "${node_pid[2]}") $(ticks "${node_pid[3]}")"; }
# The nodes' CPU with every socket held and nothing happening (heartbeats only), to set
# beside the event phase's.
idle_secs=10
i0="$(node_ticks)"
sleep "$idle_secs"
i1="$(node_ticks)"
t0="$(node_ticks)"
b0="$(busy)"
v0=$(wc -l <"$out/vmstat.log")
echo "all $((3 * per_node)) sockets subscribed; creating tasks for ${duration}s at $rate/s per load generator"
touch "$out/start"
for n in 1 2 3; do
  wait "${gen_pid[$n]}" || { echo "load generator $n failed:"; tail -20 "$out/gen$n.log"; exit 1; }
done
t1="$(node_ticks)"
b1="$(busy)"
v1=$(wc -l <"$out/vmstat.log")
# Each node's own count of provider calls (by provider) and of events its poller committed:
# a node that drove no task has none.
for n in 1 2 3; do
  curl -sf "http://10.77.$n.1:$port/metrics" >"$out/node$n.metrics" || true
  echo "node $n: provider calls $(awk '/^taskhub_provider_calls_total/ {match($0, /provider="[a-z]*"/); p[substr($0, RSTART + 10, RLENGTH - 11)] += $NF} END {for (k in p) printf "%s=%d ", k, p[k]}' "$out/node$n.metrics")," \
    "poller events $(awk '/^taskhub_poller_events_total/ {s += $NF} END {print s + 0}' "$out/node$n.metrics")," \
    "frames sent $(awk '/^taskhub_ws_frames_sent_total/ {s += $NF} END {print s + 0}' "$out/node$n.metrics")," \
    "coalesced $(awk '/^taskhub_ws_coalesced_total/ {s += $NF} END {print s + 0}' "$out/node$n.metrics")"
done
for n in 1 2 3; do grep '^summary: ' "$out/gen$n.log" | sed 's/^summary: //' >"$out/gen$n.json"; done

echo "--- database: tasks by load generator (email prefix), provider and status"
psql "$pg/$db" -qAtF ' | ' -c "
  SELECT split_part(u.email, '-', 1), t.provider, t.status, count(*), sum(t.seq),
         string_agg(DISTINCT coalesce(t.error_code, '-'), ',')
  FROM tasks t JOIN users u ON u.id = t.user_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" \
  | tee "$out/db.txt"
echo "(gen | provider | status | tasks | events (sum of seq) | error codes)"
psql "$pg/$db" -qAt -c "SELECT count(*) FROM task_events" | sed 's/^/task_events rows: /' | tee -a "$out/db.txt"
for n in 1 2 3; do
  echo "node$n log: $(grep -c ' WARN ' "$out/node$n.log" || true) warnings, $(grep -c ' ERROR ' "$out/node$n.log" || true) errors"
done

echo "--- figures"
python3 - "$out" "$per_node" "$t0" "$t1" "$b0" "$b1" "$i0" "$i1" "$idle_secs" <<'EOF'
import json, sys
out, per_node = sys.argv[1], int(sys.argv[2])
t0 = [int(x) for x in sys.argv[3].split()[1:]]
t1 = [int(x) for x in sys.argv[4].split()[1:]]
b0, b1 = [int(x) for x in sys.argv[5].split()], [int(x) for x in sys.argv[6].split()]
i0 = [int(x) for x in sys.argv[7].split()[1:]]
i1 = [int(x) for x in sys.argv[8].split()[1:]]
idle_secs = int(sys.argv[9])
gens = [json.load(open(f"{out}/gen{n}.json")) for n in (1, 2, 3)]
def merged(key):
    counts, mx = {}, 0
    for g in gens:
        for up, n in g[key]["buckets"]:
            counts[up] = counts.get(up, 0) + n
        mx = max(mx, g[key]["maxUs"])
    total = sum(counts.values())
    def pct(p):
        want, seen = max(1, -(-p * total // 100)), 0
        for up in sorted(counts):
            seen += counts[up]
            if seen >= want:
                return min(up, mx) / 1000
        return mx / 1000
    return total, pct(50), pct(99), pct(99.9), mx / 1000
names = ["A (openai poller)", "B (callback poller)", "C (no poller)"]
print("| node | sockets held | RSS before -> with sockets (KiB) | bytes/socket | frames read | frames/s | node CPU % idle / events | node CPU ms per 1,000 frames |")
print("|---|---|---|---|---|---|---|---|")
frames_all = 0
for i, g in enumerate(gens):
    frames_all += g["framesTimed"]
    print(f"| {names[i]} | {g['held']:,} of {g['sockets']:,} | {g['serverRssBeforeKiB']:,} -> {g['serverRssKiB']:,} | {g['serverBytesPerSocket']:,.0f} | {g['framesTimed']:,} | {g['framesPerSec']:,.0f} | {(i1[i] - i0[i]) / idle_secs:.0f} / {g['nodeCpuPct']:.0f} | {g['nodeCpuMsPer1000Frames']} |")
nodes_ms = sum(b - a for a, b in zip(t0, t1)) * 10
busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1]) * 100
print(f"all three nodes: {nodes_ms / 1000:.1f} s CPU for {frames_all:,} frames = {nodes_ms * 1000 / max(1, frames_all):.1f} ms per 1,000 frames; machine busy {busy:.0f}% over the phase")
for key, name in (("commitToReadHist", "event committed -> frame read"), ("firstProgressHist", "task created (REST answer read) -> first taskProgress frame")):
    n, p50, p99, p999, mx = merged(key)
    print(f"{name}: n={n:,} p50 {p50} ms, p99 {p99} ms, p99.9 {p999} ms, max {mx} ms")
tot = lambda k: sum(g[k] for g in gens)
print(f"tasks created {tot('tasksCreated'):,} ({tot('createFailed')} failed), terminal {tot('tasksTerminal'):,}; "
      f"event frames {tot('deliveredEventFrames'):,} of {tot('expectedEventFrames'):,} expected; "
      f"terminal frames {tot('deliveredTerminalFrames'):,} of {tot('expectedTerminalFrames'):,}; "
      f"disorder {tot('disorder')}, seq gaps {tot('seqGaps')}, closed 4002 {tot('closed4002')}, "
      f"tasks without a progress frame {tot('tasksWithoutProgressFrame')}")
for n, g in enumerate(gens, 1):
    print(f"gen{n}: " + json.dumps({k: v for k, v in g.items() if not k.endswith('Hist')}))
EOF
vm() { awk -v a="$1" -v b="$2" 'NR > a && NR <= b && $1 ~ /^[0-9]+$/ {r += $1; id += $15; st += $17; n++}
  END {if (n) printf "%d samples, run queue %.1f, idle %.0f%%, steal %.0f%%", n, r / n, id / n, st / n}' "$out/vmstat.log"; }
echo "--- vmstat (5 s samples, means): whole run $(vm 3 999999); event phase $(vm "$v0" "$v1")"
