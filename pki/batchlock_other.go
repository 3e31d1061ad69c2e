//go:build !unix

package pki

import (
	"os"
	"path/filepath"
)

// lockBatch cannot tell a live batch from a dead one here: every batch is
// recovered, and bulk issuance keeps the inventory locked for its whole run.
func lockBatch(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, keyMode)
	return f, err == nil, err
}

const batchLocksWork = false

// syncStaged fsyncs each staged file and directory.
func syncStaged(dir string, staged []string) error {
	for _, d := range staged {
		entries, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range entries {
			f, err := os.Open(filepath.Join(d, e.Name()))
			if err != nil {
				return err
			}
			err = f.Sync()
			f.Close()
			if err != nil {
				return err
			}
		}
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return syncDir(dir)
}
