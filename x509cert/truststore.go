package x509cert

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"
)

// API Gateway's truststore limits (docs/apigateway-rules.md#truststore).
const (
	MaxTruststoreCerts   = 1000
	MaxTruststoreBytes   = 1 << 20
	DefaultExpiryWarning = 30 * 24 * time.Hour
	// MaxTruststoreReadSize is how much of a file the CLI reads before it
	// stops: enough to report "too large" on any plausible mistake.
	MaxTruststoreReadSize = 16 << 20
)

// ValidateOptions tune ValidateTruststore.
type ValidateOptions struct {
	Now           time.Time
	ExpiryWarning time.Duration // 0: DefaultExpiryWarning
	// AllowPinnedClient accepts a self-signed non-CA certificate, which a
	// user may deliberately trust as a single pinned client.
	AllowPinnedClient bool
	// VerifySignatures checks every certificate's signature with its
	// issuer's key. Without it issuers are matched by name and key
	// identifier, which is what the rules need and a fifth of the time.
	VerifySignatures bool
}

// CertRef names a certificate in a bundle: its position among the
// certificates (from 1), the line of its BEGIN, and how people recognise it.
type CertRef struct {
	Position int    `json:"position"`
	Line     int    `json:"line"`
	Subject  string `json:"subject"`
	Serial   string `json:"serial"`
	SHA256   string `json:"sha256"`
}

// Finding is one broken rule.
type Finding struct {
	Rule        string   `json:"rule"`
	Severity    Severity `json:"severity"`
	Message     string   `json:"message"`
	Fix         string   `json:"fix"`
	Line        int      `json:"line,omitempty"`
	Certificate *CertRef `json:"certificate,omitempty"`
}

// TrustEntry is a certificate of a bundle and its place in the hierarchy
// the bundle forms.
type TrustEntry struct {
	Cert       *x509.Certificate
	Ref        CertRef
	Issuer     *TrustEntry // nil for a root or when the issuer is missing
	SelfSigned bool
	Duplicate  bool
	// BadSignature is set when signatures were checked and this one does
	// not verify with its issuer's key.
	BadSignature bool
	Level        int // 1 for a root; counted from the highest certificate found
}

// TruststoreReport is the outcome of ValidateTruststore.
type TruststoreReport struct {
	Bytes          int           `json:"bytes"`
	Certificates   int           `json:"certificates"`
	Roots          int           `json:"roots"`
	DeepestChain   int           `json:"deepest_chain"`
	EarliestExpiry *time.Time    `json:"earliest_expiry,omitempty"`
	Errors         int           `json:"errors"`
	Warnings       int           `json:"warnings"`
	Findings       []Finding     `json:"findings"`
	Entries        []*TrustEntry `json:"-"`
}

func (r *TruststoreReport) add(rule string, msg string, line int, ref *CertRef) {
	rl := RuleByID(rule)
	if msg == "" {
		msg = rl.Summary
	}
	r.Findings = append(r.Findings, Finding{Rule: rule, Severity: rl.Severity, Message: msg, Fix: rl.Fix, Line: line, Certificate: ref})
	if rl.Severity == SeverityError {
		r.Errors++
	} else {
		r.Warnings++
	}
}

// Has reports whether a finding of that rule was made.
func (r *TruststoreReport) Has(rule string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Rule == rule })
}

// ReadingFindings returns the findings by which the bundle could not be
// read as certificates: malformed PEM, blocks that are not certificates
// (a private key among them), certificates that do not parse, no PEM.
func (r *TruststoreReport) ReadingFindings() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		switch f.Rule {
		case RuleMalformedPEM, RuleNotPEM, RuleNotCertificate, RuleUnparsable:
			out = append(out, f)
		}
	}
	return out
}

// Certificates returns the distinct certificates of the bundle, in order.
func (r *TruststoreReport) Certs() []*x509.Certificate {
	var out []*x509.Certificate
	for _, e := range r.Entries {
		if !e.Duplicate {
			out = append(out, e.Cert)
		}
	}
	return out
}

