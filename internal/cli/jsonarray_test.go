package cli

import (
	"bytes"
	"testing"
	"time"
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
