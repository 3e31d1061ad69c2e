package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/x509cert"
)

// Layout of the PKI directory (docs/pki.md).
const (
	caDir         = "ca"
	clientsDir    = "clients"
	stagingDir    = ".staging"
	inventoryFile = "inventory.db"
	certFile      = "cert.pem"
	keyFile       = "key.pem"
	chainFile     = "chain.pem"
)

// lockTimeout bounds how long a command waits for another apimtls process
// that holds the inventory.
const lockTimeout = 60 * time.Second

// ErrLocked is returned when another process holds the inventory for longer
// than lockTimeout.
var ErrLocked = errkind.New(errkind.Locked, "another apimtls process is using the PKI directory")

// ErrInvalidName is returned for a CA or client name that cannot be a
// directory name.
var ErrInvalidName = errkind.New(errkind.Invalid, "invalid name")

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// windowsReserved matches the device names Windows reserves in every
// directory, with or without an extension (CON, con.txt, COM1, LPT9.x).
var windowsReserved = regexp.MustCompile(`(?i)^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?$`)

// CheckName accepts names that are safe as a single directory name on every
// system apimtls runs on, a PKI directory being something people copy.
func CheckName(name string) error {
	if !validName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%w %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalidName, name)
	}
	if windowsReserved.MatchString(name) || strings.HasSuffix(name, ".") {
		return fmt.Errorf("%w %q: Windows reserves it (device names such as CON, NUL, COM1, LPT1, and names ending in a dot): choose another", ErrInvalidName, name)
	}
	return nil
}

// CheckClientName is CheckName for a client, which is also addressed by
// serial (client show, revoke, renew NAME|SERIAL): a name that reads as a
// serial (ReadsAsSerial) could stand for another client's certificate, so
// it is refused.
func CheckClientName(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if _, ok := ReadsAsSerial(name); ok {
		return fmt.Errorf("%w %q: it reads as a certificate serial number (hexadecimal with %d or more digits, or with 0x), and a client is also looked up by serial; put a letter other than a-f in it, as in %q", ErrInvalidName, name, minSerialDigits, "device-"+name)
	}
	return nil
}

// minSerialDigits is the fewest hexadecimal digits a reference needs to
// be read as a serial: apimtls's serials have 128 random bits (32 digits;
// fewer than 16 once leading zeros go, as openssl prints them, one time
// in 2^64), while short all-hex names such as "c1" or "cafe" stay names.
const minSerialDigits = 16

// ReadsAsSerial reports whether ref is a serial rather than a name, and
// the serial in the inventory's form: hexadecimal in any case with 16 or
// more digits, or any hexadecimal with colons or 0x (which no name can
// hold).
func ReadsAsSerial(ref string) (string, bool) {
	serial, ok := x509cert.NormalizeSerial(ref)
	if !ok {
		return "", false
	}
	digits := strings.ReplaceAll(ref, ":", "")
	if len(digits) >= minSerialDigits || len(digits) != len(ref) || strings.HasPrefix(strings.ToLower(ref), "0x") {
		return serial, true
	}
	return "", false
}

// ExistsError is returned when a CA or client by that name already exists.
type ExistsError struct {
	Kind Kind
	Name string
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s %q already exists", e.Kind.Noun(), e.Name)
}

// noun is how messages name the kind: "CA" or "client".
// Noun is how messages name the kind: "CA" or "client".
func (k Kind) Noun() string {
	if k.IsCA() {
		return "CA"
	}
	return "client"
}

// NotFoundError is returned when a named CA or client is not in the
// inventory; Known lists the names that are.
type NotFoundError struct {
	Kind  Kind
	Name  string
	Known []string
	// Serial says Name is a serial that was looked up, not a name.
	Serial bool
	// NamedSerial is the serial of a client whose name reads as the
	// serial looked up (named before such names were refused).
	NamedSerial string
}

