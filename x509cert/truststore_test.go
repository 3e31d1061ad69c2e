package x509cert

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the rules table of docs/truststore.md")

// TestValidateFixtures runs every fixture of testdata/truststore (made by
// its generate.go) and checks it triggers exactly the rules listed.
func TestValidateFixtures(t *testing.T) {
	for _, tc := range []struct {
		file  string
		rules []string
		opts  ValidateOptions
	}{
		{"valid.pem", nil, ValidateOptions{}},
		{"empty.pem", []string{RuleEmpty}, ValidateOptions{}},
		{"der.der", []string{RuleNotPEM}, ValidateOptions{}},
		{"private-key.pem", []string{RuleNotCertificate}, ValidateOptions{}},
		{"pkcs7.pem", []string{RuleNotCertificate}, ValidateOptions{}},
		{"unparsable.pem", []string{RuleUnparsable}, ValidateOptions{}},
		{"trailing-garbage.pem", []string{RuleTextOutside}, ValidateOptions{}},
		{"text-around.pem", []string{RuleTextOutside, RuleTextOutside}, ValidateOptions{}},
		{"1001-certificates.pem", []string{RuleTooMany}, ValidateOptions{}},
		{"over-1mb.pem", []string{RuleTooLarge}, ValidateOptions{}},
		{"sha1.pem", []string{RuleWeakSignature}, ValidateOptions{}},
		{"md5.pem", []string{RuleWeakSignature}, ValidateOptions{}},
		{"rsa1024.pem", []string{RuleWeakKey}, ValidateOptions{}},
		{"p521.pem", []string{RuleWeakKey}, ValidateOptions{}},
		{"ed25519.pem", []string{RuleWeakKey}, ValidateOptions{}},
		{"expired.pem", []string{RuleExpired}, ValidateOptions{}},
		{"not-yet-valid.pem", []string{RuleNotYetValid}, ValidateOptions{}},
		{"expiring-soon.pem", []string{RuleExpiringSoon}, ValidateOptions{}},
		{"leaf-among-cas.pem", []string{RuleNotCA}, ValidateOptions{}},
		{"orphan-intermediate.pem", []string{RuleMissingIssuer}, ValidateOptions{}},
		{"bad-signature.pem", []string{RuleBadSignature}, ValidateOptions{VerifySignatures: true}},
		{"bad-signature.pem", nil, ValidateOptions{}},
		{"valid.pem", nil, ValidateOptions{VerifySignatures: true}},
		{"five-levels.pem", []string{RuleTooDeep}, ValidateOptions{}},
		{"four-levels.pem", []string{RuleFourLevels}, ValidateOptions{}},
		{"pathlen-violation.pem", []string{RulePathLen}, ValidateOptions{}},
		{"duplicate.pem", []string{RuleDuplicate}, ValidateOptions{}},
		{"crlf.pem", []string{RuleCRLF}, ValidateOptions{}},
		{"ca-without-keycertsign.pem", []string{RuleNoCertSign}, ValidateOptions{}},
		{"ca-eku-serverauth.pem", []string{RuleEKUNoClientAuth}, ValidateOptions{}},
	} {
		t.Run(fmt.Sprintf("%s/verify=%v", tc.file, tc.opts.VerifySignatures), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "truststore", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tc.opts.Now = testNow
			r := ValidateTruststore(data, tc.opts)
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.Rule)
				if f.Fix == "" || f.Message == "" {
					t.Errorf("finding %s has no message or fix", f.Rule)
				}
				if f.Certificate != nil && f.Certificate.SHA256 != "" && (f.Certificate.Position == 0 || f.Certificate.Line == 0 || f.Certificate.Subject == "" || f.Certificate.Serial == "") {
					t.Errorf("finding %s does not name its certificate fully: %+v", f.Rule, f.Certificate)
				}
			}
			want := slices.Clone(tc.rules)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("rules %v, want %v\n%+v", got, want, r.Findings)
			}
			errs := 0
			for _, id := range want {
				if RuleByID(id).Severity == SeverityError {
					errs++
				}
			}
			if r.Errors != errs || r.Warnings != len(want)-errs {
				t.Fatalf("errors %d warnings %d, want %d and %d", r.Errors, r.Warnings, errs, len(want)-errs)
			}
		})
	}
}

