package outfile

import (
	"errors"
	"fmt"
	"os"

	"github.com/apimtls/apimtls/internal/errkind"
)

// ErrBusy says that another process holds the lock of an output file.
var ErrBusy = errkind.New(errkind.Locked, "in use by another running apimtls")

// Lock is held on an output file for as long as the process that wrote it
// serves from it, such as serve's throwaway CA: a second process asking for
// the same file gets ErrBusy instead of replacing it under the first.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock of path (path + ".lock", resolved like Check), or
// fails at once with ErrBusy. The operating system drops the lock when the
// process ends, however it ends.
func Acquire(path string, protected Protected) (*Lock, error) {
	target, err := Check(path, protected)
	if err != nil {
		return nil, err
	}
	lp := target + ".lock"
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", target, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrBusy) {
			return nil, fmt.Errorf("%s is %w", target, ErrBusy)
		}
		return nil, fmt.Errorf("lock %s: %w", target, err)
	}
	return &Lock{f: f, path: lp}, nil
}

// Release drops the lock and removes the lock file.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	os.Remove(l.path) // while still held, so no one else's lock file goes
	err := l.f.Close()
	l.f = nil
	return err
}
