package x509cert

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/apimtls/apimtls/internal/errkind"
)

// Two PEM readers given the same file must never see different
// certificates: a truststore that apimtls validates is the one API Gateway
// (OpenSSL underneath) loads. Go's encoding/pem skips a block it cannot
// decode and goes on to the next BEGIN; OpenSSL stops decoding at the first
// '-' and reads whatever came before. Delete the END between two
// certificates and Go sees the second, OpenSSL the first. So apimtls reads
// PEM strictly, line by line, and refuses every structure on which lenient
// readers could differ, naming the line; what it accepts, both read alike.

// pemBlock is one block of a PEM file and the line of its BEGIN.
type pemBlock struct {
	Type  string
	Bytes []byte
	Line  int
}

// PEMError is a PEM structure apimtls refuses because readers could
// disagree on it: an unterminated block, text, a blank line or a second
// BEGIN inside a block, headers, an END that does not match its BEGIN,
// base64 that does not decode, a boundary line that is not at the start of
// its line.
type PEMError struct {
	Line int
	Msg  string
}

func (e *PEMError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

var (
	pemBegin = []byte("-----BEGIN ")
	pemEnd   = []byte("-----END ")
	pemDash  = []byte("-----")
)

// readPEM reads every block of data. textLines lists where each run of
// text outside the blocks starts: text which both readers skip alike. On a structure it
// refuses, it returns the blocks read before it and a *PEMError.
func readPEM(data []byte) (blocks []pemBlock, textLines []int, perr *PEMError) {
	var (
		in      *pemBlock // the open block, if any
		b64     []byte
		sawData bool
		inText  bool // a run of text lines is reported once, by its first
	)
	line := 0
	for rest := data; len(rest) > 0; {
		line++
		var raw []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			raw, rest = rest[:i], rest[i+1:]
		} else {
			raw, rest = rest, nil
		}
		// Both readers drop the line ending and trailing blanks.
		l := bytes.TrimRight(raw, " \t\r")
		if in == nil {
			switch {
			case len(l) == 0:
			case bytes.HasPrefix(l, pemBegin):
				typ, ok := boundaryType(l, pemBegin)
				if !ok {
					return blocks, textLines, &PEMError{line, "malformed BEGIN line: it must be -----BEGIN TYPE-----"}
				}
				in, b64, sawData, inText = &pemBlock{Type: typ, Line: line}, nil, false, false
			case bytes.HasPrefix(l, pemEnd):
				return blocks, textLines, &PEMError{line, "an END line with no BEGIN before it"}
			case bytes.Contains(l, pemBegin[:10]) || bytes.Contains(l, pemEnd[:8]):
				return blocks, textLines, &PEMError{line, "a PEM boundary that does not start its line; readers differ on whether it counts"}
			case !inText:
				textLines, inText = append(textLines, line), true
			}
			continue
		}
		switch {
		case bytes.HasPrefix(l, pemEnd):
			typ, ok := boundaryType(l, pemEnd)
			if !ok || typ != in.Type {
				return blocks, textLines, &PEMError{line, fmt.Sprintf("this END does not match the BEGIN %s at line %d", in.Type, in.Line)}
			}
			if !sawData {
				return blocks, textLines, &PEMError{in.Line, fmt.Sprintf("the %s block is empty", in.Type)}
			}
			der := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
			n, err := base64.StdEncoding.Strict().Decode(der, b64)
			if err != nil {
				return blocks, textLines, &PEMError{in.Line, fmt.Sprintf("the base64 of the %s block does not decode (%v)", in.Type, err)}
			}
			in.Bytes = der[:n]
			blocks = append(blocks, *in)
			in = nil
		case bytes.HasPrefix(l, pemBegin) || bytes.Contains(l, pemDash):
			return blocks, textLines, &PEMError{line, fmt.Sprintf("a boundary inside the %s block that starts at line %d, which has no END before it", in.Type, in.Line)}
		case len(l) == 0:
			return blocks, textLines, &PEMError{line, fmt.Sprintf("a blank line inside the %s block that starts at line %d", in.Type, in.Line)}
		case !sawData && bytes.IndexByte(l, ':') >= 0:
			return blocks, textLines, &PEMError{line, fmt.Sprintf("PEM headers (such as Proc-Type or DEK-Info) in the %s block that starts at line %d: apimtls reads plain blocks only", in.Type, in.Line)}
		case !isBase64Line(l):
			return blocks, textLines, &PEMError{line, fmt.Sprintf("text that is not base64 inside the %s block that starts at line %d", in.Type, in.Line)}
		default:
			b64 = append(b64, l...)
			sawData = true
		}
	}
	if in != nil {
		return blocks, textLines, &PEMError{in.Line, fmt.Sprintf("the %s block has no END line", in.Type)}
	}
	return blocks, textLines, nil
}

// boundaryType returns TYPE from "-----BEGIN TYPE-----" (or END): printable
// ASCII, not empty, with no '-----' inside.
func boundaryType(l, prefix []byte) (string, bool) {
	body, ok := bytes.CutPrefix(l, prefix)
	if !ok {
		return "", false
	}
	typ, ok := bytes.CutSuffix(body, pemDash)
	if !ok || len(typ) == 0 || bytes.Contains(typ, pemDash) {
		return "", false
	}
	for _, c := range typ {
		if c < 0x20 || c > 0x7e {
			return "", false
		}
	}
	return string(typ), true
}

func isBase64Line(l []byte) bool {
	for _, c := range l {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// ErrorKind says what kind of failure it is (errkind).
func (*PEMError) ErrorKind() errkind.Kind { return errkind.Invalid }
