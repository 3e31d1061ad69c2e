//go:build tools

// Package tools pins staticcheck, which .ci/run and scripts/lint run over
// the repository. It is a module of its own so that staticcheck's
// dependencies stay out of apimtls's go.mod.
package tools

import _ "honnef.co/go/tools/cmd/staticcheck"
