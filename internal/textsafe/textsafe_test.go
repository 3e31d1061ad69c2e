package textsafe

import "testing"

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"Zoë Ünïcode 東京", "Zoë Ünïcode 東京"},
		{"line\nforged", `line\nforged`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"cr\rtab\t", `cr\rtab\t`},
		{"del\x7f", `del\x7f`},
		{"c1\u0085", `c1\u0085`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"zw\u200bj", `zw\u200bj`},
		{"sep\u2028x", `sep\u2028x`},
		{"bad\xffutf8", `bad\xffutf8`},
		{`back\slash`, `back\\slash`},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if Clean(tc.in) != (tc.in == tc.want) {
			t.Errorf("Clean(%q) = %v", tc.in, Clean(tc.in))
		}
	}
}

func TestHasControl(t *testing.T) {
	for in, want := range map[string]bool{
		"CN with spaces": false, `a\b`: false, "ünï": false,
		"a\nb": true, "\x1b]0;title\x07": true, "x\u202e": true, "\xff": true,
	} {
		if got := HasControl(in); got != want {
			t.Errorf("HasControl(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("plain")
	f.Add("a\nb\x1b[0m\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if HasControl(out) {
			t.Fatalf("Escape(%q) = %q still holds a control character", s, out)
		}
	})
}

func TestEscapeLinesKeepsLineBreaks(t *testing.T) {
	if got := EscapeLines("preflight found 2 problems:\n  - a\x1b[31m\n  - b"); got != "preflight found 2 problems:\n  - a\\x1b[31m\n  - b" {
		t.Fatalf("%q", got)
	}
	if s := "plain\ntext"; EscapeLines(s) != s {
		t.Fatal("clean text changed")
	}
}
