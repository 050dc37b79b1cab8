#!/usr/bin/env bash
# Validates the deployment files offline (no Docker engine, no cluster):
#   - docker-compose.yml against the Compose specification (check-jsonschema's vendored schema);
#   - the Kustomize rendering of deploy/k8s against Kubernetes' OpenAPI schemas, strictly
#     (kubernetes-validate --strict: unknown fields are errors), for the oldest Kubernetes the
#     manifests support (1.30: the preStop `sleep` action) and the newest the tool bundles.
# The cross-checks against the binaries' options (env names, ports, secrets) are a Rust test:
# `cargo test -p xtask --test deploy`.
#
# Tools: taken from PATH when present, else installed from PyPI (pinned) into a venv under
# target/. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK_JSONSCHEMA_VERSION=0.39.0
KUBERNETES_VALIDATE_VERSION=1.37.0
K8S_VERSIONS=(1.30.0 1.37.0)
VENV=target/deploy-validate/venv

log() { printf '\n==> %s\n' "$*"; }
fail() { printf 'validate-deploy: %s\n' "$*" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------------
tool() {
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  elif [ -x "$VENV/bin/$1" ]; then
    echo "$VENV/bin/$1"
  fi
}
if [ -z "$(tool check-jsonschema)" ] || [ -z "$(tool kubernetes-validate)" ]; then
  log "installing check-jsonschema $CHECK_JSONSCHEMA_VERSION and kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $VENV"
  command -v python3 >/dev/null 2>&1 || fail "python3 is needed to install the validators"
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
CHECK_JSONSCHEMA=$(tool check-jsonschema)
KUBERNETES_VALIDATE=$(tool kubernetes-validate)
command -v kubectl >/dev/null 2>&1 || fail "kubectl is needed to render deploy/k8s (kubectl kustomize)"

# --- docker-compose.yml ----------------------------------------------------------------------
log "docker-compose.yml against the Compose specification"
"$CHECK_JSONSCHEMA" --builtin-schema vendor.compose-spec docker-compose.yml
services=$(python3 - <<'PY'
import re
names, inside = [], False
for line in open("docker-compose.yml", encoding="utf-8"):
    if re.match(r"^services:\s*$", line):
        inside = True
        continue
    if inside and re.match(r"^\S", line):
        break
    match = re.match(r"^  ([A-Za-z0-9_.-]+):\s*$", line) if inside else None
    if match:
        names.append(match.group(1))
print(" ".join(names))
PY
)
echo "compose services: $services"

# --- deploy/k8s --------------------------------------------------------------------------------
rendered=target/deploy-validate/k8s-rendered.yaml
log "kubectl kustomize deploy/k8s > $rendered"
kubectl kustomize deploy/k8s >"$rendered"
objects=$(grep -c '^kind:' "$rendered" || true)
[ "$objects" -gt 0 ] || fail "the rendering of deploy/k8s holds no object"
echo "rendered $objects objects:"
grep '^kind:' "$rendered" | sort | uniq -c

for version in "${K8S_VERSIONS[@]}"; do
  log "kubernetes-validate --strict -k $version ($objects objects)"
  # kubernetes-validate exits non-zero on an invalid object but only warns about a kind it has
  # no schema for; --strict plus the count below make both fail.
  output=$("$KUBERNETES_VALIDATE" --strict -k "$version" "$rendered" 2>&1) || {
    printf '%s\n' "$output"
    fail "kubernetes-validate failed for Kubernetes $version"
  }
  printf '%s\n' "$output" | sed 's/^/  /'
  passed=$(printf '%s\n' "$output" | grep -c ' passed for resource ' || true)
  [ "$passed" -eq "$objects" ] || fail "only $passed of $objects objects passed for Kubernetes $version"
done

log "deployment files valid: docker-compose.yml ($services); deploy/k8s ($objects objects, Kubernetes ${K8S_VERSIONS[*]})"
