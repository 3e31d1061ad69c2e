package pki

import (
	"archive/tar"
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/x509cert"
)

// ClientBundle is what a production line needs to flash one device: its
// key (nil when a CSR-signed device keeps it), its certificate, the CAs
// between it and the root, and the root.
type ClientBundle struct {
	Name  string
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate // issuing CAs, root excluded
	Root  *x509.Certificate
}

// ExportClient reads a client's bundle, checking that the key is the
// certificate's.
func (s *Store) ExportClient(rec *Record) (*ClientBundle, error) {
	return s.exportClient(rec, map[string][]*x509.Certificate{})
}

// ExportClients reads the bundles of recs, in their order, as
// ExportClient does: each CA above them is read once, not once a client
// (a fleet of 5,000 devices has one chain).
func (s *Store) ExportClients(recs []*Record) ([]*ClientBundle, error) {
	cas := map[string][]*x509.Certificate{}
	out := make([]*ClientBundle, 0, len(recs))
	for _, r := range recs {
		b, err := s.exportClient(r, cas)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// exportClient is ExportClient with cas, the CAs above each issuer read
// so far, by issuer serial.
func (s *Store) exportClient(rec *Record, cas map[string][]*x509.Certificate) (*ClientBundle, error) {
	cert, err := s.Certificate(rec)
	if err != nil {
		return nil, err
	}
	b := &ClientBundle{Name: rec.Name, Cert: cert}
	above, ok := cas[rec.IssuerSerial]
	if !ok {
		issuer, err := s.LookupSerial(rec.IssuerSerial)
		if err != nil {
			return nil, err
		}
		if issuer == nil {
			return nil, fmt.Errorf("inventory has no record of the issuer of client %q", rec.Name)
		}
		if above, err = s.ancestry(issuer); err != nil {
			return nil, err
		}
		cas[rec.IssuerSerial] = above
	}
	b.Chain, b.Root = above, above[len(above)-1]
	if x509cert.IsSelfIssued(b.Root) {
		b.Chain = above[:len(above)-1]
	}
	if rec.FromCSR {
		return b, nil
	}
	keyPath := filepath.Join(s.Dir, filepath.FromSlash(rec.Dir), keyFile)
	data, err := os.ReadFile(keyPath)
	if uri := s.backend().shared(); uri != "" && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the key of client %q is not on this machine (%s does not exist): the shared store %s holds no private key, so it stays in the PKI directory of the operator who issued it", rec.Name, keyPath, uri)
	}
	if err != nil {
		return nil, fmt.Errorf("read the key of client %q: %w", rec.Name, err)
	}
	if b.Key, err = x509cert.DecodeKey(data, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !publicKeysEqual(b.Key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match the certificate of client %q", keyPath, rec.Name)
	}
	return b, nil
}

// PEM is the bundle as one PEM file: key (when held), certificate, issuing
// CAs, root: what curl --cert/--key and most TLS stacks read.
func (b *ClientBundle) PEM() ([]byte, error) {
	var out bytes.Buffer
	if b.Key != nil {
		k, err := x509cert.EncodeKey(b.Key, nil)
		if err != nil {
			return nil, err
		}
		out.Write(k)
	}
	out.Write(x509cert.EncodeCertificates(append([]*x509.Certificate{b.Cert}, append(b.Chain, b.Root)...)...))
	return out.Bytes(), nil
}

// PKCS12 is the bundle as a PKCS #12 file (key, certificate, chain and
// root).
func (b *ClientBundle) PKCS12(opts P12Options) ([]byte, error) {
	if b.Key == nil {
		return nil, fmt.Errorf("client %q was signed from a CSR: its key is on its device, so there is no PKCS #12 to make", b.Name)
	}
	return EncodePKCS12(b.Key, b.Cert, append(b.Chain, b.Root), opts)
}

// ExportTar writes bundles as a tar archive: NAME/key.pem (0600, when
// held), NAME/cert.pem, NAME/chain.pem (certificate and issuing CAs) and
// NAME/ca.pem (the root) for each client.
func ExportTar(bundles []*ClientBundle, now time.Time) ([]byte, error) {
	// Whole seconds: a sub-second time needs a PAX record in front of each
	// file, which doubles the archive of a fleet.
	now = now.Truncate(time.Second)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte, mode int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, b := range bundles {
		if b.Key != nil {
			k, err := x509cert.EncodeKey(b.Key, nil)
			if err != nil {
				return nil, err
			}
			if err := add(path.Join(b.Name, keyFile), k, 0o600); err != nil {
				return nil, err
			}
		}
		for _, f := range []struct {
			name string
			data []byte
		}{
			{certFile, x509cert.EncodeCertificate(b.Cert.Raw)},
			{chainFile, x509cert.EncodeCertificates(append([]*x509.Certificate{b.Cert}, b.Chain...)...)},
			{"ca.pem", x509cert.EncodeCertificate(b.Root.Raw)},
		} {
			if err := add(path.Join(b.Name, f.name), f.data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrNoClients is returned by an export that chose no client.
var ErrNoClients = errkind.New(errkind.NotFound, "no client certificates to export")
