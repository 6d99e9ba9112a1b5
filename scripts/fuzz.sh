#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 600), one after another,
# each from its committed corpus (fuzz/corpus/<target>; a run of a minute or more adds what
# it found there, minimised).
# Needs Rust nightly (rustup's `nightly` toolchain) and cargo-fuzz, installed here from
# crates.io when missing. A crash stops the run: libFuzzer prints the input and saves it
# under fuzz/artifacts/<target>/, and `cargo +nightly fuzz run <target> <file>` replays it.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

seconds="${1:-600}"
shift || true

ensure_cargo_fuzz

targets=("$@")
if [ "${#targets[@]}" = 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

log "building the fuzz targets (nightly, sanitizer coverage)"
(cd fuzz && cargo +nightly fuzz build)
built="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"

for target in "${targets[@]}"; do
  log "fuzzing $target for ${seconds}s"
  # New inputs go to a scratch corpus; the committed one is only read, so a short run
  # (scripts/test.sh) changes no tracked file. A long run's finds join it, minimised.
  scratch="fuzz/target/corpus/$target"
  rm -rf "$scratch"
  mkdir -p "$scratch" "fuzz/corpus/$target" "fuzz/artifacts/$target"
  output="fuzz/target/$target.log"
  if ! "$built/$target" -artifact_prefix="fuzz/artifacts/$target/" \
      -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
      "$scratch" "fuzz/corpus/$target" >"$output" 2>&1; then
    tail -n 60 "$output"
    echo "fuzz target $target failed: the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs)' "$output" || true
  if [ "$seconds" -ge 60 ]; then
    "$built/$target" -merge=1 "fuzz/corpus/$target" "$scratch" >>"$output" 2>&1
  fi
  rm -rf "$scratch"
done
