#!/usr/bin/env bash
# Builds the small programs a conformance run with pods needs besides e2e.test, into the same cache
# (tools/e2e/build.sh):
#
#   ${APISNOOP_KUBE_CACHE:-~/.cache/apisnoop/kube}/<KUBE_VERSION>/bin/{ginkgo,nnp,kube-sample-apiserver}
#
# ginkgo: the CLI of the suite's own ginkgo version, which runs e2e.test in parallel processes. nnp: the
# program of the e2e test image nonewprivs (tools/e2e/test-images.ts). kube-sample-apiserver: the
# Aggregator test's sample API server, k8s.io/sample-apiserver at the rig's version, built with
# `go install module@version` so tools/e2e/go.mod (and with it e2e.test's stamp) stays as it is. Seconds
# when cold (under a minute for the sample API server with the rig's build cache), nothing when warm.
# Kept apart from build.sh so that e2e.test's cache stamp (over build.sh) does not change with it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../kube/versions.env
source "$here/../kube/versions.env"

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { echo "e2e helpers build: Go >= 1.24 is required and not on PATH" >&2; exit 1; }
export CGO_ENABLED=0

cache_root="${APISNOOP_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apisnoop/kube}"
bin="$cache_root/$KUBE_VERSION/bin"
mkdir -p "$bin"

stamp="$(cat "$here/build-helpers.sh" "$here/../kube/versions.env" "$here/go.mod" "$here/go.sum" <(go version) |
  sha256sum | cut -c1-16)"
if [[ -x "$bin/ginkgo" && -x "$bin/nnp" && -x "$bin/kube-sample-apiserver" && "$(cat "$bin/.e2e-helpers.stamp" 2>/dev/null)" == "$stamp" ]]; then
  exit 0
fi
cd "$here"
nice go build -buildvcs=false -o "$bin/.ginkgo.tmp.$$" github.com/onsi/ginkgo/v2/ginkgo
nice go build -buildvcs=false -ldflags "-s -w" -o "$bin/.nnp.tmp.$$" k8s.io/kubernetes/test/images/nonewprivs
# The staging module's version for a Kubernetes release: v1.34.4 -> v0.34.4.
gobin="$(mktemp -d)"
trap 'rm -rf "$gobin"' EXIT
GOBIN="$gobin" nice go install -ldflags "-s -w" "k8s.io/sample-apiserver@v0.${KUBE_VERSION#v1.}"
mv -f "$gobin/sample-apiserver" "$bin/kube-sample-apiserver"
mv -f "$bin/.ginkgo.tmp.$$" "$bin/ginkgo"
mv -f "$bin/.nnp.tmp.$$" "$bin/nnp"
echo "$stamp" >"$bin/.e2e-helpers.stamp"
echo "e2e build: ginkgo CLI, nnp and kube-sample-apiserver -> $bin"
