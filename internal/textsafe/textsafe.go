// Package textsafe makes strings that came from outside (certificate and
// CSR subjects, SANs, authorizer events, file contents, AWS messages) safe
// to print on a terminal or write to a log line: control characters and
// the Unicode formatting characters that reorder or hide text are shown as
// escapes, so an attacker-chosen subject can neither forge a log line nor
// repaint the screen. JSON output keeps the original string: the encoder
// escapes it already, and scripts need it exact.
package textsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every byte or rune that could move the cursor,
// end a line, start an escape sequence, reorder text or hide it replaced by
// a Go-style escape (\n, \x1b, \u202e). Invalid UTF-8 bytes become \xNN.
// A string with nothing to escape is returned as it is, without copying.
func Escape(s string) string {
	if Clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case unsafe(r):
			writeEscaped(&b, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// EscapeLines is Escape for text made of lines, such as an error message
// listing problems: each line is escaped, the line breaks between them
// are kept.
func EscapeLines(s string) string {
	if Clean(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}

// Clean reports whether s holds nothing Escape would change.
func Clean(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || r == '\\' || unsafe(r) {
			return false
		}
		i += size
	}
	return true
}

// HasControl reports whether s holds a control or formatting character:
// what a certificate subject never needs. Unlike Clean it accepts a
// backslash, which is legitimate in names.
func HasControl(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || unsafe(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafe reports a rune that changes how the rest of the line is shown:
// C0 and C1 controls and DEL, and format characters (Cf) such as the bidi
// overrides, zero-width joiners and the byte order mark, plus the line and
// paragraph separators.
func unsafe(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

func writeEscaped(b *strings.Builder, r rune) {
	switch r {
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	default:
		if r < 0x80 {
			fmt.Fprintf(b, `\x%02x`, r)
		} else {
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
}