// ValidateTruststore checks a truststore file against API Gateway's rules
// and apimtls's own (docs/truststore.md#rules). It never
// fails: everything wrong is a finding.
func ValidateTruststore(data []byte, opts ValidateOptions) *TruststoreReport {
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = DefaultExpiryWarning
	}
	r := &TruststoreReport{Bytes: len(data), Findings: []Finding{}}
	if len(data) > MaxTruststoreBytes {
		r.add(RuleTooLarge, fmt.Sprintf("the file is %d bytes, more than API Gateway's %d", len(data), MaxTruststoreBytes), 0, nil)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		r.add(RuleEmpty, "", 0, nil)
		return r
	}
	parseBlocks(r, data)
	if r.Certificates > MaxTruststoreCerts {
		r.add(RuleTooMany, fmt.Sprintf("%d certificates, more than API Gateway's %d", r.Certificates, MaxTruststoreCerts), 0, nil)
	}
	if bytes.Contains(data, []byte("\r\n")) {
		line := lineOf(data, data[bytes.Index(data, []byte("\r\n")):])
		r.add(RuleCRLF, fmt.Sprintf("line %d: CRLF line endings (Windows); API Gateway's parser may not expect them", line), line, nil)
	}
	linkEntries(r.Entries, opts.VerifySignatures)
	for _, e := range r.Entries {
		if !e.Duplicate {
			checkEntry(r, e, opts)
		}
	}
	checkChains(r)
	return r
}

// pemItem is one thing found while scanning a bundle, in file order.
type pemItem struct {
	kind    byte // 'c' certificate, 'o' other block, 't' text outside
	line    int
	typ     string
	der     []byte
	cert    *x509.Certificate
	err     error
	subject string
	sha256  string
}

// parseBlocks reads every PEM block strictly (readPEM), reporting blocks
// that are not certificates, text around them and any structure readers
// could disagree on. Certificates are parsed in parallel: with signature
// checks they are most of the cost of a large bundle.
func parseBlocks(r *TruststoreReport, data []byte) {
	blocks, textLines, perr := readPEM(data)
	if perr != nil {
		r.add(RuleMalformedPEM, perr.Error(), perr.Line, nil)
	}
	var items []pemItem
	for _, l := range textLines {
		items = append(items, pemItem{kind: 't', line: l})
	}
	for _, b := range blocks {
		if b.Type != blockCertificate {
			items = append(items, pemItem{kind: 'o', line: b.Line, typ: b.Type})
			continue
		}
		items = append(items, pemItem{kind: 'c', line: b.Line, der: b.Bytes})
	}
	slices.SortStableFunc(items, func(a, b pemItem) int { return a.line - b.line })
	if perr == nil && len(blocks) == 0 && len(textLines) > 0 {
		notPEM(r, data)
		return
	}
	parallel(len(items), func(i int) {
		it := &items[i]
		if it.kind != 'c' {
			return
		}
		if it.cert, it.err = x509.ParseCertificate(it.der); it.err == nil {
			it.subject, it.sha256 = it.cert.Subject.String(), Fingerprint(it.cert)
		}
	})
	seen := map[string]bool{}
	for _, it := range items {
		switch it.kind {
		case 't':
			r.add(RuleTextOutside, fmt.Sprintf("line %d: text outside the PEM blocks", it.line), it.line, nil)
		case 'o':
			r.add(RuleNotCertificate, nonCertificateMessage(it.typ, it.line), it.line, nil)
		case 'c':
			r.Certificates++
			ref := CertRef{Position: r.Certificates, Line: it.line}
			if it.err != nil {
				r.add(RuleUnparsable, fmt.Sprintf("certificate %d (line %d) does not parse: %v", ref.Position, it.line, it.err), it.line, &ref)
				continue
			}
			ref.Subject, ref.Serial, ref.SHA256 = it.subject, fmt.Sprintf("%x", it.cert.SerialNumber), it.sha256
			e := &TrustEntry{Cert: it.cert, Ref: ref}
			if seen[ref.SHA256] {
				e.Duplicate = true
				r.add(RuleDuplicate, fmt.Sprintf("%s appears again", describe(e)), it.line, &e.Ref)
			}
			seen[ref.SHA256] = true
			r.Entries = append(r.Entries, e)
		}
	}
}

// parallel runs fn for 0..n-1 on as many goroutines as there are CPUs.
func parallel(n int, fn func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func notPEM(r *TruststoreReport, data []byte) {
	msg := "the file holds no PEM block"
	if data[0] == 0x30 {
		msg += "; it looks like DER (binary X.509 or PKCS #7)"
	}
	r.add(RuleNotPEM, msg, 0, nil)
}

func nonCertificateMessage(typ string, line int) string {
	switch {
	case strings.Contains(typ, "PRIVATE KEY"):
		return fmt.Sprintf("line %d: a %s block: a private key in a truststore; remove it, and treat the key as exposed if the file was shared", line, typ)
	case typ == "PKCS7" || typ == "CMS":
		return fmt.Sprintf("line %d: a %s bundle, which API Gateway does not read", line, typ)
	}
	return fmt.Sprintf("line %d: a %s block, not a CERTIFICATE", line, typ)
}

func describe(e *TrustEntry) string {
	return fmt.Sprintf("certificate %d (%s, line %d)", e.Ref.Position, e.Ref.Subject, e.Ref.Line)
}

// IsSelfIssued reports whether c names itself as issuer and, when it has
// key identifiers, its own.
func IsSelfIssued(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	return len(c.AuthorityKeyId) == 0 || len(c.SubjectKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)
}

// IssuedBy reports whether child names parent as its issuer: the issuer
// name, and the key identifiers when both have them. This is how RFC 5280
// path building and OpenSSL match issuers; signatures are a further check.
func IssuedBy(child, parent *x509.Certificate) bool {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return false
	}
	return len(child.AuthorityKeyId) == 0 || len(parent.SubjectKeyId) == 0 || bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId)
}

