//go:build unix

package pki

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockBatch takes the lock that marks a bulk batch directory as in use by
// a live process; the lock dies with the process, so a killed run's batch
// is recovered by the next open.
func lockBatch(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, keyMode)
	if err != nil {
		return nil, false, err
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}

// batchLocksWork reports whether lockBatch tells live batches from dead
// ones; where it cannot, bulk issuance keeps the inventory locked.
const batchLocksWork = true

// syncStaged makes every file written into a batch durable: one syncfs(2)
// for the whole batch instead of an fsync per file.
func syncStaged(dir string, _ []string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
