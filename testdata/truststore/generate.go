//go:build ignore

// generate.go writes the truststore fixtures of this directory, one per
// validation rule, each triggering that rule alone (x509cert/truststore_test.go
// says which). Dates are fixed so that the fixtures stay valid against the
// tests' pinned clock of 2026-11-23. Run from the repository root:
//
//	go run ./testdata/truststore/generate.go
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const dir = "testdata/truststore"

var (
	start  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end    = time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)
	serial = int64(1000)
)

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func p256() crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	return k
}

func rsaKey(bits int) crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	check(err)
	return k
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// make issues a certificate; edit adjusts the template before signing.
func mk(cn string, key crypto.Signer, parent *ca, edit func(*x509.Certificate)) *ca {
	serial++
	t := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"apimtls fixtures"}},
		NotBefore:             start,
		NotAfter:              end,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
	}
	if edit != nil {
		edit(t)
	}
	p, signer := t, key
	if parent != nil {
		p, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, t, p, key.Public(), signer)
	check(err)
	c, err := x509.ParseCertificate(der)
	check(err)
	return &ca{c, key}
}

func pemOf(cs ...*ca) string {
	var b strings.Builder
	for _, c := range cs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}))
	}
	return b.String()
}

func write(name, data string) {
	check(os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
}

func main() {
	root := mk("Fixture Root", p256(), nil, nil)
	issuing := mk("Fixture Issuing", p256(), root, nil)
	write("valid.pem", pemOf(issuing, root))

	keyDER, err := x509.MarshalPKCS8PrivateKey(issuing.key)
	check(err)
	write("private-key.pem", pemOf(root)+string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))

	write("valid-root.tmp", pemOf(root))
	out, err := exec.Command("openssl", "crl2pkcs7", "-nocrl", "-certfile", filepath.Join(dir, "valid-root.tmp")).Output()
	check(err)
	os.Remove(filepath.Join(dir, "valid-root.tmp"))
	write("pkcs7.pem", string(out))
	write("der.der", string(root.cert.Raw))
	write("trailing-garbage.pem", pemOf(root)+"this line is not PEM\n")
	write("text-around.pem", "Fixture Root, exported 2026-01-01\n"+pemOf(root)+"end of file\n")
	write("empty.pem", "")
	write("unparsable.pem", "-----BEGIN CERTIFICATE-----\nMIIBAjCBqaADAgECAgEB\n-----END CERTIFICATE-----\n")

	// 1,001 roots sharing one key: the count is what matters.
	shared := p256()
	var many []*ca
	for i := range 1001 {
		many = append(many, mk("Root "+string(rune('A'+i%26))+strings.Repeat("x", i%7)+big.NewInt(int64(i)).String(), shared, nil, nil))
	}
	write("1001-certificates.pem", pemOf(many...))

	// One certificate over 1 MB, padded with a private extension.
	pad, err := asn1.Marshal(make([]byte, 1<<20))
	check(err)
	write("over-1mb.pem", pemOf(mk("Padded Root", p256(), nil, func(t *x509.Certificate) {
		t.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: pad}}
	})))

	write("sha1.pem", pemOf(mk("SHA-1 Root", rsaKey(2048), nil, func(t *x509.Certificate) { t.SignatureAlgorithm = x509.SHA1WithRSA })))
	write("md5.pem", pemOf(md5Signed(mk("MD5 Root", rsaKey(2048), nil, nil))))
	write("rsa1024.pem", pemOf(mk("RSA-1024 Root", rsaKey(1024), nil, nil)))
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	check(err)
	write("p521.pem", pemOf(mk("P-521 Root", p521, nil, nil)))
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	check(err)
	write("ed25519.pem", pemOf(mk("Ed25519 Root", edKey, nil, nil)))

	write("expired.pem", pemOf(mk("Expired Root", p256(), nil, func(t *x509.Certificate) {
		t.NotBefore, t.NotAfter = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	})))
	write("not-yet-valid.pem", pemOf(mk("Future Root", p256(), nil, func(t *x509.Certificate) {
		t.NotBefore = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	})))
	write("expiring-soon.pem", pemOf(mk("Expiring Root", p256(), nil, func(t *x509.Certificate) {
		t.NotAfter = time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	})))
	leaf := mk("Fixture Client", p256(), issuing, func(t *x509.Certificate) {
		t.IsCA, t.MaxPathLen, t.KeyUsage = false, 0, x509.KeyUsageDigitalSignature
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	write("leaf-among-cas.pem", pemOf(leaf, issuing, root))
	write("orphan-intermediate.pem", pemOf(issuing))
	forged := *issuing.cert
	forged.Raw = append([]byte(nil), issuing.cert.Raw...)
	forged.Raw[len(forged.Raw)-5] ^= 0xff // inside the signature value
	write("bad-signature.pem", pemOf(&ca{&forged, issuing.key}, root))

	chain := []*ca{mk("Level 1", p256(), nil, nil)}
	for i := 2; i <= 5; i++ {
		chain = append(chain, mk("Level "+big.NewInt(int64(i)).String(), p256(), chain[len(chain)-1], nil))
	}
	write("five-levels.pem", pemOf(chain[4], chain[3], chain[2], chain[1], chain[0]))
	write("four-levels.pem", pemOf(chain[3], chain[2], chain[1], chain[0]))

	tight := mk("PathLen 0 Root", p256(), nil, func(t *x509.Certificate) { t.MaxPathLen, t.MaxPathLenZero = 0, true })
	write("pathlen-violation.pem", pemOf(mk("Under PathLen 0", p256(), tight, nil), tight))
	write("duplicate.pem", pemOf(issuing, root, root))
	write("crlf.pem", strings.ReplaceAll(pemOf(issuing, root), "\n", "\r\n"))
	write("ca-without-keycertsign.pem", pemOf(mk("No CertSign Root", p256(), nil, func(t *x509.Certificate) { t.KeyUsage = x509.KeyUsageDigitalSignature })))
	writeBenchBundle()
	write("ca-eku-serverauth.pem", pemOf(mk("ServerAuth-only Root", p256(), nil, func(t *x509.Certificate) {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})))
}

// md5Signed re-signs a self-signed RSA certificate with MD5, which
// x509.CreateCertificate refuses to do: the TBS gets the md5WithRSA
// algorithm identifier and a PKCS #1 v1.5 signature over its MD5 digest.
func md5Signed(c *ca) *ca {
	var cert struct {
		TBS asn1.RawValue
		Alg pkix.AlgorithmIdentifier
		Sig asn1.BitString
	}
	_, err := asn1.Unmarshal(c.cert.Raw, &cert)
	check(err)
	// Decode the TBS fields one by one so everything after the algorithm
	// is kept byte for byte.
	rest := cert.TBS.Bytes
	var fields []asn1.RawValue
	for len(rest) > 0 {
		var f asn1.RawValue
		rest, err = asn1.Unmarshal(rest, &f)
		check(err)
		fields = append(fields, f)
	}
	md5Alg := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}, Parameters: asn1.NullRawValue}
	algDER, err := asn1.Marshal(md5Alg)
	check(err)
	fields[2] = asn1.RawValue{FullBytes: algDER} // version, serial, signature algorithm, ...
	var body []byte
	for _, f := range fields {
		body = append(body, f.FullBytes...)
	}
	tbsDER, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
	check(err)
	digest := md5.Sum(tbsDER)
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key.(*rsa.PrivateKey), crypto.MD5, digest[:])
	check(err)
	der, err := asn1.Marshal(struct {
		TBS asn1.RawValue
		Alg pkix.AlgorithmIdentifier
		Sig asn1.BitString
	}{asn1.RawValue{FullBytes: tbsDER}, md5Alg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	check(err)
	parsed, err := x509.ParseCertificate(der)
	check(err)
	return &ca{parsed, c.key}
}

// writeBenchBundle writes bench-1000.pem, the bundle of the validation
// benchmark: 200 partner roots with four issuing CAs each, 1,000 valid
// ECDSA certificates padded to just under API Gateway's 1 MB limit.
func writeBenchBundle() {
	rootKey, issuingKey := p256(), p256()
	bundle := func(pad int) string {
		var b strings.Builder
		for i := range 200 {
			ou := strings.Repeat("p", pad)
			root := mk(fmt.Sprintf("Partner %03d Root CA", i), rootKey, nil, func(t *x509.Certificate) { t.Subject.OrganizationalUnit = []string{ou} })
			for j := range 4 {
				b.WriteString(pemOf(mk(fmt.Sprintf("Partner %03d Issuing CA %d", i, j), issuingKey, root, func(t *x509.Certificate) {
					t.Subject.OrganizationalUnit = []string{ou}
					t.MaxPathLen, t.MaxPathLenZero = 0, true
				})))
			}
			b.WriteString(pemOf(root))
		}
		return b.String()
	}
	pad := (1_040_000 - len(bundle(0))) / 1000 * 3 / 8 // the OU is in subject and issuer, base64 adds a third
	data := bundle(pad)
	for len(data) > 1_048_000 {
		pad -= 4
		data = bundle(pad)
	}
	write("bench-1000.pem", data)
}
