package authorizer

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"
)

// Archs are the Lambda architectures, by their Go names.
var Archs = []string{"arm64", "amd64"}

// LambdaArch is the Lambda name of a Go architecture.
func LambdaArch(goarch string) string {
	if goarch == "amd64" {
		return "x86_64"
	}
	return goarch
}

// ArchMismatchError: the running apimtls cannot be the bootstrap asked for.
type ArchMismatchError struct{ Have, Want string }

func (e *ArchMismatchError) Error() string {
	return fmt.Sprintf("this apimtls is built for %s, and a Lambda function on %s needs linux/%s", e.Have, LambdaArch(e.Want), e.Want)
}

// Package is the Lambda deployment package.
type Package struct {
	Zip          []byte
	Arch         string // Go name
	BootstrapSHA string // SHA-256 of the bootstrap, hex
	Size         int64  // of the bootstrap
}

// BuildPackage zips the running executable as `bootstrap`: apimtls itself
// answers as the authorizer when Lambda starts it (see cli.Main), so the
// released binary is the whole function and no Go toolchain is needed. It
// works only when this binary is linux/arch; otherwise the release archive
// for that platform is needed, and the error says so.
func BuildPackage(arch string) (*Package, error) {
	have := runtime.GOOS + "/" + runtime.GOARCH
	if runtime.GOOS != "linux" || runtime.GOARCH != arch {
		return nil, &ArchMismatchError{Have: have, Want: arch}
	}
	data, err := readExecutable()
	if err != nil {
		return nil, err
	}
	return packageOf(data, arch)
}

// packageOf zips a linux/arch apimtls binary as the bootstrap.
func packageOf(data []byte, arch string) (*Package, error) {
	zipped, err := zipBootstrap(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return &Package{Zip: zipped, Arch: arch, BootstrapSHA: hex.EncodeToString(sum[:]), Size: int64(len(data))}, nil
}

// zipBootstrap writes a zip with one executable file, bootstrap, at its
// root, with a fixed date so the same binary gives the same zip.
func zipBootstrap(exe []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	hdr.SetMode(0o755) // Lambda runs bootstrap: it must be executable in the zip
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(exe); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*ArchMismatchError) ErrorKind() errkind.Kind { return errkind.Invalid }
