//go:build tools

// Package node pins the node's Kubernetes components (kubelet, kube-scheduler, kube-proxy) and kubectl at
// the same k8s.io/kubernetes version as the control plane, so `go mod tidy` records their module graph in
// go.sum. A module of its own so adding them never changes ../go.mod, whose hash keys the control plane's
// cached binaries. build.sh builds them with `go build <package>`; this file is never compiled.
package node

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
	// The e2e suite's test image: in the toolbox image it serves, echoes and execs for pod-based tests.
	_ "k8s.io/kubernetes/test/images/agnhost"
)
