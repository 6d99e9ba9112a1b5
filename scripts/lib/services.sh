# What the tests talk to, made sure of before they run; sourced by scripts/test.sh and
# scripts/flake-hunt.sh. PostgreSQL (installs Debian's `postgresql` if missing, starts the
# cluster if stopped, and checks that the `test` database, or SPOKE_TEST_POSTGRES, answers),
# a NATS server with JetStream on 127.0.0.1:4222 (Debian's `nats-server`, started if none
# answers), PyPI's `standardwebhooks`, which checks the HTTP sink's signatures
# independently, `promtool` (Debian's `prometheus`), which checks and unit-tests the alert
# rules, and Debian's `chromium` and `chromium-driver`, which drive the dashboard's browser
# test.

export SPOKE_TEST_POSTGRES="${SPOKE_TEST_POSTGRES:-postgres://127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { printf '== %s\n' "$*"; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  log "installing Debian packages $*"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

postgres_answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
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

nats_answers() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

ensure_nats() {
  nats_answers && return
  command -v nats-server >/dev/null 2>&1 || apt_install nats-server
  log "starting nats-server with JetStream on 127.0.0.1:4222"
  local dir="${TMPDIR:-/tmp}/spoke-test-nats"
  mkdir -p "$dir"
  nohup nats-server --jetstream --addr 127.0.0.1 --port 4222 --store_dir "$dir" >"$dir/log" 2>&1 &
  for _ in $(seq 1 30); do nats_answers && return; sleep 0.5; done
  echo "NATS does not answer on 127.0.0.1:4222 (see $dir/log)" >&2
  exit 1
}

ensure_standardwebhooks() {
  python3 -c 'import standardwebhooks' 2>/dev/null && return
  log "installing PyPI package standardwebhooks"
  python3 -m pip install --quiet standardwebhooks
}

ensure_promtool() {
  command -v promtool >/dev/null 2>&1 || apt_install prometheus
}

ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
    || apt_install chromium chromium-driver
}

# Tests drop their schemas when they end; sweep any that an aborted run left behind. A
# schema is named t_<pid><random> (crates/store/src/testing.rs) or st_<pid>
# (scripts/check-admin-api.sh): one whose process still runs (another suite beside this
# one) is left alone.
sweep_test_schemas() {
  local schema pid
  psql "$SPOKE_TEST_POSTGRES" -qAt -c \
    "SELECT nspname FROM pg_namespace WHERE nspname ~ '^(t_[0-9a-f]{32}|st_[0-9]+)$'" |
    while read -r schema; do
      case $schema in
        t_*) pid=$((16#${schema:2:8})) ;;
        st_*) pid=${schema#st_} ;;
      esac
      [ -d "/proc/$pid" ] && continue
      psql "$SPOKE_TEST_POSTGRES" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 ||
        log "could not drop the leftover schema $schema"
    done
}

# Rust nightly (for sanitizer coverage) and cargo-fuzz, which scripts/fuzz.sh runs.
ensure_cargo_fuzz() {
  rustup toolchain list | grep -q '^nightly' \
    || { echo "the fuzz targets need Rust nightly: rustup toolchain install nightly" >&2; exit 1; }
  cargo +nightly fuzz --version >/dev/null 2>&1 || {
    log "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked --quiet
  }
}

# Everything the test suite needs, running and reachable.
ensure_test_services() {
  ensure_postgres
  sweep_test_schemas
  ensure_nats
  ensure_standardwebhooks
  ensure_promtool
  ensure_chromium
}
