package x509cert

import (
	"bytes"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/internal/revtest"
)

// readingError reports whether validate said it could not read the bundle
// as certificates: when it does not, apimtls, Go's encoding/pem and OpenSSL
// must read the same certificates.
func readingError(r *TruststoreReport) bool {
	return len(r.ReadingFindings()) > 0 || r.Has(RuleEmpty)
}

// crafted is a PEM structure readers could disagree on, with the line the
// error must name.
type crafted struct {
	name string
	data string
	line int
	want string
}

// craftedBundles builds from two certificates the structures of issue 16
// item 2, each of which some reader reads differently from another.
func craftedBundles(t testing.TB) (good string, cases []crafted) {
	root := mustRoot(t, ECDSAP256, -1)
	inter := mustIntermediate(t, root, ECDSAP256, -1)
	a, b := string(EncodeCertificates(inter.Cert)), string(EncodeCertificates(root.Cert))
	good = a + b
	aLines := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	n := len(aLines) // a's END is line n; b's BEGIN is line n+1
	body := strings.Join(aLines[1:n-1], "\n") + "\n"
	withoutFirstEnd := strings.Join(aLines[:n-1], "\n") + "\n" + b
	cases = []crafted{
		{"first END deleted", withoutFirstEnd, n, "boundary inside the CERTIFICATE block that starts at line 1"},
		{"last END deleted", a + strings.TrimSuffix(b, "-----END CERTIFICATE-----\n"), n + 1, "has no END line"},
		{"text inside a block", aLines[0] + "\n" + aLines[1] + "\nhello world\n" + strings.Join(aLines[2:], "\n") + "\n" + b, 3, "text that is not base64"},
		{"blank line inside a block", aLines[0] + "\n" + aLines[1] + "\n\n" + strings.Join(aLines[2:], "\n") + "\n" + b, 3, "blank line inside"},
		{"headers", aLines[0] + "\nProc-Type: 4,ENCRYPTED\n" + body + aLines[n-1] + "\n" + b, 2, "PEM headers"},
		{"END of another type", a + strings.Replace(b, "END CERTIFICATE", "END X509 CRL", 1), n + 1 + strings.Count(b, "\n") - 1, "does not match the BEGIN CERTIFICATE at line " + strconv.Itoa(n+1)},
		{"BEGIN not at line start", a + " " + b, n + 1, "does not start its line"},
		{"END with no BEGIN", a + "-----END CERTIFICATE-----\n" + b, n + 1, "END line with no BEGIN"},
		{"base64 past padding", aLines[0] + "\n" + body + "QQ==\nQUJD\n" + aLines[n-1] + "\n" + b, 1, "does not decode"},
		{"dash inside base64", aLines[0] + "\n" + aLines[1][:10] + "-" + aLines[1][11:] + "\n" + strings.Join(aLines[2:], "\n") + "\n" + b, 2, "not base64"},
		{"empty block", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n" + b, 1, "is empty"},
		{"malformed BEGIN", "-----BEGIN CERTIFICATE----\n" + body + aLines[n-1] + "\n" + b, 1, "malformed BEGIN"},
	}
	return good, cases
}

// TestReadPEMRefusesAmbiguity: each structure on which readers could
// disagree is an error of validate, of the certificate reader every command
// uses, and of the gate push and serve pass, naming its line.
func TestReadPEMRefusesAmbiguity(t *testing.T) {
	good, cases := craftedBundles(t)
	if r := ValidateTruststore([]byte(good), ValidateOptions{Now: testNow}); r.Errors != 0 {
		t.Fatalf("the good bundle has errors: %+v", r.Findings)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ValidateTruststore([]byte(tc.data), ValidateOptions{Now: testNow})
			if !r.Has(RuleMalformedPEM) {
				t.Fatalf("validate: no %s finding: %+v", RuleMalformedPEM, r.Findings)
			}
			want := "line " + strconv.Itoa(tc.line) + ": "
			for _, f := range r.Findings {
				if f.Rule == RuleMalformedPEM && (!strings.HasPrefix(f.Message, want) || !strings.Contains(f.Message, tc.want) || f.Line != tc.line) {
					t.Errorf("validate: %q (line %d), want %q...%q", f.Message, f.Line, want, tc.want)
				}
			}
			if _, err := DecodeCertificates([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeCertificates: %v, want %q", err, tc.want)
			}
			if _, err := CheckTruststore([]byte(tc.data), testNow); err == nil {
				t.Error("CheckTruststore accepted it")
			}
		})
	}
}

// goPEMCerts is what Go's encoding/pem reads as certificates.
func goPEMCerts(data []byte) [][]byte {
	var out [][]byte
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type == blockCertificate {
			out = append(out, b.Bytes)
		}
		data = rest
	}
}

// ourCerts is what validate read as certificates, in file order.
func ourCerts(r *TruststoreReport) [][]byte {
	var out [][]byte
	for _, e := range r.Entries {
		out = append(out, e.Cert.Raw)
	}
	return out
}

