package cli

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// TestWriteJSONArrayMatchesWriteJSON: the parallel writer prints what the
// plain encoder prints, for empty, small and chunked lists.
func TestWriteJSONArrayMatchesWriteJSON(t *testing.T) {
	for _, n := range []int{0, 1, 2, 1999} {
		views := make([]certView, n)
		for i := range views {
			views[i] = certView{Name: "c" + string(rune('a'+i%26)), Serial: "01", NotAfter: time.Unix(int64(i), 0).UTC(), SANs: []string{"x<&>"}, Files: []string{}}
		}
		var want, got bytes.Buffer
		if err := writeJSON(&want, views); err != nil {
			t.Fatal(err)
		}
		if err := writeJSONArray(&got, views); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Fatalf("n=%d: differs\nwant %.300s\ngot  %.300s", n, want.String(), got.String())
		}
	}
}

// TestCertViewJSONMatchesEncoder: certView's own JSON appender prints
// what encoding/json prints, byte for byte, for every field set or not and
// strings holding every byte, invalid UTF-8, HTML and line separators; a
// field added to certView without the appender learning it fails here.
func TestCertViewJSONMatchesEncoder(t *testing.T) {
	if n := reflect.TypeFor[certView]().NumField(); n != 23 {
		t.Fatalf("certView has %d fields, appendArrayElem knows 23: teach it the new ones", n)
	}
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	nasty := []string{"", "plain", string(all), "a\u2028b\u2029c", "<script>&amp;</script>", "\xff\xfe", "é日本\U0001F600", "\x7f\"\\"}
	rnd := rand.New(rand.NewPCG(1, 2))
	str := func() string { return nasty[rnd.IntN(len(nasty))] }
	tm := func() time.Time {
		switch rnd.IntN(5) {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(rnd.Int64N(1<<34), rnd.Int64N(1e9)).In(time.FixedZone("", 3600*rnd.IntN(14)-1800))
		case 2:
			return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // encoding/json refuses it
		default:
			return time.Unix(rnd.Int64N(1<<34), 0).UTC()
		}
	}
	strs := func() []string {
		switch rnd.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		default:
			return []string{str(), str()}
		}
	}
	full := 0
	for range 3000 {
		v := certView{Name: str(), Kind: pki.Kind(str()), Subject: str(), Issuer: str(), IssuerSerial: str(), Serial: str(),
			KeyType: x509cert.KeyType(str()), KeyEncrypted: rnd.IntN(2) == 0, Level: rnd.IntN(3) - 1, NotBefore: tm(), NotAfter: tm(),
			SHA256: str(), Status: str(), Reason: pki.Reason(str()), SANs: strs(), FromCSR: rnd.IntN(2) == 0,
			SupersededBy: str(), Renews: str(), Files: strs()}
		if rnd.IntN(2) == 0 {
			pl := rnd.IntN(3) - 1
			v.PathLen = &pl
		}
		if rnd.IntN(2) == 0 {
			at := tm()
			v.RevokedAt = &at
		}
		if rnd.IntN(2) == 0 {
			v.KeyLocation = &pki.KeyRef{Kind: str(), KMSKeyARN: str()}
		}
		if rnd.IntN(10) == 0 {
			v.Notes = strs()
		}
		var want, got bytes.Buffer
		wantErr := writeJSON(&want, []certView{v})
		gotErr := writeJSONArray(&got, []certView{v})
		if (wantErr != nil) != (gotErr != nil) || (wantErr == nil && !bytes.Equal(want.Bytes(), got.Bytes())) {
			t.Fatalf("%+v:\nwant %s (%v)\ngot  %s (%v)", v, want.Bytes(), wantErr, got.Bytes(), gotErr)
		}
		if _, ok := v.appendArrayElem(nil); ok && reflect.ValueOf(v).FieldByName("Notes").IsNil() && v.KeyLocation != nil && v.RevokedAt != nil && v.PathLen != nil && len(v.SANs) > 0 {
			full++
		}
	}
	if full == 0 {
		t.Fatal("no view with every field set went through the appender")
	}
}
