package pki

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// setCRLNumber writes a CA's CRL number into the inventory, as a planted
// or damaged inventory (or a rebuild from a planted CRL) could hold it.
func setCRLNumber(t *testing.T, s *Store, caSerial string, n uint64) {
	t.Helper()
	err := inventoryOf(s).db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCRLNumbers)
		if err != nil {
			return err
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], n)
		return b.Put([]byte(caSerial), v[:])
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A local CRL number never wraps: the last one apimtls signs is
// MaxCRLNumber, and past it signing is refused, naming the CA, with the
// number and the CRL file left as they were (issue 21: 2^64-1 wrapped to
// 0, which a verifier keeping the highest number seen reads as a
// rollback).
func TestLocalCRLNumberNeverWraps(t *testing.T) {
	s := revocationStore(t)
	ca, err := s.Lookup(KindIntermediate, "issuing")
	if err != nil {
		t.Fatal(err)
	}
	setCRLNumber(t, s, ca.Serial, MaxCRLNumber-1)
	last, err := s.SignCRL("issuing", nil, time.Hour)
	if err != nil || last.Number != MaxCRLNumber {
		t.Fatalf("the last CRL number: %+v, %v", last, err)
	}
	before, _ := os.ReadFile(last.DERPath)
	for _, n := range []uint64{MaxCRLNumber, math.MaxUint64} {
		setCRLNumber(t, s, ca.Serial, n)
		_, err := s.SignCRL("issuing", nil, time.Hour)
		var ne *CRLNumberError
		if !errors.As(err, &ne) || ne.Number != n {
			t.Fatalf("number %d: SignCRL = %v, want a *CRLNumberError", n, err)
		}
		if got := err.Error(); !strings.Contains(got, `CA "issuing"`) || !strings.Contains(got, "inventory.db") {
			t.Errorf("the error does not name the CA and the inventory: %s", got)
		}
		var kept uint64
		inventoryOf(s).db.View(func(tx *bolt.Tx) error {
			kept = binary.BigEndian.Uint64(tx.Bucket(bucketCRLNumbers).Get([]byte(ca.Serial)))
			return nil
		})
		if kept != n {
			t.Fatalf("refusing changed the number %d to %d", n, kept)
		}
		if after, _ := os.ReadFile(last.DERPath); string(after) != string(before) {
			t.Fatal("refusing replaced the CRL file")
		}
	}
}

// What a ca crl killed mid-write (kill -9) leaves in crl/ goes at the
// next ca crl: the temporaries of its files, old and unlocked (issue 21).
func TestCRLRemovesAKilledWritersTemporaries(t *testing.T) {
	s := revocationStore(t)
	first, err := s.SignCRL("issuing", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	var left []string
	for _, p := range []string{first.DERPath, first.PEMPath} {
		tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-4242")
		if err := os.WriteFile(tmp, []byte("half a CRL"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(tmp, old, old)
		left = append(left, tmp)
	}
	if _, err := s.SignCRL("issuing", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, tmp := range left {
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the next ca crl (%v)", tmp, err)
		}
	}
}
