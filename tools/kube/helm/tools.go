//go:build tools

// Package helm pins helm.sh/helm/v3 so `go mod tidy` records its module graph in go.sum; never compiled.
package helm

import _ "helm.sh/helm/v3/cmd/helm"
