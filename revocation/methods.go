package revocation

import (
	"fmt"
	"strings"
)

// ParseExternal reads the external methods a partner CA's certificates
// are checked with, as the authorizer's APIMTLS_EXTERNAL_REVOCATION and
// serve's --external-revocation write them: "crl", "ocsp", "crl,ocsp", or
// "" and "none" for neither. nil when neither is asked for.
func ParseExternal(v string) (*External, error) {
	var e External
	for _, m := range strings.Split(v, ",") {
		switch strings.TrimSpace(m) {
		case "crl":
			e.CRL = true
		case "ocsp":
			e.OCSP = true
		case "", "none":
		default:
			return nil, fmt.Errorf("%q: the methods are crl and ocsp, as crl,ocsp", v)
		}
	}
	if !e.CRL && !e.OCSP {
		return nil, nil
	}
	return &e, nil
}