// signatureValid checks that parent's key signed child. A SHA-1 or MD5
// signature, which Go no longer verifies, passes here: the weak algorithm
// is reported once, by its own rule.
func signatureValid(child, parent *x509.Certificate) bool {
	err := parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

// signedBy reports whether parent issued and signed child.
func signedBy(child, parent *x509.Certificate) bool {
	return IssuedBy(child, parent) && signatureValid(child, parent)
}

// linkEntries finds each certificate's issuer in the bundle by name and key
// identifier. Signatures are checked when verify is set, or to choose among
// several candidates; they are most of the cost of a large bundle, so the
// work runs on every CPU.
func linkEntries(entries []*TrustEntry, verify bool) {
	bySubject := map[string][]*TrustEntry{}
	for _, e := range entries {
		if !e.Duplicate {
			bySubject[string(e.Cert.RawSubject)] = append(bySubject[string(e.Cert.RawSubject)], e)
		}
	}
	parallel(len(entries), func(i int) {
		e := entries[i]
		if e.Duplicate {
			return
		}
		if IsSelfIssued(e.Cert) {
			e.SelfSigned = true
			if verify && !signatureValid(e.Cert, e.Cert) {
				e.BadSignature = true
			}
			return
		}
		var cands []*TrustEntry
		for _, c := range bySubject[string(e.Cert.RawIssuer)] {
			if c != e && IssuedBy(e.Cert, c.Cert) {
				cands = append(cands, c)
			}
		}
		if len(cands) == 1 && !verify {
			e.Issuer = cands[0]
			return
		}
		for _, c := range cands {
			if signatureValid(e.Cert, c.Cert) {
				e.Issuer = c
				return
			}
		}
		if len(cands) > 0 {
			// Named by its issuer but not signed by it: link it so the
			// chain is still measured, and report the signature.
			e.Issuer, e.BadSignature = cands[0], true
		}
	})
	for _, e := range entries {
		if !e.Duplicate {
			e.Level = levelOf(e)
		}
	}
}

// levelOf counts the certificates from e up to the highest one found,
// stopping at a loop.
func levelOf(e *TrustEntry) int {
	level := 1
	seen := map[*TrustEntry]bool{e: true}
	for p := e.Issuer; p != nil && !seen[p]; p = p.Issuer {
		seen[p] = true
		level++
	}
	return level
}

// weakSignature says why a signature algorithm is not accepted, or "".
func weakSignature(alg x509.SignatureAlgorithm) string {
	switch alg {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		return ""
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return fmt.Sprintf("signed with %s, which API Gateway refuses as an insecure signature algorithm", alg)
	}
	return fmt.Sprintf("signed with %s; apimtls accepts RSA PKCS #1 v1.5 or ECDSA over SHA-256, SHA-384 or SHA-512", alg)
}

func checkEntry(r *TruststoreReport, e *TrustEntry, opts ValidateOptions) {
	c, ref := e.Cert, &e.Ref
	_, keyErr := KeyTypeOf(c.PublicKey)
	if keyErr != nil {
		r.add(RuleWeakKey, fmt.Sprintf("%s: %v", describe(e), keyErr), ref.Line, ref)
	}
	// A self-signed certificate with a refused key is reported once, for
	// its key, not again for the signature that key made.
	if why := weakSignature(c.SignatureAlgorithm); why != "" && !(keyErr != nil && e.SelfSigned) {
		r.add(RuleWeakSignature, describe(e)+": "+why, ref.Line, ref)
	}
	switch {
	case !opts.Now.Before(c.NotAfter):
		r.add(RuleExpired, fmt.Sprintf("%s expired on %s", describe(e), c.NotAfter.UTC().Format(time.RFC3339)), ref.Line, ref)
	case opts.Now.Before(c.NotBefore):
		r.add(RuleNotYetValid, fmt.Sprintf("%s is valid only from %s", describe(e), c.NotBefore.UTC().Format(time.RFC3339)), ref.Line, ref)
	case c.NotAfter.Sub(opts.Now) < opts.ExpiryWarning:
		r.add(RuleExpiringSoon, fmt.Sprintf("%s expires on %s, in %d days", describe(e), c.NotAfter.UTC().Format(time.DateOnly), int(c.NotAfter.Sub(opts.Now).Hours()/24)), ref.Line, ref)
	}
	if !c.IsCA || !c.BasicConstraintsValid {
		if !(opts.AllowPinnedClient && e.SelfSigned) {
			r.add(RuleNotCA, describe(e)+" is not a CA (no basicConstraints CA:TRUE)", ref.Line, ref)
		}
		return
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		r.add(RuleNoCertSign, describe(e)+" is a CA whose keyUsage lacks keyCertSign", ref.Line, ref)
	}
	if len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		r.add(RuleEKUNoClientAuth, describe(e)+" has an extendedKeyUsage without clientAuth", ref.Line, ref)
	}
}

