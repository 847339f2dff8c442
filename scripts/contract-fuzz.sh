#!/usr/bin/env bash
# Contract fuzzing: runs schemathesis (PyPI) against /openapi.json of a live build (debug by
# default, the one the test suite just built; CONTRACT_FUZZ_PROFILE=release for a release build),
# signed in, with all of its default checks and a bounded number of examples per operation.
# Exits non-zero on any failure.
#
#   scripts/contract-fuzz.sh                # build, start, fuzz
#   scripts/contract-fuzz.sh --install      # only create the virtualenv (what CI does first)
#
# schemathesis comes from target/schemathesis-venv (created by --install), or $SCHEMATHESIS,
# or the PATH. CONTRACT_FUZZ_EXAMPLES (default 100) bounds the examples per operation;
# CONTRACT_FUZZ_SEED repeats a run (the seed is printed by schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/schemathesis-venv
version="4.32.5"

if [ "${1:-}" = "--install" ]; then
  [ -x "$venv/bin/schemathesis" ] && "$venv/bin/schemathesis" --version | grep -q "$version" && exit 0
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
  "$venv/bin/schemathesis" --version
  exit 0
fi

st="${SCHEMATHESIS:-}"
[ -z "$st" ] && [ -x "$venv/bin/schemathesis" ] && st="$venv/bin/schemathesis"
[ -z "$st" ] && st="$(command -v schemathesis || true)"
if [ -z "$st" ]; then
  echo "schemathesis not found: run scripts/contract-fuzz.sh --install" >&2
  exit 2
fi

# Debug by default: CI has just built it for the tests, and a second (release) build of the whole
# tree would cost the CI run about ten minutes for no extra coverage.
profile="${CONTRACT_FUZZ_PROFILE:-debug}"
case "$profile" in
  # --all-targets: the feature set the test suite built with (with --bin alone, dev-dependency
  # features differ and the dependencies they touch are built again).
  debug) cargo build --all-targets ;;
  release) cargo build --release --bin taskhub ;;
  *) echo "CONTRACT_FUZZ_PROFILE must be debug or release" >&2; exit 2 ;;
esac
# A copy, so a build in a shared target dir cannot swap the binary under the run.
mkdir -p "${CARGO_TARGET_DIR:-target}/contract-fuzz"
bin="${CARGO_TARGET_DIR:-target}/contract-fuzz/taskhub"
cp "${CARGO_TARGET_DIR:-target}/$profile/taskhub" "$bin"

# A stand-in for Stripe's API on loopback, so the Stripe routes run their whole path: every
# Checkout Session it opens is `cs_test_fake_N`. (The keys below are fake.)
stripe_port_file=$(mktemp)
python3 - "$stripe_port_file" <<'PY' &
import http.server, json, sys
import itertools
ids = itertools.count(1)
class Stripe(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        n = next(ids)
        body = json.dumps({"id": f"cs_test_fake_{n}", "url": f"http://127.0.0.1/checkout/fake_{n}"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Stripe)
open(sys.argv[1], "w").write(str(server.server_port))
server.serve_forever()
PY
stripe_pid=$!
trap 'kill $stripe_pid 2>/dev/null; rm -f "$stripe_port_file"' EXIT
for _ in $(seq 1 50); do [ -s "$stripe_port_file" ] && break; sleep 0.1; done
stripe_port=$(cat "$stripe_port_file")

# shellcheck source=release-server.sh
. scripts/release-server.sh
# Limits lifted: the fuzzer sends hundreds of requests a minute from one user and one IP, and
# its user has credits enough for every task it creates. Google sign-in runs against the
# development fake issuer (codes are exchanged at this server's /dev/fake-google/token).
# Everything else is the development default (test login, simulator, local payments).
start_release_server "$bin" TASKHUB_ENV=development \
  STRIPE_API_BASE="http://127.0.0.1:$stripe_port" STRIPE_SECRET_KEY=sk_test_fake_contract_fuzz \
  STRIPE_WEBHOOK_SECRET=whsec_fake_contract_fuzz TASKHUB_SIGNUP_BONUS_CREDITS=100000000 \
  OPENAI_WEBHOOK_SECRET=whsec_ZmFrZS1jb250cmFjdC1mdXp6 \
  STRIPE_PRICE_BASIC=price_fake_basic STRIPE_PRICE_PRO=price_fake_pro \
  TASKHUB_RATE_AUTH_PER_MIN=1000000 TASKHUB_RATE_TASK_CREATE_PER_MIN=1000000 \
  TASKHUB_RATE_TASK_QUERY_PER_MIN=1000000 TASKHUB_RATE_OTHER_PER_MIN=1000000 \
  TASKHUB_HASH_QUEUE_TIMEOUT_MS=120000 TASKHUB_HASH_QUEUE_MAX=100000 \
  TASKHUB_SIMULATOR_SECONDS=2 \
  GOOGLE_CLIENT_ID=fake-contract-fuzz-client TASKHUB_GOOGLE_FAKE=true
trap 'kill $pid $stripe_pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$stripe_port_file"' EXIT
base="http://127.0.0.1:$port"

token=$(python3 - "$base" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/auth/test/login?email=fuzz@example.com", method="POST")
print(json.load(urllib.request.urlopen(req))["data"]["accessToken"])
PY
)
[ -n "$token" ] || { echo "test login failed" >&2; exit 1; }

seed=()
[ -n "${CONTRACT_FUZZ_SEED:-}" ] && seed=(--seed "$CONTRACT_FUZZ_SEED")
start=$(date +%s)
set +e
"$st" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --max-examples "${CONTRACT_FUZZ_EXAMPLES:-100}" \
  --request-timeout 30 \
  --report-dir "${CARGO_TARGET_DIR:-target}/schemathesis-report" \
  "${seed[@]}"
rc=$?
set -e
echo "contract fuzzing: exit $rc after $(($(date +%s) - start)) s"
if [ $rc -ne 0 ] && grep -qi "panicked\|error" "$log"; then
  echo "--- server log (errors) ---"
  grep -i "panicked\|error" "$log" | tail -20
fi
exit $rc
