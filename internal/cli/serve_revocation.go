package cli

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/revocation"
)

// serveRevocation is the authorizer's decision for serve: the CRLs in
// --crl-dir, else in the PKI directory's crl/, followed as they change (a
// crl/ that ca crl has not written yet included: its CRLs count once it
// appears). As the authorizer needs a CRL in S3 for every CA, every CA of
// the truststore needs one there: a CA without one has its clients refused
// (crl_missing). Only --no-revocation turns the check off; nil crls then.
func serveRevocation(c *cli.Context, tsPath string) (*revocation.Checker, *revocation.DirCRLs, error) {
	dir := c.String(flagCRLDir)
	if c.Bool(flagNoRevocation) {
		for _, f := range []string{flagCRLDir, flagExternalRevocation} {
			if c.String(f) != "" {
				return nil, nil, usagef("--%s and --%s exclude each other", f, flagNoRevocation)
			}
		}
		return nil, nil, nil
	}
	if dir == "" {
		pkiDir, err := pkiDir(c)
		if err != nil {
			return nil, nil, err
		}
		dir = pki.Layout{Dir: pkiDir}.CRLs()
	} else if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return nil, nil, usagef("--%s %s: not a directory", flagCRLDir, dir)
	}
	data, err := readTruststoreFile(tsPath)
	if err != nil {
		return nil, nil, err
	}
	ts, err := revocation.ParseTruststore(data)
	if err != nil {
		return nil, nil, err
	}
	ext, err := revocation.ParseExternal(c.String(flagExternalRevocation))
	if err != nil {
		return nil, nil, usagef("--%s %w", flagExternalRevocation, err)
	}
	crls := &revocation.DirCRLs{Dir: dir, Truststore: ts}
	if _, err := crls.Current(); err != nil {
		return nil, nil, withHint(err, "sign them again: apimtls ca crl")
	}
	// One history for serve's life: a CRL file put back with an older
	// number is refused (crl_rollback), as the authorizer refuses it.
	return &revocation.Checker{Truststore: ts, CRLs: crls, History: &revocation.CRLHistory{}, Options: revocation.Options{External: ext}}, crls, nil
}

// printRevocation says at start whether serve checks revocation, from
// where, and which CAs have a CRL: a serve that lets revoked clients in
// must never look like one that refuses them.
func printRevocation(w io.Writer, crls *revocation.DirCRLs, ext *revocation.External, noColor bool) {
	if crls == nil {
		printWarning(w, "revocation is off (--"+flagNoRevocation+"): revoked certificates are accepted, as by API Gateway without the apimtls authorizer", noColor)
		return
	}
	set, _ := crls.Current()
	lines, missing := crlSummary(crls.Truststore, set, time.Now())
	fmt.Fprintf(w, "revocation: on, the authorizer's check with the CRLs in %s (read again when they change): CRLs for %d of %s\n",
		crls.Dir, len(crls.Truststore.CAs)-missing, plural.Count(len(crls.Truststore.CAs), "CA"))
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if ext != nil {
		fmt.Fprintf(w, "  a CA without a CRL here has its clients checked through what their certificates name: %s\n", externalMethods(ext))
	} else if missing > 0 {
		fmt.Fprintln(w, "  serve follows no CRL distribution point or OCSP responder (--"+flagExternalRevocation+" crl,ocsp does): a CA without a CRL here has its clients refused")
		printHint(w, "apimtls ca crl signs every CA's CRL (a running serve reads it within a second); --"+flagNoRevocation+" serves as API Gateway without the authorizer", noColor)
	}
}

// crlSummary is one line per CA of the truststore: its CRL, or why its
// clients are refused; and how many CAs have no CRL.
func crlSummary(ts *revocation.Truststore, set revocation.CRLSet, now time.Time) (lines []string, missing int) {
	for _, ca := range ts.CAs {
		name := textsafe.Escape(ca.Cert.Subject.String())
		crls := set[ca.KeyID]
		if len(crls) == 0 {
			missing++
			lines = append(lines, fmt.Sprintf("%s: no CRL: its clients are refused (%s)", name, revocation.CRLMissing))
			continue
		}
		for _, crl := range crls {
			scope := ""
			if sc := crl.Scope(); sc != nil {
				scope = " (" + sc.String() + ")"
			}
			if now.After(crl.NextUpdate()) {
				lines = append(lines, fmt.Sprintf("%s: CRL %s%s expired %s: its clients are refused (%s)", name, crlNumber(crl), scope, crl.NextUpdate().UTC().Format(time.RFC3339), revocation.CRLExpired))
			} else {
				lines = append(lines, fmt.Sprintf("%s: CRL %s%s, %s, next update %s", name, crlNumber(crl), scope, plural.Count(crl.Len(), "revoked certificate"), crl.NextUpdate().UTC().Format(time.RFC3339)))
			}
		}
	}
	return lines, missing
}

func crlNumber(crl *revocation.CRL) string {
	if crl.List.Number == nil {
		return "without a number"
	}
	return "number " + crl.List.Number.String()
}

// logCRLChanges logs every new reading of the CRL directory while serve
// runs, so a CRL that appears or changes is seen to be taken.
func logCRLChanges(crls *revocation.DirCRLs, l *log.Logger) {
	crls.OnLoad = func(set revocation.CRLSet, err error) {
		if err != nil {
			l.Printf("revocation: %s no longer loads, every client is refused (%s) until it does: %s", crls.Dir, revocation.CRLInvalid, textsafe.Escape(err.Error()))
			return
		}
		lines, _ := crlSummary(crls.Truststore, set, time.Now())
		l.Printf("revocation: read %s again: %s", crls.Dir, strings.Join(lines, "; "))
	}
}

// externalMethods says what ext follows.
func externalMethods(ext *revocation.External) string {
	switch {
	case ext.CRL && ext.OCSP:
		return "their OCSP responder, then their CRL distribution points"
	case ext.OCSP:
		return "their OCSP responder"
	}
	return "their CRL distribution points"
}
