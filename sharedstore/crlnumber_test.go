package sharedstore_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/pki"
)

// The shared CRL number never wraps: a number planted at or past
// pki.MaxCRLNumber (2^63-1) is refused with the object and the fix named,
// and nothing is written (issue 21: 18446744073709551615 became 0).
func TestSharedCRLNumberNeverWraps(t *testing.T) {
	st, client, _ := newStore(t)
	ctx := context.Background()
	a := openShared(t, st, t.TempDir())
	sharedCAs(t, a)
	ca, err := a.Lookup(pki.KindRoot, "issuing")
	if err != nil {
		t.Fatal(err)
	}
	key := st.Prefix + "crl-numbers/" + ca.Serial
	plant := func(n uint64) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(key), Body: strings.NewReader(strconv.FormatUint(n, 10) + "\n")}); err != nil {
			t.Fatal(err)
		}
	}
	plant(pki.MaxCRLNumber - 1)
	if n, err := st.NextCRLNumber(ctx, ca.Serial); err != nil || n != pki.MaxCRLNumber {
		t.Fatalf("the last number: %d, %v", n, err)
	}
	for _, n := range []uint64{pki.MaxCRLNumber, math.MaxUint64} {
		plant(n)
		_, err := st.NextCRLNumber(ctx, ca.Serial)
		var ne *pki.CRLNumberError
		if !errors.As(err, &ne) || ne.Number != n || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "previous version") {
			t.Fatalf("number %d: NextCRLNumber = %v, want a *pki.CRLNumberError naming %s and the fix", n, err, key)
		}
		if got, err := st.CRLNumber(ctx, ca.Serial); err != nil || got != n {
			t.Fatalf("refusing changed the number %d to %d (%v)", n, got, err)
		}
		if _, err := a.SignCRL("issuing", nil, time.Hour); !errors.As(err, &ne) || !strings.Contains(err.Error(), `CA "issuing"`) {
			t.Fatalf("number %d: SignCRL = %v", n, err)
		}
	}
	if _, err := st.RaiseCRLNumber(ctx, ca.Serial, math.MaxUint64); err == nil {
		t.Fatal("raised the CRL number past the bound")
	}
}
