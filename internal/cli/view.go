package cli

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/x509cert"
)

// certView is how a recorded certificate appears in JSON output
// (docs/json.md). It never holds a secret.
type certView struct {
	Name         string           `json:"name"`
	Kind         pki.Kind         `json:"kind"`
	Subject      string           `json:"subject"`
	Issuer       string           `json:"issuer,omitempty"`
	IssuerSerial string           `json:"issuer_serial,omitempty"`
	Serial       string           `json:"serial"`
	KeyType      x509cert.KeyType `json:"key_type"`
	KeyEncrypted bool             `json:"key_encrypted"`
	Level        int              `json:"level,omitempty"`
	PathLen      *int             `json:"path_len,omitempty"`
	NotBefore    time.Time        `json:"not_before"`
	NotAfter     time.Time        `json:"not_after"`
	SHA256       string           `json:"sha256"`
	Status       string           `json:"status"`
	RevokedAt    *time.Time       `json:"revoked_at,omitempty"`
	Reason       pki.Reason       `json:"revocation_reason,omitempty"`
	SANs         []string         `json:"sans,omitempty"`
	FromCSR      bool             `json:"from_csr,omitempty"`
	SupersededBy string           `json:"superseded_by,omitempty"`
	Renews       string           `json:"renews,omitempty"`
	// KeyLocation says where a CA's key lives; CAs only.
	KeyLocation *pki.KeyRef `json:"key_location,omitempty"`
	Files       []string    `json:"files"`
	Notes       []string    `json:"notes,omitempty"`
}

func viewOf(st *pki.Store, r *pki.Record, now time.Time) certView {
	dir := st.Dir
	v := certView{
		Name: r.Name, Kind: r.Kind, Subject: r.Subject, Issuer: r.Issuer, IssuerSerial: r.IssuerSerial,
		Serial: r.Serial, KeyType: r.KeyType, KeyEncrypted: r.KeyEncrypted, Level: r.Level, PathLen: r.PathLen,
		NotBefore: r.NotBefore, NotAfter: r.NotAfter, SHA256: r.SHA256, Status: r.StatusAt(now),
		SANs: r.SANs, FromCSR: r.FromCSR, Files: []string{}, RevokedAt: r.RevokedAt, Reason: r.RevocationReason,
		SupersededBy: r.SupersededBy, Renews: r.Renews,
	}
	if r.Kind.IsCA() {
		loc := pki.Layout{Dir: dir}.KeyLocation(r)
		v.KeyLocation = &loc
	}
	shared := st.Shared() != ""
	for _, f := range r.Files {
		path := filepath.Join(dir, filepath.FromSlash(f))
		if shared && !fileExists(path) {
			continue // with a shared store, files are where they were issued
		}
		v.Files = append(v.Files, path)
	}
	return v
}

// printDetails writes a certificate's fields as aligned "label value" lines.
func printDetails(w io.Writer, v certView, now time.Time) error {
	t := newTable(w)
	t.row("  name", v.Name)
	kind := string(v.Kind)
	if v.Kind.IsCA() {
		kind += fmt.Sprintf(" CA, level %d of at most %d", v.Level, x509cert.MaxCALevels)
	}
	t.row("  kind", kind)
	t.row("  subject", textsafe.Escape(v.Subject))
	if v.Issuer != "" {
		t.row("  issuer", v.Issuer+" (serial "+v.IssuerSerial+")")
	} else {
		t.row("  issuer", "self-signed")
	}
	t.row("  serial", v.Serial)
	key := string(v.KeyType)
	if v.KeyEncrypted {
		key += ", key encrypted"
	}
	if v.FromCSR {
		key += ", key held by the requester (signed from a CSR)"
	}
	t.row("  key", key)
	if v.KeyLocation != nil {
		t.row("  key in", keyLocationText(*v.KeyLocation))
	}
	if v.PathLen != nil {
		t.row("  path len", pathLenText(*v.PathLen))
	}
	if len(v.SANs) > 0 {
		t.row("  SANs", textsafe.Escape(strings.Join(v.SANs, ", ")))
	}
	t.row("  valid", fmt.Sprintf("%s to %s (%s)", v.NotBefore.Format(time.RFC3339), v.NotAfter.Format(time.RFC3339), remaining(v.NotAfter, now)))
	t.row("  status", v.Status)
	switch {
	case v.RevokedAt != nil && v.RevokedAt.After(now):
		// A renewal's --keep-previous overlap: valid until then.
		t.row("  revoked from", v.RevokedAt.Format(time.RFC3339)+" ("+string(v.Reason)+"; CRLs signed from then on list it)")
	case v.RevokedAt != nil:
		t.row("  revoked", v.RevokedAt.Format(time.RFC3339)+" ("+string(v.Reason)+")")
	}
	if v.SupersededBy != "" {
		t.row("  superseded by", v.SupersededBy)
	}
	if v.Renews != "" {
		t.row("  renews", v.Renews)
	}
	t.row("  sha256", v.SHA256)
	for i, f := range v.Files {
		label := ""
		if i == 0 {
			label = "  files"
		}
		t.row(label, f)
	}
	return t.flush()
}

func pathLenText(n int) string {
	switch n {
	case -1:
		return "unlimited"
	case 0:
		return "0 (issues client certificates only)"
	}
	return fmt.Sprintf("%d (up to %d more CA levels below)", n, n)
}

// remaining says how long until t, in days, or how long since.
func remaining(t, now time.Time) string {
	d := t.Sub(now)
	days := int(math.Round(d.Hours() / 24))
	switch {
	case d <= 0:
		return fmt.Sprintf("expired %d days ago", -days)
	case d < 24*time.Hour:
		return "expires in less than a day"
	case days == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", days)
}

func printNotes(w io.Writer, notes []string) {
	for _, n := range notes {
		fmt.Fprintln(w, "note: "+textsafe.Escape(n))
	}
}

// writeIssued prints a certificate just created: JSON, or headline and its
// details and notes. It reports whether the output was text, after which
// the caller adds its next step.
func writeIssued(c *cli.Context, format string, s *pki.Store, issued *pki.Issued, headline string) (bool, error) {
	v := viewOf(s, issued.Record, s.Now())
	v.Notes = issued.Notes
	if format == outputJSON {
		return false, writeJSON(c.App.Writer, v)
	}
	w := c.App.Writer
	fmt.Fprintln(w, headline)
	if err := printDetails(w, v, s.Now()); err != nil {
		return true, err
	}
	printNotes(w, issued.Notes)
	return true, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
