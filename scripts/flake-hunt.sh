#!/usr/bin/env bash
# Hunts for tests that fail by chance: builds once, then runs the whole test suite (every
# test binary, each storage test on SQLite and PostgreSQL) N times in a row, and reports
# every test that failed at least once, how often, and its output from each failing run.
#
#   scripts/flake-hunt.sh N        (N defaults to 20)
#
# Every run's full output is kept under target/flake-hunt/ (FLAKE_HUNT_DIR), one file per
# failure beside it. Exits 0 only when all N runs passed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

runs="${1:-20}"
# A run that takes longer has hung: it is stopped and counted as failed.
run_limit="${FLAKE_HUNT_RUN_SECONDS:-1200}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/flake-hunt.sh N (a positive count)" >&2; exit 2; }
out="${FLAKE_HUNT_DIR:-target/flake-hunt}"

ensure_test_services
log "building the binaries and every test once"
cargo build --workspace --bins
cargo test --workspace --all-features --no-run

rm -rf "$out"
mkdir -p "$out/failures"

# Each failing test of one run's log, as "binary test-name", and its output section
# (cargo's "---- name stdout ----" block) in $out/failures/binary__name.run-N.txt.
failures_of() {
  local run=$1 log=$2
  awk -v run="$run" -v dir="$out/failures" '
    /^     Running / {
      binary = $NF; gsub(/[()]/, "", binary); sub(/^.*\//, "", binary); sub(/-[0-9a-f]+$/, "", binary)
      section = ""
    }
    /^---- .* stdout ----$/ {
      section = dir "/" binary "__" $2 ".run-" run ".txt"
      print binary, $2
      next
    }
    /^failures:$/ || /^test result:/ { section = "" }
    section != "" { print > section }
  ' "$log"
}

passed=0
started=$SECONDS
for run in $(seq 1 "$runs"); do
  sweep_test_schemas
  log_file="$out/run-$run.log"
  if timeout --kill-after=30 "$run_limit" \
    cargo test --workspace --all-features --no-fail-fast >"$log_file" 2>&1; then
    passed=$((passed + 1))
    log "run $run of $runs: passed ($((SECONDS - started)) s so far)"
  else
    found=$(failures_of "$run" "$log_file")
    if [ -z "$found" ]; then
      # The suite failed without a failing test: a crash, a hang (stopped after
      # $run_limit s), a build or harness failure.
      found="(suite) see-run-log"
    fi
    printf '%s\n' "$found" | sed "s/^/$run /" >>"$out/failed.txt"
    log "run $run of $runs: FAILED: $(printf '%s\n' "$found" | cut -d' ' -f2 | paste -sd' ')"
  fi
done

echo
echo "flake hunt: $passed of $runs runs passed ($((SECONDS - started)) s); logs in $out/"
[ "$passed" = "$runs" ] && exit 0

echo
echo "tests that failed at least once:"
# "run binary test" lines, grouped by test: the runs it failed in, then its output.
sort -k2,3 -k1n,1 "$out/failed.txt" | awk '
  { key = $2 " " $3; runs[key] = runs[key] (runs[key] == "" ? "" : ", ") $1; count[key]++ }
  END { for (key in count) printf "  %s: failed %d time(s), in run(s) %s\n", key, count[key], runs[key] }
' | sort
echo
for file in "$out"/failures/*.txt; do
  [ -e "$file" ] || continue
  echo "---- $(basename "$file" .txt) ----"
  head -n 60 "$file"
done
exit 1
