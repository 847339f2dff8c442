#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the parsers that read hostile bytes:
# the client WebSocket frame, a bus message off Redis, a task-creation body (JSON and
# multipart), the Stripe-Signature header. Targets live in fuzz/ (its own cargo workspace).
#
#   scripts/fuzz.sh            # every target for 30 s
#   scripts/fuzz.sh 300        # every target for 300 s
#   FUZZ_TARGETS="ws_frame bus_message" scripts/fuzz.sh 60
#   FUZZ_GROW_CORPUS=1 scripts/fuzz.sh 600   # new inputs go into fuzz/corpus/ (then cmin them)
#   scripts/fuzz.sh --shared 30   # what CI runs: the same targets, built on the test suite's build
#
# Two ways to build the same targets (fuzz/fuzz_targets/*.rs):
# - default: `cargo fuzz` from fuzz/ (its own workspace, builds in fuzz/target whatever
#   $CARGO_TARGET_DIR says). Every crate is instrumented and built with AddressSanitizer, so
#   the first build takes about an hour on a 2-core machine. Needs the nightly toolchain;
#   cargo-fuzz is installed into target/tools on first use.
# - --shared: the targets as examples of the main package (feature `fuzzing`), in the main target
#   dir, on the stable toolchain: scripts/fuzz-rustc adds libFuzzer's coverage instrumentation
#   to taskhub and the targets only, so the dependencies the test suite built are reused and
#   the build takes a few minutes. No AddressSanitizer (taskhub has no unsafe code to check);
#   coverage feedback comes from taskhub's code alone. This is CI's bounded run.
#
# By default the committed corpus is only read: new inputs go to fuzz/target/corpus-run/<target>.
# Prints one summary line per target and exits 1 if any target crashed, naming the input that
# did it (replay it by running the target's binary on that file).
set -euo pipefail
cd "$(dirname "$0")/.."

shared=0
if [ "${1:-}" = "--shared" ]; then
  shared=1
  shift
fi
secs="${1:-30}"
case "$secs" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [--shared] [SECONDS]" >&2; exit 2 ;;
esac
targets="${FUZZ_TARGETS:-ws_frame bus_message task_input stripe_signature}"
cargo_fuzz_version="0.13.2"

start=$(date +%s)
if [ "$shared" = 1 ]; then
  examples=()
  for t in $targets; do examples+=(--example "fuzz_$t"); done
  RUSTC_WRAPPER="$PWD/scripts/fuzz-rustc" cargo build --quiet --features fuzzing "${examples[@]}"
  bin_dir="${CARGO_TARGET_DIR:-target}/debug/examples"
else
  tools="$PWD/target/tools"
  if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version" --root "$tools"
  fi
  export PATH="$tools/bin:$PATH"
  unset CARGO_TARGET_DIR
  fuzz=(cargo +nightly fuzz)
  dirs=(--fuzz-dir fuzz --target-dir fuzz/target)
  "${fuzz[@]}" build "${dirs[@]}"
fi
echo "fuzz: built in $(($(date +%s) - start)) s"

logs=fuzz/target/logs
mkdir -p "$logs"
failed=0
summary=()
for t in $targets; do
  corpus=(fuzz/corpus/"$t")
  if [ "${FUZZ_GROW_CORPUS:-0}" != 1 ]; then
    mkdir -p fuzz/target/corpus-run/"$t"
    corpus=(fuzz/target/corpus-run/"$t" fuzz/corpus/"$t")
  fi
  log="$logs/$t.log"
  status=ok
  if [ "$shared" = 1 ]; then
    mkdir -p fuzz/target/artifacts/"$t"
    run=("$bin_dir/fuzz_$t" -artifact_prefix=fuzz/target/artifacts/"$t"/ "${corpus[@]}")
  else
    run=("${fuzz[@]}" run "${dirs[@]}" "$t" "${corpus[@]}" --)
  fi
  if ! "${run[@]}" -max_total_time="$secs" -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
    status=CRASHED
    failed=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  corp=$(grep -o 'corp: [0-9]*/[0-9]*[A-Za-z]*' <<<"$last" | cut -d' ' -f2 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | cut -d' ' -f2 || true)
  line="fuzz: $t: $status, ${runs:-?} runs in ${secs} s, corpus ${corp:-?} (entries/bytes), cov ${cov:-?}"
  echo "$line"
  summary+=("$line")
  if [ "$status" != ok ]; then
    grep -E 'panicked at|ERROR: |SUMMARY: ' "$log" | head -5 || true
    artifact=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -1 | cut -d' ' -f5 || true)
    echo "fuzz: $t: crash input: ${artifact:-none written (see $log)}"
    echo "fuzz: $t: full log: $log"
  fi
done

echo "fuzz: total $(($(date +%s) - start)) s"
printf '%s\n' "${summary[@]}"
exit "$failed"
