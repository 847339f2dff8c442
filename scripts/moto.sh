#!/usr/bin/env bash
# A local S3-compatible server for the S3 tests and the media benchmark: moto (PyPI) in
# target/moto-venv, listening on 127.0.0.1:5010 (MOTO_PORT). Idempotent: a server already
# answering S3 calls there is left alone; a moto server there that fails them (its checkout
# was removed under it) is replaced.
#
#   scripts/moto.sh --install   # only create the virtualenv (what CI does first)
#   scripts/moto.sh             # start it in the background (installed first if needed: no)
#   scripts/moto.sh --stop      # stop the server this script started
#
# Tests find it through TEST_S3_URL=http://127.0.0.1:5010 (scripts/test.sh exports it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/moto-venv
version="5.2.5"
port="${MOTO_PORT:-5010}"
pidfile=target/moto.pid

reachable() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$port" 2>/dev/null; }
# Answers an S3 call (ListBuckets), not only the port: a moto server whose checkout was
# removed under it still listens but answers 500 to everything.
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$port/")" = 200 ]; }

case "${1:-}" in
  --install)
    [ -x "$venv/bin/moto_server" ] && "$venv/bin/pip" show moto 2>/dev/null | grep -q "^Version: $version$" && exit 0
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$version"
    "$venv/bin/pip" show moto | grep '^Version'
    exit 0
    ;;
  --stop)
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    exit 0
    ;;
esac

if reachable; then
  healthy && exit 0
  stale=$(pgrep -f "moto_server -H 127.0.0.1 -p $port" || true)
  if [ -z "$stale" ]; then
    echo "something on 127.0.0.1:$port is not a working S3 server; stop it or set MOTO_PORT" >&2
    exit 1
  fi
  echo "the moto server on 127.0.0.1:$port (pid $stale) fails S3 calls; replacing it" >&2
  kill $stale 2>/dev/null || true
  for _ in $(seq 1 50); do
    reachable || break
    sleep 0.1
  done
fi
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "moto not installed: run scripts/moto.sh --install" >&2
  exit 2
fi
nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 1 100); do
  healthy && exit 0
  sleep 0.2
done
echo "moto did not start on 127.0.0.1:$port (see target/moto.log)" >&2
exit 1
