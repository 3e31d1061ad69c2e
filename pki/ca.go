package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"
	"github.com/apimtls/apimtls/x509cert"
)

// Validity defaults (docs/pki.md).
const (
	DefaultRootDays         = 3650
	DefaultIntermediateDays = 5 * 365
	DefaultClientDays       = 365
	DefaultRootKeyType      = x509cert.ECDSAP384
	DefaultClientKeyType    = x509cert.ECDSAP256
	DefaultRootName         = "root"
	minPassphraseLen        = 8
)

// ErrShortPassphrase is returned for a CA key passphrase too short to slow
// a guesser.
var ErrShortPassphrase = errkind.New(errkind.Invalid, fmt.Sprintf("passphrase must be at least %d characters", minPassphraseLen))

// CAParams describes a CA to create in the store.
type CAParams struct {
	Name         string
	Parent       string // empty for a root
	CommonName   string
	Organization string
	KeyType      x509cert.KeyType
	// Days is the validity; 0 takes the default, shortened to the
	// parent's end when needed. An explicit Days past the parent's end is
	// refused.
	Days       int
	MaxPathLen int // negative: the default
	// Passphrase encrypts the new CA's key when not empty.
	Passphrase []byte
	// ParentPassphrase opens the parent's key if it is encrypted.
	ParentPassphrase x509cert.PassphraseFunc
	// KMS, when set, puts the CA's key in AWS KMS instead of key.pem;
	// KeyType and Passphrase are then unused.
	KMS *KMSKey
}

// Issued is the outcome of creating a certificate.
type Issued struct {
	Record *Record
	Cert   *x509.Certificate
	// Notes tell the user about decisions made on their behalf, such as a
	// validity shortened to the issuer's.
	Notes []string
}

// CheckPassphrase refuses a passphrase too short to protect a CA key, so
// a command can refuse it before it creates or locks anything.
func CheckPassphrase(p []byte) error {
	if len(p) < minPassphraseLen {
		return ErrShortPassphrase
	}
	return nil
}

