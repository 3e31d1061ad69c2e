// Package revtest makes CAs, client certificates and CRLs for the tests of
// the revocation checker and the authorizer: real crypto/x509 objects,
// signed with ECDSA P-256 for speed.
package revtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Now is the clock of the tests, fixed when they start. It is the real
// time because the OCSP responder, MinIO and the packaged bootstrap all
// judge certificates and CRLs by the real clock.
var Now = time.Now().UTC().Truncate(time.Second)

// CA is a certificate authority with its key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var serial int64 = 1000

func nextSerial() *big.Int {
	serial++
	// Large serials with the top bit set exercise the DER sign byte.
	return new(big.Int).Add(new(big.Int).Lsh(big.NewInt(0xf0), 120), big.NewInt(serial))
}

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewCA makes a root (parent nil) or an intermediate CA.
func NewCA(t testing.TB, name string, parent *CA) *CA {
	t.Helper()
	k := key(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"apimtls tests"}},
		NotBefore:             Now.Add(-24 * time.Hour),
		NotAfter:              Now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	signer, issuer := crypto.Signer(k), tmpl
	if parent != nil {
		signer, issuer = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &k.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c, Key: k}
}

// ClientOptions change a client certificate.
type ClientOptions struct {
	OCSPServer []string
	CRLURLs    []string
	NotAfter   time.Time
	Serial     *big.Int
}

// Client issues a client certificate.
func (ca *CA) Client(t testing.TB, name string, opts ClientOptions) *x509.Certificate {
	t.Helper()
	c, _ := ca.ClientWithKey(t, name, opts)
	return c
}

// ClientWithKey issues a client certificate and gives its key too, for a
// TLS client.
func (ca *CA) ClientWithKey(t testing.TB, name string, opts ClientOptions) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	k := key(t)
	notAfter := opts.NotAfter
	if notAfter.IsZero() {
		notAfter = Now.Add(90 * 24 * time.Hour)
	}
	sn := opts.Serial
	if sn == nil {
		sn = nextSerial()
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             Now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		OCSPServer:            opts.OCSPServer,
		CRLDistributionPoints: opts.CRLURLs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &k.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// CRLOptions change a CRL; zero values give a current list.
type CRLOptions struct {
	ThisUpdate, NextUpdate time.Time
	Number                 int64
	// IDP, when set, scopes the CRL with an issuing distribution point.
	IDP *IDP
}

// IDP is an issuing distribution point extension (RFC 5280 §5.2.5),
// encoded here with cryptobyte rather than by the code under test.
type IDP struct {
	URIs                                []string // the distribution point's fullName
	OnlyUser, OnlyCA, OnlyAttribute     bool
	OnlySomeReasons, Indirect, Critical bool
}

// Extension encodes the IDP.
func (p IDP) Extension() pkix.Extension {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if len(p.URIs) > 0 {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					for _, u := range p.URIs {
						b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
					}
				})
			})
		}
		flag := func(on bool, tag int) {
			if on {
				b.AddASN1(cbasn1.Tag(tag).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddUint8(0xff) })
			}
		}
		flag(p.OnlyUser, 1)
		flag(p.OnlyCA, 2)
		if p.OnlySomeReasons {
			// keyCompromise only: bit 1 of ReasonFlags.
			b.AddASN1(cbasn1.Tag(3).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte{6, 0x40}) })
		}
		flag(p.Indirect, 4)
		flag(p.OnlyAttribute, 5)
	})
	return pkix.Extension{Id: []int{2, 5, 29, 28}, Critical: p.Critical, Value: b.BytesOrPanic()}
}

// CRL signs a CRL revoking certs (keyCompromise), with crypto/x509.
func (ca *CA) CRL(t testing.TB, opts CRLOptions, certs ...*x509.Certificate) []byte {
	t.Helper()
	if opts.ThisUpdate.IsZero() {
		opts.ThisUpdate = Now.Add(-time.Hour)
	}
	if opts.NextUpdate.IsZero() {
		opts.NextUpdate = Now.Add(7 * 24 * time.Hour)
	}
	if opts.Number == 0 {
		opts.Number = 1
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(opts.Number), ThisUpdate: opts.ThisUpdate, NextUpdate: opts.NextUpdate}
	if opts.IDP != nil {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, opts.IDP.Extension())
	}
	for _, c := range certs {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: opts.ThisUpdate, ReasonCode: 1})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// PEM encodes certificates.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// BigCRL signs a CRL of n random 16-byte serials plus extra, each with a
// reason code, as large CAs write them. crypto/x509 takes tens of seconds
// to build a million entries, so the entries are encoded here and spliced
// into the TBS of a CRL that crypto/x509 made, which is then signed again.
func (ca *CA) BigCRL(t testing.TB, n int, extra ...*big.Int) []byte {
	t.Helper()
	return ca.BigCRLWith(t, CRLOptions{}, n, extra...)
}

// BigCRLWith is BigCRL with opts (a scope, a number).
func (ca *CA) BigCRLWith(t testing.TB, opts CRLOptions, n int, extra ...*big.Int) []byte {
	t.Helper()
	small := ca.CRL(t, opts)
	in := cryptobyte.String(small)
	var outer, tbs, sigAlg cryptobyte.String
	in.ReadASN1(&outer, cbasn1.SEQUENCE)
	outer.ReadASN1(&tbs, cbasn1.SEQUENCE)
	outer.ReadASN1Element(&sigAlg, cbasn1.SEQUENCE)
	// version, signature, issuer, thisUpdate, nextUpdate
	var head []byte
	start := tbs
	var el cryptobyte.String
	var tag cbasn1.Tag
	for range 5 {
		tbs.ReadAnyASN1Element(&el, &tag)
	}
	head = start[:len(start)-len(tbs)]
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(head)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			buf := make([]byte, 16)
			entry := func(sn *big.Int) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1BigInt(sn)
					b.AddASN1UTCTime(Now.Add(-time.Hour))
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier([]int{2, 5, 29, 21})
							b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
								b.AddASN1Enum(1)
							})
						})
					})
				})
			}
			for range n {
				rand.Read(buf)
				buf[0] &= 0x7f
				entry(new(big.Int).SetBytes(buf))
			}
			for _, sn := range extra {
				entry(sn)
			}
		})
		b.AddBytes(tbs) // crlExtensions
	})
	newTBS := b.BytesOrPanic()
	digest := sha256.Sum256(newTBS)
	sig, err := ca.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var out cryptobyte.Builder
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(newTBS)
		b.AddBytes(sigAlg)
		b.AddASN1BitString(sig)
	})
	return out.BytesOrPanic()
}
