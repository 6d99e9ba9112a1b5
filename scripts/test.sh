#!/usr/bin/env bash
# Runs everything CI runs: formatting, clippy with warnings as errors, and every test, on
# SQLite and on PostgreSQL. Makes sure PostgreSQL is there first: installs Debian's
# `postgresql` if missing, starts the cluster if stopped, and checks that the `test`
# database (or SPOKE_TEST_POSTGRES) answers.
set -euo pipefail
cd "$(dirname "$0")/.."

export SPOKE_TEST_POSTGRES="${SPOKE_TEST_POSTGRES:-postgres://127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '== %s\n' "$*"; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

postgres_answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian package postgresql)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi
  fi
  if ! postgres_answers; then
    log "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do postgres_answers && break; sleep 1; done
  fi
  postgres_answers || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
  # Tests connect as the current OS user without a password (trust auth on loopback).
  local me; me=$(id -un)
  as_postgres psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname = '$me'" | grep -q 1 \
    || as_postgres psql -qc "CREATE ROLE \"$me\" LOGIN SUPERUSER"
  as_postgres psql -qtAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || as_postgres psql -qc "CREATE DATABASE test OWNER \"$me\""
  if ! psql "$SPOKE_TEST_POSTGRES" -qtAc 'SELECT 1' >/dev/null 2>&1; then
    echo "cannot connect to $SPOKE_TEST_POSTGRES: check pg_hba.conf allows trust on 127.0.0.1" >&2
    exit 1
  fi
}

# Tests drop their schemas when they end; sweep any that an aborted run left behind.
sweep_test_schemas() {
  psql "$SPOKE_TEST_POSTGRES" -qAt -c "SELECT nspname FROM pg_namespace WHERE nspname ~ '^t_[0-9a-f]{32}$'" |
    while read -r schema; do psql "$SPOKE_TEST_POSTGRES" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null; done
}

ensure_postgres
sweep_test_schemas

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

log "cargo check: the production binary without the simulator (--no-default-features)"
cargo check -p spoke-server --no-default-features --bins

log "building the binaries the checklist suite runs"
cargo build --workspace --bins

log "cargo test"
cargo test --workspace --all-features
