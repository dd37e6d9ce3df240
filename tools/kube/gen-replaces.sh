#!/usr/bin/env bash
# Regenerates the replaces of a Go module that depends on k8s.io/kubernetes, from kubernetes' own go.mod:
#   tools/kube/gen-replaces.sh [MODULE_DIR]     (default: tools/kube; tools/e2e uses it too)
#
# k8s.io/kubernetes points every k8s.io/* staging module at ./staging (version v0.0.0), which a consumer
# module cannot resolve. Each of those gets `replace k8s.io/<name> => k8s.io/<name> v0.<minor>.<patch>`,
# derived here from the kubernetes go.mod at KUBE_VERSION so the list is never hand-maintained.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cd "${1:-$here}"

staging="v0.${KUBE_VERSION#v1.}" # v1.34.4 -> v0.34.4
modfile="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[[ -f "$modfile" ]] || { echo "gen-replaces: no go.mod for k8s.io/kubernetes@${KUBE_VERSION}" >&2; exit 1; }

mapfile -t staged < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$modfile" | sort -u)
[[ ${#staged[@]} -gt 0 ]] || { echo "gen-replaces: found no ./staging replaces in $modfile" >&2; exit 1; }

# Drop every existing replace, then add exactly the generated set.
for old in $(go mod edit -json | sed -n 's/^[[:space:]]*"Path": "\(k8s\.io\/[^"]*\)",$/\1/p' | sort -u); do
  go mod edit -dropreplace="$old" 2>/dev/null || true
done
args=()
for m in "${staged[@]}"; do args+=("-replace=${m}=${m}@${staging}"); done
go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}" "${args[@]}"
echo "gen-replaces: ${#staged[@]} staging modules -> ${staging} (from k8s.io/kubernetes@${KUBE_VERSION})"
