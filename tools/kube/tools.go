//go:build tools

// Package kube pins the Kubernetes components the rig runs, so `go mod tidy` records their exact module
// graph in go.sum. build.sh builds them with `go build <package>`; this file is never compiled.
package kube

import (
	// etcd at the version kubernetes itself requires (go.etcd.io/etcd/server/v3 is the etcd main package).
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	// Optional (RIG_BUILD_KCM=1): namespace finalization, garbage collection, service-account controllers.
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
