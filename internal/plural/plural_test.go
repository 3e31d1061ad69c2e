package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "root", "0 roots"},
		{1, "root", "1 root"},
		{1, "error", "1 error"},
		{2, "CA level", "2 CA levels"},
		{-1, "day", "-1 days"},
	} {
		if got := Count(tc.n, tc.noun); got != tc.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}
