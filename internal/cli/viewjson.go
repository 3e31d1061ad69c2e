package cli

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendArrayElem appends v as writeJSONArray's encoder prints an element
// of a list (indented one level, no trailing newline), without reflection
// or re-indenting: most of what client list -o json costs on 100,000
// clients. It reports false, appending nothing, for what it does not
// handle (notes, a time encoding/json refuses), which then goes through
// encoding/json. TestCertViewJSONMatchesEncoder keeps it byte-identical.
func (v *certView) appendArrayElem(b []byte) ([]byte, bool) {
	if v.Notes != nil || !jsonTimeOK(v.NotBefore) || !jsonTimeOK(v.NotAfter) || (v.RevokedAt != nil && !jsonTimeOK(*v.RevokedAt)) {
		return b, false
	}
	const in = "\n    "
	b = append(b, "{"+in+`"name": `...)
	b = appendJSONString(b, v.Name)
	b = append(b, ","+in+`"kind": `...)
	b = appendJSONString(b, string(v.Kind))
	b = append(b, ","+in+`"subject": `...)
	b = appendJSONString(b, v.Subject)
	if v.Issuer != "" {
		b = append(b, ","+in+`"issuer": `...)
		b = appendJSONString(b, v.Issuer)
	}
	if v.IssuerSerial != "" {
		b = append(b, ","+in+`"issuer_serial": `...)
		b = appendJSONString(b, v.IssuerSerial)
	}
	b = append(b, ","+in+`"serial": `...)
	b = appendJSONString(b, v.Serial)
	b = append(b, ","+in+`"key_type": `...)
	b = appendJSONString(b, string(v.KeyType))
	b = append(b, ","+in+`"key_encrypted": `...)
	b = strconv.AppendBool(b, v.KeyEncrypted)
	if v.Level != 0 {
		b = append(b, ","+in+`"level": `...)
		b = strconv.AppendInt(b, int64(v.Level), 10)
	}
	if v.PathLen != nil {
		b = append(b, ","+in+`"path_len": `...)
		b = strconv.AppendInt(b, int64(*v.PathLen), 10)
	}
	b = append(b, ","+in+`"not_before": `...)
	b = appendJSONTime(b, v.NotBefore)
	b = append(b, ","+in+`"not_after": `...)
	b = appendJSONTime(b, v.NotAfter)
	b = append(b, ","+in+`"sha256": `...)
	b = appendJSONString(b, v.SHA256)
	b = append(b, ","+in+`"status": `...)
	b = appendJSONString(b, v.Status)
	if v.RevokedAt != nil {
		b = append(b, ","+in+`"revoked_at": `...)
		b = appendJSONTime(b, *v.RevokedAt)
	}
	if v.Reason != "" {
		b = append(b, ","+in+`"revocation_reason": `...)
		b = appendJSONString(b, string(v.Reason))
	}
	if len(v.SANs) > 0 {
		b = append(b, ","+in+`"sans": `...)
		b = appendJSONStrings(b, v.SANs)
	}
	if v.FromCSR {
		b = append(b, ","+in+`"from_csr": true`...)
	}
	if v.SupersededBy != "" {
		b = append(b, ","+in+`"superseded_by": `...)
		b = appendJSONString(b, v.SupersededBy)
	}
	if v.Renews != "" {
		b = append(b, ","+in+`"renews": `...)
		b = appendJSONString(b, v.Renews)
	}
	if v.KeyLocation != nil {
		b = append(b, ","+in+`"key_location": {`+in+`  "kind": `...)
		b = appendJSONString(b, v.KeyLocation.Kind)
		if v.KeyLocation.KMSKeyARN != "" {
			b = append(b, ","+in+`  "kms_key_arn": `...)
			b = appendJSONString(b, v.KeyLocation.KMSKeyARN)
		}
		b = append(b, in+"}"...)
	}
	b = append(b, ","+in+`"files": `...)
	if v.Files == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONStrings(b, v.Files)
	}
	return append(b, "\n  }"...), true
}

// appendJSONStrings appends a list of strings as an element's field.
func appendJSONStrings(b []byte, list []string) []byte {
	if len(list) == 0 {
		return append(b, "[]"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n      "...)
		b = appendJSONString(b, s)
	}
	return append(b, "\n    ]"...)
}

// jsonTimeOK reports whether encoding/json prints t (it refuses years
// beyond 4 digits and offsets of a day or more).
func jsonTimeOK(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off > -24*3600 && off < 24*3600
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString quotes s as json.Encoder does by default: HTML
// characters, control characters, U+2028, U+2029 escaped, invalid UTF-8
// replaced.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
