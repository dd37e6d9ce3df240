// CoreDNS for the rig node's cluster DNS, built from github.com/coredns/coredns at the version kubeadm
// deploys with this Kubernetes release (cmd/kubeadm/app/constants: CoreDNSVersion). Upstream's main
// (coredns.go) links all 50-odd plugins, among them the AWS, Azure and Google Cloud SDKs; this one links
// the plugins of the rig's Corefile — kubeadm's default without forward and loop, since the rig has no
// upstream resolver (tools/rig/node/config.ts) — and builds in a fraction of the time.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
