# Sourced by the benchmark and abuse scripts: `start_release_server BIN [VAR=value ...]`
# starts BIN (a release build) on a free loopback port with a fresh data dir and the given
# environment, waits for its "listening" line, and sets $pid, $port, $data and $log. The
# server is killed and the data dir removed when the calling script exits.
start_release_server() {
  local bin=$1
  shift
  data=$(mktemp -d)
  log="$data/server.log"
  env TASKHUB_DATA_DIR="$data" TASKHUB_ADDR=127.0.0.1:0 RUST_LOG=warn "$@" "$bin" serve >"$log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^taskhub listening on http:\/\/.*:\([0-9]*\)$/\1/p' "$log" | head -1)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "server did not start:"
  cat "$log"
  exit 1
}
