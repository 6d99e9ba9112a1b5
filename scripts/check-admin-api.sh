#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a running `spoke serve` on SQLite and on PostgreSQL:
# every route of the admin API's OpenAPI document, with the operator token and without,
# must answer as documented (status, content type, body schema) and never with a 5xx.
# Each engine's spoke starts on its own fresh database with an app configured, and is sent
# a signed webhook of a portal that never installed, so the hydrator quarantines its event
# and the listings have an item to show (records, dead letters and portals stay empty:
# they need an installed portal). Needs the debug `spoke` binary (scripts/test.sh builds
# it) and SPOKE_TEST_POSTGRES.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/services.sh

SPOKE=target/debug/spoke
TOKEN="schemathesis-operator-token-$$"
# Fixed, so a failure can be replayed with the same inputs.
SEED=20261205
work=$(mktemp -d)
schema="st_$$"
pid=""

# Keeps the script's own exit status: a failed check must fail the script.
cleanup() {
  local status=$?
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  psql "$SPOKE_TEST_POSTGRES" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# The 4.x command line (its flags differ from 3.x's).
SCHEMATHESIS="schemathesis>=4.3,<5"

ensure_schemathesis() {
  python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("schemathesis")[:2] != "4.")' \
    2>/dev/null && return
  log "installing PyPI package $SCHEMATHESIS"
  python3 -m pip install --quiet "$SCHEMATHESIS"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts spoke on $1 (a database URL) and waits until it is ready.
start_spoke() {
  local url=$1 port
  port=$(free_port)
  base="http://127.0.0.1:$port"
  # An app, so the hydrator runs; its HubSpot is never called (no portal installs).
  SPOKE_LISTEN="127.0.0.1:$port" SPOKE_DATABASE_URL="$url" SPOKE_PUBLIC_URL="$base" \
    SPOKE_HUBSPOT_CLIENT_SECRET=schemathesis-secret SPOKE_OPERATOR_TOKEN="$TOKEN" \
    SPOKE_HUBSPOT_CLIENT_ID=schemathesis-app SPOKE_TOKEN_KEYS="$keys" \
    SPOKE_HUBSPOT_API_BASE=http://127.0.0.1:9 SPOKE_HUBSPOT_AUTH_BASE=http://127.0.0.1:9 \
    "$SPOKE" serve >"$work/spoke.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf "$base/readyz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "spoke did not become ready on $base:" >&2
  cat "$work/spoke.log" >&2
  exit 1
}

stop_spoke() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" || true
  pid=""
}

# A quarantined event for the routes to show: a signed webhook of portal 62515, which
# never installed; waits until the hydrator has set it aside.
seed_data() {
  local body ts sig held
  body='[{"eventId":1,"subscriptionId":2,"portalId":62515,"appId":3,"occurredAt":1735689599000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123}]'
  ts=$(date +%s%3N)
  sig=$(printf '%s' "POST$base/webhooks/hubspot$body$ts" | openssl dgst -sha256 -hmac schemathesis-secret -binary | base64)
  curl -sf "$base/webhooks/hubspot" -H "X-HubSpot-Signature-v3: $sig" \
    -H "X-HubSpot-Request-Timestamp: $ts" -H 'content-type: application/json' -d "$body" >/dev/null
  for _ in $(seq 1 100); do
    held=$(curl -sf "$base/api/v1/quarantine" -H "Authorization: Bearer $TOKEN" || true)
    [[ "$held" == *'"portalId":62515'* ]] && return
    sleep 0.1
  done
  echo "the seeded event was not quarantined:" >&2
  cat "$work/spoke.log" >&2
  exit 1
}

# schemathesis over every documented route, with the token ($1 = with) or without.
run_schemathesis() {
  local auth=() name=$1
  [ "$name" = with ] && auth=(-H "Authorization: Bearer $TOKEN")
  log "schemathesis on $engine, $name the operator token"
  (cd "$work" && schemathesis run "$base/api/v1/openapi.json" "${auth[@]}" \
    --checks all --seed "$SEED" --max-examples 50 --no-color \
    --generation-database none --warnings off)
}

ensure_schemathesis
keys=$("$SPOKE" keys generate k1)
for engine in sqlite postgres; do
  case $engine in
    sqlite) url="sqlite://$work/spoke.db" ;;
    postgres)
      psql "$SPOKE_TEST_POSTGRES" -qc "CREATE SCHEMA $schema" >/dev/null
      separator='?'; [[ "$SPOKE_TEST_POSTGRES" == *\?* ]] && separator='&'
      url="$SPOKE_TEST_POSTGRES${separator}options[search_path]=$schema"
      ;;
  esac
  start_spoke "$url"
  seed_data
  run_schemathesis with
  run_schemathesis without
  stop_spoke
done
