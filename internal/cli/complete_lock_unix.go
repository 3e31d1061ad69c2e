//go:build unix

package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// tryLockShared takes a shared lock on f, the lock bbolt takes to read,
// failing at once where a writer holds it instead of waiting.
func tryLockShared(f *os.File) bool {
	return unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil
}
