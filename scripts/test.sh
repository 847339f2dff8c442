#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, the JS client and browser tests, then
# contract fuzzing of the OpenAPI document (schemathesis).
#
# PostgreSQL, Redis and S3 tests run when the servers answer (TEST_DATABASE_URL, TEST_REDIS_URL,
# TEST_S3_URL; defaults: the local servers, moto started by scripts/moto.sh when installed). When one does not, its tests are skipped and listed as
# skipped at the end, unless CI=true, where a missing backend is an error.
set -uo pipefail
cd "$(dirname "$0")/.."

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
ci="${CI:-false}"
skipped=()
filters=()

reachable() { # host port
  timeout 2 bash -c "</dev/tcp/$1/$2" 2>/dev/null
}
hostport() { # url -> "host port"
  local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}
  local host=${rest%%:*} port=${rest##*:}
  [ "$port" = "$rest" ] && port=$2
  echo "$host $port"
}

# shellcheck disable=SC2046
if ! reachable $(hostport "$TEST_DATABASE_URL" 5432); then
  [ "$ci" = "true" ] && { echo "CI: PostgreSQL is required but not reachable at $TEST_DATABASE_URL" >&2; exit 1; }
  unset TEST_DATABASE_URL; filters+=(--skip postgres); skipped+=("every test named *postgres* (PostgreSQL not reachable)")
fi
# shellcheck disable=SC2046
if ! reachable $(hostport "$TEST_REDIS_URL" 6379); then
  [ "$ci" = "true" ] && { echo "CI: Redis is required but not reachable at $TEST_REDIS_URL" >&2; exit 1; }
  unset TEST_REDIS_URL; filters+=(--skip redis); skipped+=("every test named *redis* (Redis not reachable)")
fi

# moto (S3-compatible server) for the tests named *s3*: started when installed (scripts/moto.sh).
export TEST_S3_URL="${TEST_S3_URL:-http://127.0.0.1:5010}"
[ -x target/moto-venv/bin/moto_server ] && [ "$TEST_S3_URL" = "http://127.0.0.1:5010" ] && ./scripts/moto.sh >/dev/null
# shellcheck disable=SC2046
if ! reachable $(hostport "$TEST_S3_URL" 80); then
  [ "$ci" = "true" ] && { echo "CI: the S3 test server is required but not reachable at $TEST_S3_URL (scripts/moto.sh --install)" >&2; exit 1; }
  unset TEST_S3_URL; filters+=(--skip s3); skipped+=("every test named *s3* (no S3 server; scripts/moto.sh --install)")
fi

# Databases left by earlier runs (each PostgreSQL test makes its own).
if [ -n "${TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null; then
  psql "$TEST_DATABASE_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'th_test_%'" 2>/dev/null |
    while read -r db; do psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; done
fi

status=0
# --all-targets: one feature set for the binaries and the tests (with --bins alone, dev-dependency
# features differ and every affected crate is built twice).
cargo build --all-targets || exit 1
cargo test --all-targets -- "${filters[@]}" || status=1

# JavaScript client: unit tests always (when node exists), live and browser tests against the
# binary just built.
if command -v node >/dev/null && [ -f clients/js/package.json ]; then
  (cd clients/js && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; }) || status=1
  if [ ! -x /usr/bin/chromium ]; then
    [ "$ci" = "true" ] && { echo "CI: /usr/bin/chromium is required for the browser tests" >&2; exit 1; }
    skipped+=("browser tests (no /usr/bin/chromium; apt-get install chromium)")
  fi
  (cd clients/js && TASKHUB_BIN="$PWD/../../target/debug/taskhub" npm test) || status=1
else
  [ "$ci" = "true" ] && { echo "CI: node is required for the JS client tests" >&2; exit 1; }
  skipped+=("JS client and browser tests (no node)")
fi

# Contract fuzzing: schemathesis against /openapi.json of the debug build above (scripts/contract-fuzz.sh).
if [ -x target/schemathesis-venv/bin/schemathesis ] || command -v schemathesis >/dev/null; then
  ./scripts/contract-fuzz.sh || status=1
else
  [ "$ci" = "true" ] && { echo "CI: schemathesis is required (scripts/contract-fuzz.sh --install)" >&2; exit 1; }
  skipped+=("contract fuzzing (no schemathesis; scripts/contract-fuzz.sh --install)")
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo
  echo "SKIPPED:"
  for s in "${skipped[@]}"; do echo "  - $s"; done
fi
exit $status