// opensslCerts is what OpenSSL reads from the same file, as
// `openssl crl2pkcs7 -nocrl -certfile F | openssl pkcs7 -print_certs`
// shows it; ok is false when OpenSSL refuses the file.
func opensslCerts(t *testing.T, openssl, path string) (certs [][]byte, ok bool) {
	p7, err := exec.Command(openssl, "crl2pkcs7", "-nocrl", "-certfile", path).Output()
	if err != nil {
		return nil, false
	}
	cmd := exec.Command(openssl, "pkcs7", "-print_certs")
	cmd.Stdin = bytes.NewReader(p7)
	out, err := cmd.Output()
	if err != nil {
		return nil, false
	}
	return goPEMCerts(out), true
}

func sameCerts(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// pemCorpus is every input the reader comparisons run on: the crafted
// structures, the good bundle, the truststore fixtures and the fuzz seed
// corpus that go test -fuzz has saved.
func pemCorpus(t *testing.T) map[string][]byte {
	good, cases := craftedBundles(t)
	corpus := map[string][]byte{"good": []byte(good), "crlf": []byte(strings.ReplaceAll(good, "\n", "\r\n")),
		"trailing blanks": []byte(strings.ReplaceAll(good, "\n", " \t\n")), "text around": []byte("issuer: x\n" + good + "bye\n"),
		"no final newline": []byte(strings.TrimSuffix(good, "\n"))}
	for _, c := range cases {
		corpus[c.name] = []byte(c.data)
	}
	for _, dir := range []string{filepath.Join("..", "testdata", "truststore"), filepath.Join("testdata", "fuzz", "FuzzPEMReadersAgree")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || len(data) > 64<<10 {
				continue
			}
			if strings.HasPrefix(string(data), "go test fuzz v1\n") {
				if data = fuzzSeedBytes(string(data)); data == nil {
					continue
				}
			}
			corpus[dir+"/"+e.Name()] = data
		}
	}
	return corpus
}

// fuzzSeedBytes reads a one-argument []byte seed file of go test -fuzz.
func fuzzSeedBytes(s string) []byte {
	_, arg, _ := strings.Cut(s, "\n")
	arg = strings.TrimSpace(arg)
	lit, ok := strings.CutPrefix(arg, "[]byte(")
	if !ok {
		return nil
	}
	lit = strings.TrimSuffix(lit, ")")
	v, err := strconv.Unquote(lit)
	if err != nil {
		return nil
	}
	return []byte(v)
}

// TestPEMReadersAgree runs apimtls, Go's encoding/pem and OpenSSL on the
// same inputs: whenever validate reports no reading error, all three must
// read the same certificates. OpenSSL runs here, over the corpus (crafted
// structures, fixtures and the fuzz seed corpus), not inside the fuzzer:
// two processes per input would slow fuzzing a hundredfold.
func TestPEMReadersAgree(t *testing.T) {
	openssl := revtest.Tool(t, "openssl")
	dir := t.TempDir()
	compared, disagreeing := 0, 0
	for name, data := range pemCorpus(t) {
		path := filepath.Join(dir, "in.pem")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r := ValidateTruststore(data, ValidateOptions{Now: testNow})
		ours, gos := ourCerts(r), goPEMCerts(data)
		ossl, ok := opensslCerts(t, openssl, path)
		if !ok || !sameCerts(gos, ossl) {
			disagreeing++ // Go and OpenSSL differ: validate must say so
		}
		if readingError(r) {
			continue
		}
		compared++
		if !sameCerts(ours, gos) {
			t.Errorf("%s: apimtls read %d certificates, Go's encoding/pem %d, and validate reports no reading error", name, len(ours), len(gos))
		}
		if !ok || !sameCerts(ours, ossl) {
			t.Errorf("%s: apimtls read %d certificates, OpenSSL %d (ok=%v), and validate reports no reading error", name, len(ours), len(ossl), ok)
		}
	}
	// The comparison must have had both kinds of input to judge.
	if compared < 5 || disagreeing < 3 {
		t.Fatalf("compared %d inputs, %d on which Go and OpenSSL disagree: the corpus is too thin to prove anything", compared, disagreeing)
	}
}

// FuzzPEMReadersAgree compares apimtls's PEM reading with Go's encoding/pem
// on arbitrary input: when validate reports no reading error, both read the
// same certificates. TestPEMReadersAgree replays the saved corpus through
// OpenSSL too.
func FuzzPEMReadersAgree(f *testing.F) {
	good, cases := craftedBundles(f)
	f.Add([]byte(good))
	for _, c := range cases {
		f.Add([]byte(c.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ValidateTruststore(data, ValidateOptions{Now: testNow})
		if readingError(r) {
			if _, err := DecodeCertificates(data); err == nil && r.Has(RuleMalformedPEM) {
				t.Fatal("validate refuses the structure, DecodeCertificates accepts it")
			}
			return
		}
		if ours, gos := ourCerts(r), goPEMCerts(data); !sameCerts(ours, gos) {
			t.Fatalf("apimtls read %d certificates, Go %d, with no reading error reported", len(ours), len(gos))
		}
	})
}
