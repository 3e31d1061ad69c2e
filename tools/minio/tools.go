//go:build tools

// Package tools pins the MinIO server the S3 tests run against. It is a
// module of its own so that MinIO's many dependencies stay out of
// apimtls's go.mod; scripts/build-minio builds it into .bin/minio.
package tools

import _ "github.com/minio/minio"