func (e *NotFoundError) Error() string {
	if e.Serial && e.NamedSerial != "" {
		return fmt.Sprintf("no %s certificate with serial %s; a %s is named so (from before names that read as serials were refused): give its serial, %s", e.Kind.Noun(), e.Name, e.Kind.Noun(), e.NamedSerial)
	}
	if e.Serial {
		return fmt.Sprintf("no %s certificate with serial %s", e.Kind.Noun(), e.Name)
	}
	return fmt.Sprintf("no %s named %q", e.Kind.Noun(), e.Name)
}

// Store is an open PKI directory: its files and its inventory. Writers hold
// an exclusive lock on the inventory from Open to Close, so two processes
// never interleave; readers share the lock.
type Store struct {
	Dir  string
	Rand io.Reader
	Now  func() time.Time
	// Warn receives advice that does not stop the command, such as a key
	// file readable by others.
	Warn func(string)
	// KMS reaches AWS KMS for CAs whose key lives there.
	KMS KMSConfig

	readOnly bool
	// back holds the records: the local inventory (OpenStore) or a
	// shared store (OpenShared).
	back backend

	onClose []func()
}

// Close releases the inventory and its lock.
func (s *Store) Close() error {
	for _, fn := range s.onClose {
		fn()
	}
	s.onClose = nil
	return s.backend().close()
}

// backend is where s's records are. A Store made by neither OpenStore nor
// OpenShared is a local PKI directory whose inventory is not open: every
// lookup finds nothing.
func (s *Store) backend() backend {
	if s.back == nil {
		return &boltBackend{s: s}
	}
	return s.back
}

// OnClose runs fn when the store is closed.
func (s *Store) OnClose(fn func()) { s.onClose = append(s.onClose, fn) }

// createDirs makes the PKI directory and its folders, 0700, as needed.
func createDirs(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, caDir), filepath.Join(dir, clientsDir), filepath.Join(dir, stagingDir)} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return fmt.Errorf("create PKI directory: %w", err)
		}
	}
	return nil
}

func pendingWork(dir string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, stagingDir))
	return err == nil && len(entries) > 0
}

// recoverStaged completes or rolls back issuances a crash interrupted. A
// staged directory whose record was committed is moved into place (roll
// forward); one without a record never became visible and is removed. A
// batch directory (bulk-*, and shared-* with a shared store, where every
// issuance stages in one) is left alone while the process that owns it
// holds its lock, and recovered entry by entry once that process is gone.
func (s *Store) recoverStaged() error {
	staging := filepath.Join(s.Dir, stagingDir)
	entries, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(staging, e.Name())
		// Each store recovers its own entries only, since only it knows
		// what was committed.
		mine, batch := s.backend().ownsStaged(e.Name(), path)
		if !mine {
			continue
		}
		if batch {
			err = s.recoverBatch(path)
		} else {
			err = s.recoverEntry(path, e.Name())
		}
		if err != nil {
			return err
		}
	}
	return syncDir(staging)
}