// checkChains reports missing issuers, depth and pathLen, and fills in the
// summary.
func checkChains(r *TruststoreReport) {
	hasChild := map[*TrustEntry]bool{}
	for _, e := range r.Entries {
		if e.Issuer != nil {
			hasChild[e.Issuer] = true
		}
	}
	for _, e := range r.Entries {
		if e.Duplicate {
			continue
		}
		c := e.Cert
		if e.SelfSigned {
			r.Roots++
		}
		if r.EarliestExpiry == nil || c.NotAfter.Before(*r.EarliestExpiry) {
			t := c.NotAfter.UTC()
			r.EarliestExpiry = &t
		}
		r.DeepestChain = max(r.DeepestChain, e.Level)
		top := topOf(e)
		if e.BadSignature {
			r.add(RuleBadSignature, fmt.Sprintf("%s: its signature does not verify with the key of %q", describe(e), c.Issuer.String()), e.Ref.Line, &e.Ref)
		}
		if !e.SelfSigned && e.Issuer == nil {
			r.add(RuleMissingIssuer, fmt.Sprintf("%s was issued by %q, which is not in the bundle", describe(e), c.Issuer.String()), e.Ref.Line, &e.Ref)
		}
		switch {
		case e.Level > MaxCALevels:
			r.add(RuleTooDeep, fmt.Sprintf("%s is CA level %d; API Gateway accepts at most %d", describe(e), e.Level, MaxCALevels), e.Ref.Line, &e.Ref)
		case e.Level == MaxCALevels && top.SelfSigned && !hasChild[e]:
			r.add(RuleFourLevels, fmt.Sprintf("%s is CA level %d, API Gateway's limit", describe(e), e.Level), e.Ref.Line, &e.Ref)
		}
		for a, steps := e.Issuer, 0; a != nil && a != e && steps < e.Level; a, steps = a.Issuer, steps+1 {
			if pl := PathLen(a.Cert); a.Cert.IsCA && pl >= 0 && e.Level-a.Level > pl {
				r.add(RulePathLen, fmt.Sprintf("%s sits %d CA levels below %s, whose pathLen is %d", describe(e), e.Level-a.Level, describe(a), pl), e.Ref.Line, &e.Ref)
				break
			}
		}
	}
}

// topOf returns the highest certificate above e, stopping at a loop.
func topOf(e *TrustEntry) *TrustEntry {
	seen := map[*TrustEntry]bool{e: true}
	for e.Issuer != nil && !seen[e.Issuer] {
		e = e.Issuer
		seen[e] = true
	}
	return e
}

// InvalidTruststoreError is a truststore that validation refused: it
// carries the report, whose findings say why.
type InvalidTruststoreError struct{ Report *TruststoreReport }

func (e *InvalidTruststoreError) Error() string {
	return fmt.Sprintf("the truststore has %d error(s)", e.Report.Errors)
}

// CheckTruststore is the one gate every command passes before it uses a
// bundle (push, serve, enable-mtls, create): validation with signatures
// verified, refusing any error. The report comes back either way, for its
// warnings.
func CheckTruststore(data []byte, now time.Time) (*TruststoreReport, error) {
	r := ValidateTruststore(data, ValidateOptions{Now: now, VerifySignatures: true})
	if r.Errors > 0 {
		return r, &InvalidTruststoreError{Report: r}
	}
	return r, nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*InvalidTruststoreError) ErrorKind() errkind.Kind { return errkind.Invalid }
