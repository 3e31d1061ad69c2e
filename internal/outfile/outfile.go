// Package outfile is the one writer of files a user names on the command
// line (truststore build --out, truststore pull --out, serve --server-ca-out
// and --url-file, quickstart's files). Whatever path it is given, it never
// replaces a private key, found by content and through symlinks; it never
// writes into the folders a PKI directory keeps for its own files; and it
// replaces a file atomically, so a crash leaves the old file or the new one.
//
// It imports only the standard library and golang.org/x/sys; callers pass
// the protected paths (from pki.Layout).
package outfile

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/internal/atomicfile"
)

// Mode of files meant to be shared: certificates, bundles, URLs.
const Public fs.FileMode = 0o644

// Protected lists paths no output may go to or below: the CA and client
// folders of a PKI directory, its inventory, its staging folder.
type Protected []string

// RefusedError says why a path was refused. Nothing was written.
type RefusedError struct {
	Path   string // as given
	Target string // the file that would have been written, symlinks followed
	Reason string
}

func (e *RefusedError) Error() string {
	if e.Target != "" && e.Target != e.Path {
		return fmt.Sprintf("refusing to write %s (which leads to %s): %s", e.Path, e.Target, e.Reason)
	}
	return fmt.Sprintf("refusing to write %s: %s", e.Path, e.Reason)
}

// ErrRefused matches every RefusedError with errors.Is.
var ErrRefused = errkind.New(errkind.Conflict, "output refused")

func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Check resolves path and applies every rule without writing, so that a
// command can refuse a bad output before it starts its work. It returns the
// file that Write would replace.
func Check(path string, protected Protected) (string, error) {
	target, err := resolve(path)
	if err != nil {
		return "", err
	}
	for _, p := range protected {
		if under(target, p) {
			return "", &RefusedError{Path: path, Target: target, Reason: "it is in " + p + ", which holds the PKI's own keys and certificates"}
		}
	}
	info, err := os.Stat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return target, nil
	case err != nil:
		return "", err
	case info.IsDir():
		return "", &RefusedError{Path: path, Target: target, Reason: "it is a directory"}
	case !info.Mode().IsRegular():
		return "", &RefusedError{Path: path, Target: target, Reason: "it is not a regular file"}
	}
	isKey, err := holdsPrivateKey(target)
	if err != nil {
		return "", &RefusedError{Path: path, Target: target, Reason: "it exists and cannot be read to make sure it is not a private key: " + err.Error()}
	}
	if isKey {
		return "", &RefusedError{Path: path, Target: target, Reason: "it holds a private key, and apimtls never overwrites a key"}
	}
	return target, nil
}

// Write replaces path with data under the rules of Check: a temporary file
// in the target's folder with mode, synced, renamed over the target (the
// file a symlink points to, the symlink staying), and the folder synced.
func Write(path string, data []byte, mode fs.FileMode, protected Protected) error {
	target, err := Check(path, protected)
	if err != nil {
		return err
	}
	return replace(target, data, mode)
}

// resolve makes path absolute with every symlink followed: of its folder,
// and of the file itself when it exists. A symlink to nothing is refused,
// as what it would create is not what the user named.
func resolve(path string) (string, error) {
	if path == "" {
		return "", errors.New("no output file given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("cannot write %s: the folder %s does not exist", path, filepath.Dir(abs))
		}
		return "", fmt.Errorf("cannot write %s: %w", path, err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("cannot write %s: %w", path, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("cannot write %s: %s is not a folder", path, filepath.Dir(abs))
	}
	full := filepath.Join(dir, filepath.Base(abs))
	li, err := os.Lstat(full)
	if err != nil || li.Mode()&fs.ModeSymlink == 0 {
		return full, nil
	}
	target, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", &RefusedError{Path: path, Reason: "it is a symlink to a file that does not exist"}
	}
	return target, nil
}

// under reports whether path is p or inside it, comparing resolved paths.
func under(path, p string) bool {
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	rel, err := filepath.Rel(abs, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// holdsPrivateKey reads the start of a file and looks for a key in any
// form apimtls or OpenSSL writes: a PEM block whose type ends in "PRIVATE
// KEY" (PKCS #8, encrypted or not, PKCS #1, SEC 1, OpenSSH), a DER key, or
// a PKCS #12 file.
func holdsPrivateKey(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	// Keys are small; a bundle with a key in it somewhere is caught by the
	// text search over the first megabyte.
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return false, err
	}
	return IsPrivateKey(data), nil
}

// IsPrivateKey reports whether data holds a private key.
func IsPrivateKey(data []byte) bool {
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return true
	}
	if len(data) == 0 || data[0] != 0x30 { // DER starts with a SEQUENCE
		return false
	}
	if _, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(data); err == nil {
		return true
	}
	return isPKCS12(data) || isEncryptedPKCS8(data)
}

var (
	oidData  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidPBES2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
)

// isPKCS12 recognises a PFX: SEQUENCE { INTEGER 3, ContentInfo { data ...
// } ... } (RFC 7292 §4).
func isPKCS12(data []byte) bool {
	var pfx struct {
		Version  int
		AuthSafe struct {
			ContentType asn1.ObjectIdentifier
			Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
		}
		Rest asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return false
	}
	return pfx.Version == 3 && pfx.AuthSafe.ContentType.Equal(oidData)
}

// isEncryptedPKCS8 recognises EncryptedPrivateKeyInfo in DER: SEQUENCE {
// AlgorithmIdentifier, OCTET STRING }, with PBES2 or a PKCS #12 PBE scheme.
func isEncryptedPKCS8(data []byte) bool {
	var epki struct {
		Algo struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		Data []byte
	}
	if rest, err := asn1.Unmarshal(data, &epki); err != nil || len(rest) != 0 {
		return false
	}
	a := epki.Algo.Algorithm
	pkcs12PBE := len(a) == 8 && a[:7].Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1})
	return a.Equal(oidPBES2) || pkcs12PBE
}

// replace writes target atomically.
func replace(target string, data []byte, mode fs.FileMode) error {
	return atomicfile.Write(target, data, mode)
}

// ErrorKind says what kind of failure it is (errkind).
func (*RefusedError) ErrorKind() errkind.Kind { return errkind.Conflict }
