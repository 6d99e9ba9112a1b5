#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a running `spoke serve` on SQLite and on PostgreSQL:
# every route of the admin API's OpenAPI document, with the operator token and without,
# must answer as documented (status, content type, body schema) and never with a 5xx.
# Each engine's spoke starts on its own fresh database, with a few records, dead letters
# and a portal in it so the routes have something to show. Needs the debug `spoke` binary
# (scripts/test.sh builds it) and SPOKE_TEST_POSTGRES.
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

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  psql "$SPOKE_TEST_POSTGRES" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ensure_schemathesis() {
  command -v schemathesis >/dev/null 2>&1 && return
  log "installing PyPI package schemathesis"
  python3 -m pip install --quiet schemathesis
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts spoke on $1 (a database URL) and waits until it is ready.
start_spoke() {
  local url=$1 port
  port=$(free_port)
  base="http://127.0.0.1:$port"
  SPOKE_LISTEN="127.0.0.1:$port" SPOKE_DATABASE_URL="$url" SPOKE_PUBLIC_URL="$base" \
    SPOKE_HUBSPOT_CLIENT_SECRET=schemathesis-secret SPOKE_OPERATOR_TOKEN="$TOKEN" \
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
  kill "$pid" && wait "$pid" || true
  pid=""
}

# Rows for the routes to show: a signed webhook (an event in the inbox) for portal 62515.
seed_data() {
  local body ts sig
  body='[{"eventId":1,"subscriptionId":2,"portalId":62515,"appId":3,"occurredAt":1735689599000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123}]'
  ts=$(date +%s%3N)
  sig=$(printf '%s' "POST$base/webhooks/hubspot$body$ts" | openssl dgst -sha256 -hmac schemathesis-secret -binary | base64)
  curl -sf "$base/webhooks/hubspot" -H "X-HubSpot-Signature-v3: $sig" \
    -H "X-HubSpot-Request-Timestamp: $ts" -H 'content-type: application/json' -d "$body" >/dev/null
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
