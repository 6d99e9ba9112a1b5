#!/usr/bin/env bash
# Runs everything CI runs: formatting, clippy with warnings as errors, and every test, on
# SQLite and on PostgreSQL, after making sure what the tests talk to is there
# (scripts/lib/services.sh: PostgreSQL, NATS, standardwebhooks, promtool, Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

ensure_test_services

log "promtool: the Prometheus alert rules and their unit tests"
promtool check rules deploy/prometheus/rules.yml
promtool test rules deploy/prometheus/tests/rules.test.yml

log "deploy/: manifests, Dockerfile, compose file and Prometheus config, checked offline"
scripts/check-deploy.sh

log "no import cycles among the modules"
scripts/import-cycles.py crates/server/src crates/store/src crates/sim/src crates/hubspot/src crates/bench/src

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

log "cargo check: the production binary without the simulator (--no-default-features)"
cargo check -p spoke-server --no-default-features --bins

log "building the binaries the checklist suite runs"
cargo build --workspace --bins

log "the admin API against its OpenAPI document (schemathesis), on SQLite and PostgreSQL"
scripts/check-admin-api.sh

log "fuzz targets, a few seconds each so they keep building (scripts/fuzz.sh runs them long)"
scripts/fuzz.sh 5

log "cargo test"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo test --workspace --all-features 2>&1 | tee "$results"
# One line for the whole run: cargo's own last line is a crate's doc-tests (often none).
awk '/^test result:/ { passed += $4; failed += $6 }
  END { printf "tests: %d passed, %d failed\n", passed, failed }' "$results"
