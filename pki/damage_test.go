package pki

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apimtls/apimtls/x509cert"
)

// TestDamagedInventory: whatever has happened to inventory.db, opening and
// reading the store gives an *InventoryDamagedError naming the file, never
// a panic; RebuildInventory then restores every record from the
// certificate files and keeps the damaged file aside, byte for byte.
func TestDamagedInventory(t *testing.T) {
	garbage := make([]byte, 64<<10)
	rand.Read(garbage)
	for _, tc := range []struct {
		name   string
		damage func(good []byte) []byte
	}{
		{"random bytes", func([]byte) []byte { return garbage }},
		{"0 bytes", func([]byte) []byte { return nil }},
		{"truncated", func(good []byte) []byte { return good[:100] }},
		{"pages overwritten", func(good []byte) []byte {
			d := bytes.Clone(good)
			copy(d[2*4096:], garbage[:4*4096])
			return d
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			if _, err := s.CreateCA(CAParams{Name: "root", CommonName: "root", KeyType: x509cert.ECDSAP256, MaxPathLen: -1}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateCA(CAParams{Name: "issuing", Parent: "root", CommonName: "issuing", KeyType: x509cert.ECDSAP256, MaxPathLen: -1, Passphrase: []byte("secret1234")}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.IssueClient(ClientParams{Name: "alice", CA: "issuing", KeyType: x509cert.ECDSAP256, CAPassphrase: fixedPass("secret1234")}); err != nil {
				t.Fatal(err)
			}
			before, err := s.List(nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			path := Layout{Dir: s.Dir}.Inventory()
			good, _ := os.ReadFile(path)
			damaged := tc.damage(good)
			os.WriteFile(path, damaged, 0o600)

			for _, write := range []bool{false, true} {
				err := func() (err error) {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("panic: %v", r)
						}
					}()
					st, err := OpenStore(s.Dir, write)
					if err != nil {
						return err
					}
					defer st.Close()
					_, err = st.List(nil)
					return err
				}()
				var de *InventoryDamagedError
				if !errors.As(err, &de) || de.Path != path {
					t.Fatalf("write=%v: err = %v, want *InventoryDamagedError naming %s", write, err, path)
				}
			}

			res, err := RebuildInventory(s.Dir, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if kept, _ := os.ReadFile(res.DamagedKept); !bytes.Equal(kept, damaged) || res.DamagedKept == "" {
				t.Fatalf("the damaged file was not kept as it was at %q", res.DamagedKept)
			}
			st, err := OpenStore(s.Dir, false)
			if err != nil {
				t.Fatal(err)
			}
			after, err := st.List(nil)
			st.Close()
			if err != nil || len(after) != len(before) || res.CAs != 2 || res.Clients != 1 {
				t.Fatalf("rebuilt %d records (%+v), want %d: %v", len(after), res, len(before), err)
			}
			for i := range before {
				b, a := before[i], after[i]
				if a.Serial != b.Serial || a.Name != b.Name || a.Kind != b.Kind || a.Level != b.Level || a.Issuer != b.Issuer ||
					a.IssuerSerial != b.IssuerSerial || a.KeyEncrypted != b.KeyEncrypted || len(a.Files) != len(b.Files) {
					t.Errorf("record %d: rebuilt %+v, was %+v", i, a, b)
				}
			}
			if _, err := RebuildInventory(s.Dir, testNow); !errors.Is(err, ErrInventoryIntact) {
				t.Fatalf("second rebuild: %v, want ErrInventoryIntact", err)
			}
			if _, err := os.Stat(filepath.Join(s.Dir, "inventory.db.rebuild")); err == nil {
				t.Fatal("temporary file left behind")
			}
		})
	}
}
