package sharedstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/sharedstore"
	"github.com/apimtls/apimtls/x509cert"
)

func TestMain(m *testing.M) {
	switch os.Getenv("SHAREDSTORE_HELPER") {
	case "":
	case "pki":
		os.Exit(pkiHelper())
	default:
		os.Exit(helperMain())
	}
	code := m.Run()
	miniotest.StopShared()
	os.Exit(code)
}

// newClient is a real SDK client for endpoint, with enough idle
// connections for List's parallel GETs.
func newClient(endpoint string) *s3.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
	})
	return s3.New(s3.Options{
		Region:           miniotest.Region,
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(miniotest.AccessKey, miniotest.SecretKey, ""),
		RetryMaxAttempts: 3,
		HTTPClient:       hc,
		// The records are JSON apimtls checks itself; CRC checks of every
		// GET cost CPU List cannot spare.
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// newBucket creates a fresh versioned bucket on the shared MinIO.
func newBucket(t testing.TB, c *s3.Client) string {
	t.Helper()
	ctx := context.Background()
	b := miniotest.Bucket("apimtls-shared")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	return b
}

// newStore is a store on a fresh bucket of the shared MinIO.
func newStore(t testing.TB) (*sharedstore.Store, *s3.Client, string) {
	srv := miniotest.Shared(t)
	c := newClient(srv.Endpoint)
	b := newBucket(t, c)
	st := &sharedstore.Store{API: c, Bucket: b, Prefix: "team/"}
	if _, _, err := st.CheckBucket(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return st, c, srv.Endpoint
}

// testKey signs every test certificate; fixed, so that the helper
// processes of process_test.go sign with the same key as the test.
var testKey = func() *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte("apimtls sharedstore tests"))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		panic(err)
	}
	return k
}()

// newCert makes a certificate and its record, as pki records a client
// (the shared store does not verify chains on Create: pki does, before it
// records). Every certificate is signed by testKey, so a client made with
// the serial of a CA made here checks out in ListVerified.
func newCert(kind pki.Kind, name, issuerSerial string) (*pki.Record, []byte) {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(1, 0, 0), IsCA: kind.IsCA(), BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &testKey.PublicKey, testKey)
	if err != nil {
		panic(err)
	}
	c, _ := x509.ParseCertificate(der)
	rec := &pki.Record{Serial: x509cert.SerialHex(c), Kind: kind, Name: name, Subject: c.Subject.String(),
		IssuerSerial: issuerSerial, KeyType: x509cert.ECDSAP256, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		SHA256: x509cert.Fingerprint(c), Status: pki.StatusActive, CreatedAt: now}
	rec.Dir = "clients/" + name
	switch kind {
	case pki.KindRoot:
		rec.Level, rec.Dir = 1, "ca/"+name
	case pki.KindIntermediate:
		rec.Level, rec.Dir = 2, "ca/"+name
	}
	return rec, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
