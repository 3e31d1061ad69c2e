package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/apimtls/apimtls/internal/atomicfile"
)

// Permissions of what apimtls writes. Keys and PKCS #12 files are readable
// by their owner only; the PKI directory is closed to everyone else.
const (
	dirMode    fs.FileMode = 0o700
	keyMode    fs.FileMode = 0o600
	publicMode fs.FileMode = 0o644
)

// writeNewFile creates path with O_EXCL, so nothing is ever overwritten,
// writes data and syncs it. On failure it removes what it created.
func writeNewFile(path string, data []byte, mode fs.FileMode) error {
	return writeNew(path, data, mode, true)
}

// writeNew is writeNewFile; without sync the caller syncs later.
func writeNew(path string, data []byte, mode fs.FileMode, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory, synced, renamed over path, and the directory synced, so a
// crash leaves the old file or the new one and never a mix.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	return atomicfile.Write(path, data, mode)
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// exists reports whether path exists, treating errors other than "not
// found" as existing so that callers refuse rather than overwrite.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// LoosePermissions reports whether a key file can be read by others.
func LoosePermissions(path string) (bool, fs.FileMode) {
	info, err := os.Stat(path)
	if err != nil {
		return false, 0
	}
	mode := info.Mode().Perm()
	return mode&0o077 != 0, mode
}

func renameChecked(oldpath, newpath string) error {
	if exists(newpath) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}
