//go:build unix

package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameOpen: a file may be renamed while open, so the writer keeps its
// temporary open, and locked, until it is renamed.
const renameOpen = true

// staleAge: the lock tells a live writer from a dead one; the age only
// spares the moment between a temporary's creation and its lock.
const staleAge = StaleAfter

// lockTemp takes the writer's lock on its temporary. It dies with the
// process, so a killed writer's temporary has a free lock. A failure
// leaves the temporary unlocked: it is then removed only once older than
// StaleAfter, by which time this write is long done.
func lockTemp(f *os.File) { unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }

// removeIfUnlocked removes path if no process holds its writer's lock.
func removeIfUnlocked(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // a live writer holds it
	}
	os.Remove(path)
}
