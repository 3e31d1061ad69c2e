//go:build !unix

package atomicfile

import (
	"os"
	"time"
)

// renameOpen: an open file cannot be renamed here, so the writer closes
// its temporary first.
const renameOpen = false

// staleAge: with no lock to tell a live writer from a dead one, only
// age does, and a long one (a write takes milliseconds; a writer stalled
// longer than this finds its temporary gone and reports the write failed,
// leaving the old file whole).
const staleAge = time.Hour

func lockTemp(*os.File) {}

// removeIfUnlocked removes path; a file still open is not removed here.
func removeIfUnlocked(path string) { os.Remove(path) }