// CreateCA creates a root (no Parent) or an intermediate CA: a new key
// written with O_EXCL, the certificate, and the inventory record.
func (s *Store) CreateCA(p CAParams) (*Issued, error) {
	if err := CheckName(p.Name); err != nil {
		return nil, err
	}
	if p.KMS != nil && len(p.Passphrase) > 0 {
		return nil, errors.New("a CA key in KMS is not encrypted with a passphrase: KMS keeps it")
	}
	if len(p.Passphrase) > 0 {
		if err := CheckPassphrase(p.Passphrase); err != nil {
			return nil, err
		}
	}
	if existing, _ := s.Lookup(KindRoot, p.Name); existing != nil {
		return nil, &ExistsError{Kind: KindRoot, Name: p.Name}
	}
	if exists(filepath.Join(s.Dir, caDir, p.Name)) {
		return nil, fmt.Errorf("%w (the directory %s exists but is not in the inventory; move it away)", &ExistsError{Kind: KindRoot, Name: p.Name}, filepath.Join(s.Dir, caDir, p.Name))
	}
	days := p.Days
	clamp := days == 0
	if days == 0 {
		days = DefaultRootDays
		if p.Parent != "" {
			days = DefaultIntermediateDays
		}
	}
	if err := checkDays(days); err != nil {
		return nil, err
	}
	var (
		parent    x509cert.Issuer
		parentRec *Record
		err       error
	)
	if p.Parent != "" {
		// Check the parent before spending time on a key.
		parent, parentRec, err = s.LoadIssuer(p.Parent, p.ParentPassphrase)
		if err != nil {
			return nil, err
		}
		if parentRec.Level >= x509cert.MaxCALevels {
			return nil, fmt.Errorf("%w: a CA under %q would be level %d, and API Gateway accepts at most %d CA levels", x509cert.ErrTooDeep, p.Parent, parentRec.Level+1, x509cert.MaxCALevels)
		}
		if st := parentRec.StatusAt(s.Now()); st != StatusActive {
			return nil, fmt.Errorf("CA %q is %s and cannot issue", p.Parent, st)
		}
	}
	key, kmsKey, err := s.newCAKey(p)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	req := x509cert.CARequest{
		CommonName:    p.CommonName,
		Organization:  p.Organization,
		Key:           key,
		NotAfter:      now.AddDate(0, 0, days),
		MaxPathLen:    p.MaxPathLen,
		ClampNotAfter: clamp,
	}
	for attempt := 0; ; attempt++ {
		var cert *x509.Certificate
		rec := &Record{}
		if p.Parent == "" {
			cert, err = x509cert.CreateRoot(s.Rand, now, req)
			if err == nil {
				rec = newRecord(KindRoot, p.Name, cert)
				rec.Level = 1
			}
		} else {
			cert, err = x509cert.CreateIntermediate(s.Rand, now, parent, req)
			if err == nil {
				rec = newRecord(KindIntermediate, p.Name, cert)
				rec.Level = parentRec.Level + 1
				rec.Issuer, rec.IssuerSerial = parentRec.Name, parentRec.Serial
			}
		}
		if err != nil {
			return nil, err
		}
		rec.Dir = filepath.ToSlash(filepath.Join(caDir, p.Name))
		rec.KeyEncrypted = len(p.Passphrase) > 0
		if kmsKey != nil {
			rec.KMSKeyARN = kmsKey.ARN()
			err = s.commitWithKey(rec, cert, nil, nil, []stagedFile{{kmsFile, encodeKMSFile(kmsKey), publicMode}})
		} else {
			err = s.commitWithKey(rec, cert, key, p.Passphrase, nil)
		}
		if errors.Is(err, errSerialInUse) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		issued := &Issued{Record: rec, Cert: cert}
		if p.Parent != "" && clamp && cert.NotAfter.Equal(parent.Cert.NotAfter) {
			issued.Notes = append(issued.Notes, fmt.Sprintf("validity shortened to end with %q on %s", p.Parent, cert.NotAfter.Format(time.DateOnly)))
		}
		return issued, nil
	}
}

// commitWithKey writes key.pem (or no key when key is nil), cert.pem and the
// extra files, and records rec.
func (s *Store) commitWithKey(rec *Record, cert *x509.Certificate, key crypto.Signer, passphrase []byte, extra []stagedFile) error {
	var files []stagedFile
	if key != nil {
		keyPEM, err := x509cert.EncodeKey(key, passphrase)
		if err != nil {
			return err
		}
		files = append(files, stagedFile{keyFile, keyPEM, keyMode})
	}
	files = append(files, stagedFile{certFile, x509cert.EncodeCertificate(cert.Raw), publicMode})
	files = append(files, extra...)
	return s.backend().commit(rec, files)
}

// checkDays refuses a validity that is not 1 to MaxDays days.
func checkDays(days int) error {
	if days < 1 || days > x509cert.MaxDays {
		return fmt.Errorf("a validity of %d days is out of range: use 1 to %d", days, x509cert.MaxDays)
	}
	return nil
}

// newCAKey makes the new CA's key: a local key, or a KMS key created for it
// or named by the user (then checked: SIGN_VERIFY, a supported spec,
// enabled). The KMS signer is returned twice, as the key and as itself.
func (s *Store) newCAKey(p CAParams) (crypto.Signer, *KMSSigner, error) {
	if p.KMS == nil {
		key, err := x509cert.GenerateKey(s.Rand, p.KeyType)
		return key, nil, err
	}
	var (
		k   *KMSSigner
		err error
	)
	if p.KMS.KeyID != "" {
		k, err = OpenKMSSigner(s.KMS, p.KMS.KeyID)
	} else {
		spec, perr := ParseKMSKeySpec(p.KMS.Spec)
		if perr != nil {
			return nil, nil, perr
		}
		k, err = createKMSKey(s.KMS, p.Name, spec)
	}
	if err != nil {
		return nil, nil, err
	}
	return k, k, nil
}
