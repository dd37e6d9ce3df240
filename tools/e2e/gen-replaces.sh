#!/usr/bin/env bash
# Regenerates tools/e2e/go.mod's replaces from k8s.io/kubernetes' own go.mod, the same method as
# tools/kube/gen-replaces.sh and the same KUBE_VERSION (tools/kube/versions.env), so e2e.test and the rig's
# kube-apiserver come from one kubernetes version.
#
# k8s.io/kubernetes points every k8s.io/* staging module at ./staging (v0.0.0), which a consumer module
# cannot resolve: each gets `replace k8s.io/<name> => k8s.io/<name> v0.<minor>.<patch>`.
# After it: (cd tools/e2e && go mod tidy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../kube/versions.env
source "$here/../kube/versions.env"
cd "$here"

staging="v0.${KUBE_VERSION#v1.}" # v1.34.4 -> v0.34.4
modfile="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[[ -f "$modfile" ]] || { echo "gen-replaces: no go.mod for k8s.io/kubernetes@${KUBE_VERSION}" >&2; exit 1; }

mapfile -t staged < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$modfile" | sort -u)
[[ ${#staged[@]} -gt 0 ]] || { echo "gen-replaces: found no ./staging replaces in $modfile" >&2; exit 1; }

for old in $(go mod edit -json | sed -n 's/^[[:space:]]*"Path": "\(k8s\.io\/[^"]*\)",$/\1/p' | sort -u); do
  go mod edit -dropreplace="$old" 2>/dev/null || true
done
args=()
for m in "${staged[@]}"; do args+=("-replace=${m}=${m}@${staging}"); done
go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}" "${args[@]}"
echo "gen-replaces: ${#staged[@]} staging modules -> ${staging} (from k8s.io/kubernetes@${KUBE_VERSION})"
