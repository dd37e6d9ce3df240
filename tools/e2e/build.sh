#!/usr/bin/env bash
# Builds the upstream Kubernetes e2e suite (`go test -c k8s.io/kubernetes/test/e2e`) from this module into
# the rig's per-version binary cache, next to etcd and kube-apiserver (tools/kube/build.sh):
#
#   ${APISNOOP_KUBE_CACHE:-~/.cache/apisnoop/kube}/<KUBE_VERSION>/bin/e2e.test
#
# Warm (same versions.env, build.sh, go.mod/go.sum and Go version as the last successful build): about a
# second. Cold: compiles the suite's ~2,000 packages with a progress line every 200, then links the test
# binary; prints the total time. Full log: <cache>/<KUBE_VERSION>/e2e-build.log. Runs under `nice`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../kube/versions.env
source "$here/../kube/versions.env"

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { echo "e2e build: Go >= 1.24 is required and not on PATH" >&2; exit 1; }
# Static like the rig's binaries; the package cache is then shared with tools/kube/build.sh's builds.
export CGO_ENABLED=0

cache_root="${APISNOOP_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apisnoop/kube}"
dir="$cache_root/$KUBE_VERSION"
bin="$dir/bin"
mkdir -p "$bin"
out="$bin/e2e.test"

stamp="$(cat "$here/build.sh" "$here/../kube/versions.env" "$here/go.mod" "$here/go.sum" <(go version) |
  sha256sum | cut -c1-16)"
if [[ -x "$out" && "$(cat "$bin/.e2e.test.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "e2e build: warm, $out up to date"
  exit 0
fi

# The version e2e.test reports and puts in its user agent (`e2e.test/v1.34.4 ... -- <test name>`), set
# the way upstream's hack/lib/version.sh does.
major="${KUBE_VERSION#v}"; major="${major%%.*}"
minor="${KUBE_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

log="$dir/e2e-build.log"
: >"$log"
start=$SECONDS
suite=k8s.io/kubernetes/test/e2e
echo "e2e build: cold build of $out from $suite@$KUBE_VERSION (log: $log)"
cd "$here"
# `go test -c` has no package progress (-v is a test flag there), so compile the suite's imports first
# with `go build -v`, which names each package it compiles (cached ones are silent), then link.
mapfile -t imports < <(go list -f '{{join .Imports "\n"}}{{"\n"}}{{join .TestImports "\n"}}' "$suite" | sort -u | grep .)
echo "  [1/2] compiling $suite and its ${#imports[@]} direct imports (all dependencies) ..."
if ! nice go build -v -buildvcs=false "${imports[@]}" 2>&1 | tee -a "$log" |
  awk '/^go: downloading/ { d++; if (d % 50 == 0) { printf "        %d modules downloaded\n", d; fflush() }; next }
       { n++; if (n % 200 == 0) { printf "        %d packages compiled\n", n; fflush() } }
       END { printf "        %d packages compiled\n", n }'; then
  echo "e2e build: compiling FAILED; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
echo "      done in $((SECONDS - start))s"
link_start=$SECONDS
echo "  [2/2] go test -c $suite ..."
if ! nice go test -c -buildvcs=false -ldflags "$ldflags" -o "$bin/.e2e.test.tmp.$$" "$suite" >>"$log" 2>&1; then
  echo "e2e build: go test -c FAILED; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
mv -f "$bin/.e2e.test.tmp.$$" "$out"
echo "$stamp" >"$bin/.e2e.test.stamp"
echo "      done in $((SECONDS - link_start))s"
echo "e2e build: total $((SECONDS - start))s -> $out"
