//go:build tools

// Package tools pins the goreleaser that checks .goreleaser.yaml and makes
// a snapshot build in CI. A module of its own keeps its dependencies out of
// apimtls's go.mod; scripts/check-release builds it into .bin/goreleaser.
package tools

import _ "github.com/goreleaser/goreleaser/v2"