func TestValidateNamesLineAndPosition(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "truststore", "leaf-among-cas.pem"))
	if err != nil {
		t.Fatal(err)
	}
	r := ValidateTruststore(data, ValidateOptions{Now: testNow})
	f := r.Findings[0]
	if f.Certificate.Position != 1 || f.Certificate.Line != 1 || !strings.Contains(f.Certificate.Subject, "Fixture Client") || len(f.Certificate.SHA256) != 64 {
		t.Fatalf("finding names %+v", f.Certificate)
	}
	if r.Certificates != 3 || r.Roots != 1 || r.DeepestChain != 3 {
		t.Fatalf("summary: %d certificates, %d roots, deepest %d", r.Certificates, r.Roots, r.DeepestChain)
	}
	key, _ := os.ReadFile(filepath.Join("..", "testdata", "truststore", "private-key.pem"))
	r = ValidateTruststore(key, ValidateOptions{Now: testNow})
	if !strings.Contains(r.Findings[0].Message, "line 12") || !strings.Contains(r.Findings[0].Message, "private key") {
		t.Fatalf("private key finding: %q", r.Findings[0].Message)
	}
}

func TestValidateOptions(t *testing.T) {
	soon, _ := os.ReadFile(filepath.Join("..", "testdata", "truststore", "expiring-soon.pem"))
	if r := ValidateTruststore(soon, ValidateOptions{Now: testNow, ExpiryWarning: 7 * 24 * 3600e9}); len(r.Findings) != 0 {
		t.Fatalf("a 7-day window still warns: %+v", r.Findings)
	}
}

// Every rule has a fixture above; every rule ID is unique and documented.
func TestRulesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range TruststoreRules {
		if seen[r.ID] || r.Summary == "" || r.Fix == "" {
			t.Errorf("rule %q duplicated or incomplete", r.ID)
		}
		seen[r.ID] = true
	}
	path := filepath.Join("..", "docs", "truststore.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- rules:begin -->\n", "<!-- rules:end -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q and %q markers", path, begin, end)
	}
	want := string(doc[:i+len(begin)]) + rulesMarkdown() + string(doc[j:])
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(doc) {
		t.Fatal("docs/truststore.md's rules table is stale: go test ./x509cert -run TestRulesTable -update-docs")
	}
}

// BenchmarkValidateTruststore1000 validates a 1,000-certificate bundle just
// under 1 MB (testdata/truststore/bench-1000.pem): parsing, linking with
// signature checks, and every rule.
func BenchmarkValidateTruststore1000(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "truststore", "bench-1000.pem"))
	if err != nil {
		b.Fatal(err)
	}
	for _, verify := range []bool{false, true} {
		b.Run(fmt.Sprintf("verify-signatures=%v", verify), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if r := ValidateTruststore(data, ValidateOptions{Now: testNow, VerifySignatures: verify}); r.Errors != 0 || r.Certificates != 1000 {
					b.Fatalf("bench bundle: %d certificates, %d errors", r.Certificates, r.Errors)
				}
			}
		})
	}
}

func TestPinnedSelfSignedClient(t *testing.T) {
	key := mustKey(t, ECDSAP256).Key
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "pinned"}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	data := EncodeCertificates(c)
	if r := ValidateTruststore(data, ValidateOptions{Now: testNow}); !r.Has(RuleNotCA) {
		t.Fatal("a self-signed client passed without --allow-pinned-client")
	}
	if r := ValidateTruststore(data, ValidateOptions{Now: testNow, AllowPinnedClient: true}); len(r.Findings) != 0 {
		t.Fatalf("pinned client with AllowPinnedClient: %+v", r.Findings)
	}
}
