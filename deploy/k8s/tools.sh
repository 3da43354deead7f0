#!/usr/bin/env bash
# The manifest tools tests/deploy/test_k8s.py uses, from package registries only, cached under .local/:
#   kustomize            built from its Go module (sigs.k8s.io/kustomize/kustomize/v5) with the machine's Go
#   kubernetes-validate  from PyPI, in its own venv; it bundles the Kubernetes JSON schemas (offline)
# Usage: tools.sh install            install both (idempotent; prints nothing when already there)
#        tools.sh kustomize ARGS...  run kustomize, e.g. `tools.sh kustomize build deploy/k8s/overlays/dev`
#        tools.sh validate ARGS...   run kubernetes-validate, e.g. `tools.sh validate --strict FILE.yaml`
# Env: KUSTOMIZE_VERSION (v5.8.2), KUBERNETES_VALIDATE_VERSION (1.37.0)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../local" && pwd)/lib.sh"

# v5.8.2 is the newest release that builds with Go 1.26 (v5.8.3 asks for Go 1.27).
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
KUSTOMIZE="$LOCAL/bin/kustomize-$KUSTOMIZE_VERSION"
VALIDATE_VENV="$LOCAL/tools/k8s-validate-$KUBERNETES_VALIDATE_VERSION"
VALIDATE="$VALIDATE_VENV/bin/kubernetes-validate"

install_kustomize() {
  [ -x "$KUSTOMIZE" ] && return 0
  go_build_start kustomize "$KUSTOMIZE_VERSION" 1.24 "a minute or two with cold Go caches"
  local gobin
  gobin=$(mktemp -d)
  (cd /tmp && GOBIN="$gobin" CGO_ENABLED=0 \
    go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION") >"$LOGS/kustomize-install.log" 2>&1 \
    || die "building kustomize failed (see $LOGS/kustomize-install.log)"
  mkdir -p "$LOCAL/bin" && mv "$gobin/kustomize" "$KUSTOMIZE" && rm -rf "$gobin"
}

install_validate() { pip_venv "$VALIDATE_VENV" kubernetes-validate "$KUBERNETES_VALIDATE_VERSION"; }

install() { install_kustomize && install_validate; }

case "${1:-}" in
  install) with_lock k8s-tools install ;;
  kustomize) shift; with_lock k8s-tools install_kustomize; exec "$KUSTOMIZE" "$@" ;;
  validate) shift; with_lock k8s-tools install_validate; exec "$VALIDATE" "$@" ;;
  *) die "usage: $0 install | kustomize ARGS... | validate ARGS..." ;;
esac
