#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and helm from their Go modules, and the node's
# kubelet, kube-scheduler, kube-proxy, kubectl, agnhost, CoreDNS and pause, into a per-version cache outside
# the repository:
#
#   ${APISNOOP_KUBE_CACHE:-~/.cache/apisnoop/kube}/<KUBE_VERSION>/bin/{etcd,kube-apiserver,...,coredns,pause}
#
# Warm (same versions.env, go.mod/go.sum and Go version as the last successful build): returns in about a
# second. Cold: prints one progress line per component plus packages compiled, and the total time.
# RIG_BUILD_KCM=0 skips kube-controller-manager (then namespaces never finish deleting, no GC, no default
# service accounts); RIG_BUILD_NODE=0 skips the node's components.
# Needs Go (>= 1.24) and network access to the Go module proxy; the node's pause binary is C (upstream's
# build/pause/linux/pause.c from the k8s.io/kubernetes module), compiled statically with gcc.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || { echo "kube build: Go >= 1.24 is required and not on PATH" >&2; exit 1; }
go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [[ -z "$go_minor" || "$go_minor" -lt 24 ]]; then
  echo "kube build: Go >= 1.24 is required (kubernetes v1.34 needs it); found $(go env GOVERSION)" >&2
  exit 1
fi
# Static binaries like upstream's release builds; no C toolchain needed, same result with or without gcc.
export CGO_ENABLED=0

cache_root="${APISNOOP_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apisnoop/kube}"
dir="$cache_root/$KUBE_VERSION"
bin="$dir/bin"
mkdir -p "$bin"

components=(etcd kube-apiserver helm)
[[ "${RIG_BUILD_KCM:-1}" == "0" ]] || components+=(kube-controller-manager)
node_components=(kubelet kube-scheduler kube-proxy kubectl agnhost coredns pause)
[[ "${RIG_BUILD_NODE:-1}" == "0" ]] || components+=("${node_components[@]}")

# The Go module each component is built from: the control plane's (.), helm's, the node's, CoreDNS's.
module_of() {
  case "$1" in
    helm) echo "$here/helm" ;;
    kubelet | kube-scheduler | kube-proxy | kubectl | agnhost | pause) echo "$here/node" ;;
    coredns) echo "$here/coredns" ;;
    *) echo "$here" ;;
  esac
}

# A component's stamp captures every input that changes its binary: this script, the versions, its
# module's go.mod/go.sum and the Go version (for pause: the C compiler's version instead).
stamp_of() {
  local mod toolchain
  mod="$(module_of "$1")"
  if [[ "$1" == pause ]]; then toolchain="$(gcc --version 2>&1 | head -n1)"; else toolchain="$(go version)"; fi
  cat "$here/build.sh" "$here/versions.env" "$mod/go.mod" "$mod/go.sum" <(echo "$toolchain") | sha256sum | cut -c1-16
}

missing=()
for c in "${components[@]}"; do
  if [[ ! -x "$bin/$c" || "$(cat "$bin/.$c.stamp" 2>/dev/null)" != "$(stamp_of "$c")" ]]; then missing+=("$c"); fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "kube build: warm, ${components[*]} up to date in $bin"
  exit 0
fi

# The version the binaries report (/version, kubectl version) — upstream's hack/lib/version.sh sets the same.
major="${KUBE_VERSION#v}"; major="${major%%.*}"
minor="${KUBE_VERSION#v*.}"; minor="${minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

log="$dir/build.log"
: >"$log"
total_start=$SECONDS
echo "kube build: cold build of ${missing[*]} into $bin (log: $log)"
i=0
for c in "${missing[@]}"; do
  i=$((i + 1))
  moddir="$(module_of "$c")"
  case "$c" in
    etcd) pkg=go.etcd.io/etcd/server/v3; ldflags="-s -w" ;;
    kube-apiserver | kube-controller-manager | kubelet | kube-scheduler | kube-proxy | kubectl)
      pkg="k8s.io/kubernetes/cmd/$c"; ldflags="$kube_ldflags" ;;
    agnhost) pkg=k8s.io/kubernetes/test/images/agnhost; ldflags="-s -w" ;;
    coredns)
      pkg=.
      have="$(cd "$moddir" && go list -m -f '{{.Version}}' github.com/coredns/coredns)"
      if [[ "$have" != "$COREDNS_VERSION" ]]; then
        echo "kube build: tools/kube/coredns/go.mod has CoreDNS $have, versions.env says $COREDNS_VERSION" >&2
        exit 1
      fi
      ldflags="-s -w" ;;
    pause) pkg=k8s.io/kubernetes/build/pause/linux/pause.c ;;
    helm) pkg=helm.sh/helm/v3/cmd/helm
      # As helm's Makefile: the default .Capabilities.KubeVersion follows the k8s.io/client-go it is built with
      # (v0.34.x -> 1.34); unset, helm would template for Kubernetes v1.20.
      cg="$(cd "$moddir" && go list -m -f '{{.Version}}' k8s.io/client-go)"; cg="${cg#v0.}"; cg_minor="${cg%%.*}"
      ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
      for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
        ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$cg_minor"
      done ;;
  esac
  start=$SECONDS
  echo "  [$i/${#missing[@]}] $c ($pkg) ..."
  if [[ "$c" == pause ]]; then
    # As build/pause/Makefile: -Os -Wall -Werror -static, the version compiled in.
    command -v gcc >/dev/null || { echo "kube build: gcc is required for pause (Debian package gcc)" >&2; exit 1; }
    src="$(cd "$moddir" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
    [[ -f "$src" ]] || (cd "$moddir" && go mod download k8s.io/kubernetes)
    if ! gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-apisnoop" -o "$bin/.$c.tmp.$$" "$src" >>"$log" 2>&1; then
      echo "kube build: pause FAILED; last lines of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    mv -f "$bin/.$c.tmp.$$" "$bin/$c"
    stamp_of "$c" >"$bin/.$c.stamp"
    echo "      done in $((SECONDS - start))s"
    continue
  fi
  # -v lists each package as it is compiled (cached ones are silent): count them, and module downloads, as progress.
  if ! (cd "$moddir" && go build -v -buildvcs=false -ldflags "$ldflags" -o "$bin/.$c.tmp.$$" "$pkg") 2>&1 |
    tee -a "$log" |
    awk '/^go: downloading/ { d++; if (d % 50 == 0) { printf "        %d modules downloaded\n", d; fflush() }; next }
         { n++; if (n % 200 == 0) { printf "        %d packages compiled\n", n; fflush() } }'; then
    echo "kube build: $c FAILED; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  mv -f "$bin/.$c.tmp.$$" "$bin/$c"
  stamp_of "$c" >"$bin/.$c.stamp"
  echo "      done in $((SECONDS - start))s"
done
echo "kube build: total $((SECONDS - total_start))s for ${missing[*]}"