// recoverBatch recovers a bulk batch directory entry by entry, unless
// the process that owns it is alive (it holds the batch's lock).
func (s *Store) recoverBatch(path string) error {
	lock, dead, err := lockBatch(filepath.Join(path, batchLockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // its run finished and removed it meanwhile
	}
	if err != nil || !dead {
		return err // nil and alive: a live run owns it
	}
	defer lock.Close()
	s.backend().settle(path)
	inner, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, in := range inner {
		if in.Name() == batchLockFile || in.Name() == batchStoreFile || strings.HasSuffix(in.Name(), claimSuffix) {
			continue
		}
		if err := s.recoverEntry(filepath.Join(path, in.Name()), in.Name()); err != nil {
			return err
		}
	}
	return os.RemoveAll(path)
}

// recoverEntry rolls one staged issuance, named by its serial, forward or
// back.
func (s *Store) recoverEntry(path, serial string) error {
	rec, err := s.LookupSerial(serial)
	if err != nil {
		return err
	}
	if rec == nil {
		if err := s.backend().abandon(path, serial); err != nil {
			return err
		}
		return os.RemoveAll(path)
	}
	if err := s.moveIntoPlace(path, rec); err != nil {
		return fmt.Errorf("finish %s %q: %w", rec.Kind, rec.Name, err)
	}
	return syncDir(filepath.Dir(filepath.Join(s.Dir, rec.Dir)))
}

// moveIntoPlace renames a staged directory to its record's directory. When
// a renewal's old certificate still occupies that place, it is first moved
// to where the old record now says it lives.
func (s *Store) moveIntoPlace(staged string, rec *Record) error {
	final := filepath.Join(s.Dir, filepath.FromSlash(rec.Dir))
	if rec.Renews != "" && exists(final) {
		old, err := s.LookupSerial(rec.Renews)
		if err != nil {
			return err
		}
		if old != nil && old.Dir != rec.Dir && serialInDir(final) == old.Serial {
			if err := writeSupersededNote(final, old); err != nil {
				return err
			}
			to := filepath.Join(s.Dir, filepath.FromSlash(old.Dir))
			if err := os.MkdirAll(filepath.Dir(to), dirMode); err != nil {
				return err
			}
			if err := renameNoReplace(final, to); err != nil {
				return err
			}
			if err := syncDir(filepath.Dir(to)); err != nil {
				return err
			}
		}
	}
	return renameNoReplace(staged, final)
}

// serialInDir is the serial of dir/cert.pem, or "" when it cannot be read.
func serialInDir(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return ""
	}
	c, err := x509cert.DecodeCertificate(data)
	if err != nil {
		return ""
	}
	return x509cert.SerialHex(c)
}

// crashHook lets tests kill the process at each step of a commit.
var crashHook = func(step string) {}

// stagedFile is one file of an issuance.
type stagedFile struct {
	name string
	data []byte
	mode fs.FileMode
}

// Lookup returns the record of the CA or client called name.
func (s *Store) Lookup(kind Kind, name string) (*Record, error) {
	rec, err := s.byName(kind, name)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		nf := &NotFoundError{Kind: kind, Name: name}
		if kind.IsCA() {
			// A hint for a mistyped CA; clients may be millions, so they
			// are never listed to say one is missing.
			if nf.Known, err = s.caNames(); err != nil {
				return nil, err // a damaged inventory, say: not "no such CA"
			}
		}
		return nil, nf
	}
	return rec, nil
}

// byName is the record of name, or nil.
func (s *Store) byName(kind Kind, name string) (*Record, error) {
	return s.backend().byName(kind, name)
}

// caNames lists the CA names, in order.
func (s *Store) caNames() ([]string, error) { return s.backend().caNames() }

// CAs returns every CA's record, sorted as List sorts, reading them through
// the name index rather than every client record.
func (s *Store) CAs() ([]*Record, error) {
	cas, err := s.backend().cas()
	SortRecords(cas)
	return cas, err
}

// LookupSerial returns the record with that serial, or nil.
func (s *Store) LookupSerial(serial string) (*Record, error) { return s.backend().bySerial(serial) }

// List returns the records that keep accepts, sorted by kind, level and
// name. Records are decoded on every core: keep must be safe to call from
// several goroutines.
func (s *Store) List(keep func(*Record) bool) ([]*Record, error) {
	out, err := s.backend().list(keep)
	SortRecords(out)
	return out, err
}

// sortRecords orders CAs before clients, then by level and name.
// SortRecords orders records as every listing does: CAs before clients,
// then by level and name, a name's records by serial.
func SortRecords(out []*Record) {
	slices.SortFunc(out, func(a, b *Record) int {
		if c := compareListed(a.Kind, a.Level, a.Name, b.Kind, b.Level, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Serial, b.Serial)
	})
}

