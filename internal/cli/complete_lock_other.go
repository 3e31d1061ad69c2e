//go:build !unix

package cli

import "os"

// tryLockShared cannot take a lock without waiting here: completion of
// names stays off rather than risk blocking the shell.
func tryLockShared(*os.File) bool { return false }
