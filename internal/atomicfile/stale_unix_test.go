//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A killed writer's temporary goes at the next write of the same file; a
// live writer's (its lock held), a recent one, another file's and a folder
// stay (issue 21: kill -9 during ca crl left crl/.NAME.crl.tmp-* for ever).
func TestWriteRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "issuing.crl")
	old := time.Now().Add(-10 * StaleAfter)
	plant := func(name string, mod time.Time) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("half a CRL"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead := plant(".issuing.crl.tmp-111", old)
	recent := plant(".issuing.crl.tmp-222", time.Now())
	other := plant(".root.crl.tmp-333", old)
	live := plant(".issuing.crl.tmp-444", old)
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, ".issuing.crl.tmp-555")
	os.Mkdir(folder, 0o700)
	os.Chtimes(folder, old, old)

	if err := Write(target, []byte("CRL"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the killed writer's temporary is still there (%v)", err)
	}
	for _, p := range []string{recent, other, live, folder} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	// Released (its writer died), the live one goes at the next write.
	f.Close()
	if err := Write(target, []byte("CRL 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); !os.IsNotExist(err) {
		t.Errorf("a temporary whose lock was released is still there (%v)", err)
	}
}

// A writer holds its lock until its rename: a concurrent cleaner never
// takes a finished temporary for a dead one.
func TestWriteHoldsItsLock(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	seen := false
	lockTempHook = func(f *os.File) {
		g, err := os.Open(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		seen = unix.Flock(int(g.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil
	}
	defer func() { lockTempHook = nil }()
	if err := Write(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatal("the temporary was not locked just before its rename")
	}
}
