package pki

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apimtls/apimtls/x509cert"
)

func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// checkConsistent asserts the inventory and the files agree: every record
// has its directory and files with the recorded serial, every directory has
// a record, serials are unique, and nothing is left staged.
func checkConsistent(t testing.TB, dir string) map[string]*Record {
	t.Helper()
	s, err := OpenStore(dir, true) // write mode: recovery runs, as for any command
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	byDir := map[string]*Record{}
	serials := map[string]bool{}
	for _, r := range recs {
		if serials[r.Serial] {
			t.Errorf("serial %s recorded twice", r.Serial)
		}
		serials[r.Serial] = true
		byDir[r.Dir] = r
		c, err := s.Certificate(r)
		if err != nil {
			t.Errorf("record %s %q: %v", r.Kind, r.Name, err)
			continue
		}
		if x509cert.Fingerprint(c) != r.SHA256 {
			t.Errorf("record %q: fingerprint differs from cert.pem", r.Name)
		}
		for _, f := range r.Files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("record %q: %v", r.Name, err)
			}
		}
	}
	for _, sub := range []string{caDir, clientsDir} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if byDir[sub+"/"+e.Name()] == nil {
				t.Errorf("%s/%s has no inventory record", sub, e.Name())
			}
		}
	}
	// Renewals' old files: each superseded/<name>/<serial> is its record's.
	names, _ := os.ReadDir(filepath.Join(dir, supersededDir))
	for _, n := range names {
		serials, _ := os.ReadDir(filepath.Join(dir, supersededDir, n.Name()))
		for _, e := range serials {
			d := supersededDir + "/" + n.Name() + "/" + e.Name()
			if r := byDir[d]; r == nil || r.Serial != e.Name() || r.SupersededBy == "" {
				t.Errorf("%s has no superseded record", d)
			}
		}
	}
	if pendingWork(dir) {
		t.Error(".staging is not empty after recovery")
	}
	out := map[string]*Record{}
	for _, r := range recs {
		out[r.Name] = r
	}
	return out
}
