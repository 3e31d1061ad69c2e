// Package atomicfile replaces a file so that a crash leaves the old file or
// the new one, never a mix: the one such write for the PKI's own files and
// for the files users name.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Write replaces path with data: a temporary file in the same directory,
// synced, renamed over path, and the directory synced. Temporaries of
// path left by a writer that was killed are removed (removeStale).
func Write(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	prefix := tempPrefix(path)
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// The lock says "a live process is writing this": removeStale never
	// takes a locked temporary. Where locks work it is held until the
	// rename is done, so a finished temporary is never taken for a dead
	// one between its close and its rename.
	lockTemp(f)
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !renameOpen {
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if lockTempHook != nil {
		lockTempHook(f)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if renameOpen {
		// Synced and renamed: closing releases the lock, and an error
		// here can no longer lose data.
		f.Close()
	}
	removeStale(dir, prefix, time.Now())
	return SyncDir(dir)
}

// lockTempHook, for tests, sees the temporary just before its rename.
var lockTempHook func(*os.File)

// tempPrefix is the name of path's temporaries, before their random part.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// StaleAfter is how old a temporary must be before removeStale considers
// it: a writer locks its temporary right after creating it, and this
// leaves that moment alone. Where locks do not work (lockTemp), it is the
// whole test, and longer (staleAge).
const StaleAfter = time.Minute

// removeStale removes the temporaries of one target that a killed writer
// left (kill -9 during ca crl left crl/.NAME.crl.tmp-* for ever, issue
// 21): those older than StaleAfter whose writer's lock is free, so never
// one that a live process is writing. It is best effort: what it cannot
// remove stays for the next write.
func removeStale(dir, prefix string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleAge {
			continue
		}
		removeIfUnlocked(filepath.Join(dir, e.Name()))
	}
}

// SyncDir makes a rename or create in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
