//go:build tools

// Package e2e pins the upstream Kubernetes e2e suite so `go test -c k8s.io/kubernetes/test/e2e` builds the
// conformance test binary from the same k8s.io/kubernetes version as the rig's kube-apiserver.
package e2e

import _ "k8s.io/kubernetes/test/e2e"
