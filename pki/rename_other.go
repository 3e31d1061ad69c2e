//go:build !linux

package pki

// renameNoReplace moves oldpath to newpath and fails if newpath exists. The
// caller holds the inventory lock, so the check cannot race another apimtls.
func renameNoReplace(oldpath, newpath string) error {
	return renameChecked(oldpath, newpath)
}
