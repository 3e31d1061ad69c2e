package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/apimtls/apimtls/pki"
)

// The bar draws what pki reports of each certificate, 10 times a second at
// most and always the last, on a fake clock: 3 RSA-4096 keys a second move
// it at once, 8,000 ECDSA keys a second do not flood the terminal.
func TestBulkBarThrottles(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	bar := &bulkBar{w: &out, on: true, now: func() time.Time { return clock }}
	report := func(done int, elapsed time.Duration) {
		bar.update(pki.BulkProgress{Done: done, Total: 1000, Elapsed: elapsed})
	}
	frames := func() []string { return strings.Split(out.String(), "\r")[1:] }

	report(0, 0) // before the first certificate
	clock = clock.Add(300 * time.Millisecond)
	report(1, 300*time.Millisecond) // one slow key: drawn
	if f := frames(); len(f) != 2 || !strings.Contains(f[1], "1/1000") {
		t.Fatalf("after one certificate: frames %q, want the start and 1/1000", f)
	}
	for i := 2; i <= 500; i++ { // 499 certificates within 50 ms: none drawn
		clock = clock.Add(100 * time.Microsecond)
		report(i, 300*time.Millisecond+time.Duration(i)*100*time.Microsecond)
	}
	if n := len(frames()); n != 2 {
		t.Fatalf("%d frames after a burst within the redraw interval, want 2", n)
	}
	clock = clock.Add(barRedraw)
	report(501, time.Second)
	report(502, time.Second)
	if f := frames(); len(f) != 3 || !strings.Contains(f[2], "501/1000") {
		t.Fatalf("after the interval: frames %q, want one more, 501/1000", f)
	}
	report(1000, 2*time.Second) // the last is always drawn
	f := frames()
	if last := f[len(f)-1]; len(f) != 4 || !strings.Contains(last, "1000/1000") || !strings.Contains(last, "["+strings.Repeat("#", 30)+"]") {
		t.Fatalf("last frame %q of %d, want a full bar at 1000/1000", last, len(f))
	}
	bar.done()
	if !strings.HasSuffix(out.String(), "\n") {
		t.Fatal("done does not end the line")
	}
}

// The bar off (piped, or JSON) writes nothing, not even a newline.
func TestBulkBarOff(t *testing.T) {
	var out bytes.Buffer
	bar := &bulkBar{w: &out, now: time.Now}
	bar.update(pki.BulkProgress{Done: 1, Total: 2, Elapsed: time.Second})
	bar.done()
	if out.Len() != 0 {
		t.Fatalf("bar off wrote %q", out.String())
	}
}

func TestBarLine(t *testing.T) {
	for _, tc := range []struct {
		p      pki.BulkProgress
		signed int
		want   string
	}{
		{pki.BulkProgress{Done: 0, Total: 100}, 0, "[                              ] 0/100  ?/s  ETA ?"},
		// RSA-4096: 3 a second, 90 left
		{pki.BulkProgress{Done: 10, Total: 100, Elapsed: 3 * time.Second}, 9, "[###                           ] 10/100  3.0/s  ETA 30s"},
		{pki.BulkProgress{Done: 5000, Total: 10000, Elapsed: time.Second}, 5000, "[###############               ] 5000/10000  5000/s  ETA 1s"},
		// a resumed run: the 900 skipped do not count in the rate
		{pki.BulkProgress{Done: 950, Total: 1000, Elapsed: 10 * time.Second}, 50, "[############################  ] 950/1000  5.0/s  ETA 10s"},
	} {
		if got := strings.TrimSpace(strings.TrimPrefix(barLine(tc.p, tc.signed), "\r")); got != tc.want {
			t.Errorf("barLine(%+v, %d) = %q, want %q", tc.p, tc.signed, got, tc.want)
		}
	}
}