// Certificate reads and parses the certificate of a record.
func (s *Store) Certificate(rec *Record) (*x509.Certificate, error) {
	path, data, err := s.backend().certificatePEM(rec)
	if err != nil {
		return nil, fmt.Errorf("read %s certificate: %w", rec.Name, err)
	}
	c, err := x509cert.DecodeCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if x509cert.SerialHex(c) != rec.Serial {
		return nil, fmt.Errorf("%s holds serial %s, but the inventory records %s: the file was replaced outside apimtls", path, x509cert.SerialHex(c), rec.Serial)
	}
	if err := s.backend().checkCertificate(rec, c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// LoadIssuer reads a CA's certificate and key, asking passphrase only if
// the key is encrypted.
func (s *Store) LoadIssuer(name string, passphrase x509cert.PassphraseFunc) (x509cert.Issuer, *Record, error) {
	rec, err := s.Lookup(KindRoot, name)
	if err != nil {
		return x509cert.Issuer{}, nil, err
	}
	// Before the key is opened (no passphrase asked for in vain): a
	// certificate under a revoked CA anywhere up the chain is refused by
	// every relying party that checks the whole chain.
	if err := s.refuseRevokedChain(rec); err != nil {
		return x509cert.Issuer{}, nil, err
	}
	return s.loadIssuer(name, passphrase)
}

// refuseRevokedChain returns a *RevokedError when CA rec, or any CA above
// it, is revoked.
func (s *Store) refuseRevokedChain(rec *Record) error {
	r, err := s.RevokedInChain(rec)
	if err != nil || r == nil {
		return err
	}
	e := &RevokedError{Name: rec.Name}
	if r != rec {
		e.Via = r.Name
	}
	return e
}

// RevokedCAs returns the serials of every CA that is revoked, or under a
// revoked CA, by RevokedInChain's rule, from one listing of the CAs: for
// commands that judge many clients at once (their clients are refused
// wherever the chain is checked, whatever their own record says).
func (s *Store) RevokedCAs() (map[string]bool, error) {
	cas, err := s.CAs()
	if err != nil {
		return nil, err
	}
	bySerial := make(map[string]*Record, len(cas))
	for _, ca := range cas {
		bySerial[ca.Serial] = ca
	}
	now := s.Now()
	out := map[string]bool{}
	for _, ca := range cas {
		for r, n := ca, 0; r != nil && n < len(cas); r, n = bySerial[r.IssuerSerial], n+1 {
			if Retired(r, now) {
				out[ca.Serial] = true
				break
			}
			if r.IssuerSerial == r.Serial {
				break
			}
		}
	}
	return out, nil
}

// RevokedInChain returns the first revoked certificate from rec up its
// chain (rec itself, its issuer, ...; revoked, or retired by a renewal),
// or nil when none is: a certificate under a revoked CA is refused by
// every relying party that checks the whole chain, as the authorizer and
// serve do.
func (s *Store) RevokedInChain(rec *Record) (*Record, error) {
	above, err := s.chainAbove(rec)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	for _, r := range append([]*Record{rec}, above...) {
		if Retired(r, now) {
			return r, nil
		}
	}
	return nil, nil
}

// chainAbove is rec's issuing CAs, its issuer first, up to the root or to
// the first issuer the inventory does not hold.
func (s *Store) chainAbove(rec *Record) ([]*Record, error) {
	var out []*Record
	seen := map[string]bool{rec.Serial: true}
	for r := rec; r.IssuerSerial != "" && !seen[r.IssuerSerial]; {
		up, err := s.LookupSerial(r.IssuerSerial)
		if errors.As(err, new(*NotFoundError)) || err == nil && up == nil {
			break
		}
		if err != nil {
			return nil, err
		}
		seen[up.Serial] = true
		out = append(out, up)
		r = up
	}
	return out, nil
}

// CRLGap is a CA above another whose CRL on disk is missing (or not one
// it signed), or ends before the other's: every link of a chain is
// checked, so its gap refuses the clients below it too.
type CRLGap struct {
	CA   string
	Path string
	// NextUpdate is when its CRL ends; nil when there is none.
	NextUpdate *time.Time
}

// CRLGapsAbove lists the CAs above CA name whose last CRL (crl/NAME.crl)
// is missing or ends more than an hour before until.
func (s *Store) CRLGapsAbove(name string, until time.Time) ([]CRLGap, error) {
	rec, err := s.Lookup(KindRoot, name)
	if err != nil {
		return nil, err
	}
	above, err := s.chainAbove(rec)
	if err != nil {
		return nil, err
	}
	var out []CRLGap
	for _, ca := range above {
		path := s.Layout().CRL(ca.Name)
		cert, err := s.Certificate(ca)
		if err != nil {
			return nil, err
		}
		list, err := readCRLAny(path, cert)
		switch {
		case err != nil || list == nil:
			out = append(out, CRLGap{CA: ca.Name, Path: path})
		case list.NextUpdate.Add(time.Hour).Before(until):
			next := list.NextUpdate.UTC()
			out = append(out, CRLGap{CA: ca.Name, Path: path, NextUpdate: &next})
		}
	}
	return out, nil
}

// loadIssuer opens a CA's key, revoked or not (a revoked CA still signs
// its CRL).
func (s *Store) loadIssuer(name string, passphrase x509cert.PassphraseFunc) (x509cert.Issuer, *Record, error) {
	rec, err := s.Lookup(KindRoot, name)
	if err != nil {
		return x509cert.Issuer{}, nil, err
	}
	cert, err := s.Certificate(rec)
	if err != nil {
		return x509cert.Issuer{}, nil, err
	}
	issuer, err := s.openIssuer(name, rec, cert, passphrase)
	if err != nil {
		return x509cert.Issuer{}, nil, err
	}
	return issuer, rec, nil
}

type equaler interface{ Equal(crypto.PublicKey) bool }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// AmbiguousIssuerError is returned when no --ca was given and more than one
// CA could issue, or none can.
type AmbiguousIssuerError struct {
	Candidates []string
}

func (e *AmbiguousIssuerError) Error() string {
	if len(e.Candidates) == 0 {
		return "no CA can issue"
	}
	return fmt.Sprintf("%d CAs can issue (%s): choose one", len(e.Candidates), strings.Join(e.Candidates, ", "))
}

// DefaultIssuer returns the one CA that can issue client certificates: a
// valid CA with no CA below it. Anything else is an *AmbiguousIssuerError.
func (s *Store) DefaultIssuer() (string, error) {
	now := s.Now()
	cas, err := s.CAs()
	if err != nil {
		return "", err
	}
	parents := map[string]bool{}
	for _, r := range cas {
		parents[r.IssuerSerial] = true
	}
	var leaves []string
	for _, r := range cas {
		if !parents[r.Serial] && r.StatusAt(now) == StatusActive {
			leaves = append(leaves, r.Name)
		}
	}
	if len(leaves) != 1 {
		slices.Sort(leaves)
		return "", &AmbiguousIssuerError{Candidates: leaves}
	}
	return leaves[0], nil
}

// ancestry returns the certificates from rec up to and including its root,
// reading each from its files and following the issuer serials recorded.
func (s *Store) ancestry(rec *Record) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for r := rec; ; {
		c, err := s.Certificate(r)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
		if r.IssuerSerial == "" || len(certs) > x509cert.MaxCALevels+1 {
			return certs, nil
		}
		next, err := s.LookupSerial(r.IssuerSerial)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return nil, fmt.Errorf("inventory has no record of the issuer of CA %q", r.Name)
		}
		r = next
	}
}

// chainOf returns what a client of issuer sends after its own certificate:
// the issuer and the CAs above it, root excluded.
func (s *Store) chainOf(issuer *Record) ([]*x509.Certificate, error) {
	certs, err := s.ancestry(issuer)
	if err != nil {
		return nil, err
	}
	if last := certs[len(certs)-1]; x509cert.IsSelfIssued(last) {
		certs = certs[:len(certs)-1]
	}
	return certs, nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*ExistsError) ErrorKind() errkind.Kind { return errkind.Conflict }

// ErrorKind says what kind of failure it is (errkind).
func (*NotFoundError) ErrorKind() errkind.Kind { return errkind.NotFound }

// ErrorKind says what kind of failure it is (errkind).
func (*AmbiguousIssuerError) ErrorKind() errkind.Kind { return errkind.Invalid }
