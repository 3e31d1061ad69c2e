package cli

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/outfile"
	"github.com/apimtls/apimtls/internal/profile"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/rotate"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/setup"
	"github.com/apimtls/apimtls/sharedstore"
	"github.com/apimtls/apimtls/x509cert"
)

// exportedErrors is every exported error of every package, as a value.
// TestEveryErrorHasAKind keeps it complete: it scans the packages' source
// for exported Err* variables and *Error types and fails on one missing
// here, so a new error cannot slip into the catch-all code unnoticed.
// The two wrappers carry a kinded error, as they always do.
var exportedErrors = map[string]error{
	"apigw.ErrNotFound":                apigw.ErrNotFound,
	"apigw.ErrConflict":                apigw.ErrConflict,
	"apigw.ErrReferenced":              apigw.ErrReferenced,
	"apigw.ErrThrottled":               apigw.ErrThrottled,
	"apigw.ErrAccessDenied":            apigw.ErrAccessDenied,
	"apigw.ErrBadRequest":              apigw.ErrBadRequest,
	"apigw.ErrEndpointDown":            apigw.ErrEndpointDown,
	"apigw.ErrTimeout":                 apigw.ErrTimeout,
	"apigw.ErrReadBack":                apigw.ErrReadBack,
	"apigw.ErrTruststoreAccess":        apigw.ErrTruststoreAccess,
	"authorizer.ErrNeedsZip":           authorizer.ErrNeedsZip,
	"authorizer.ArchMismatchError":     &authorizer.ArchMismatchError{Have: "amd64", Want: "arm64"},
	"outfile.ErrBusy":                  outfile.ErrBusy,
	"outfile.ErrRefused":               outfile.ErrRefused,
	"outfile.RefusedError":             &outfile.RefusedError{Path: "k", Reason: "a key"},
	"pki.ErrInterrupted":               pki.ErrInterrupted,
	"profile.ErrSecret":                profile.ErrSecret,
	"profile.ErrNotSet":                profile.ErrNotSet,
	"profile.FileError":                &profile.FileError{Path: "config.toml", Line: 2, Err: errors.New("bad")},
	"profile.SettingError":             &profile.SettingError{Key: "buckt", Err: errors.New("unknown key")},
	"profile.UnknownContextError":      &profile.UnknownContextError{Name: "prod", Path: "config.toml"},
	"pki.ErrCSVHeader":                 pki.ErrCSVHeader,
	"pki.ErrCSVSyntax":                 pki.ErrCSVSyntax,
	"pki.ErrShortPassphrase":           pki.ErrShortPassphrase,
	"pki.ErrCompromisedKey":            pki.ErrCompromisedKey,
	"pki.CRLNumberError":               &pki.CRLNumberError{Where: "inventory.db", Number: pki.MaxCRLNumber},
	"pki.InventoryDamagedError":        &pki.InventoryDamagedError{Path: "inventory.db", Reason: "truncated"},
	"pki.ErrNoClients":                 pki.ErrNoClients,
	"pki.ErrInventoryIntact":           pki.ErrInventoryIntact,
	"pki.ErrNeedsCSR":                  pki.ErrNeedsCSR,
	"pki.ErrRootRevoke":                pki.ErrRootRevoke,
	"pki.RevokedError":                 &pki.RevokedError{Name: "iss"},
	"pki.DamagedRecordsError":          &pki.DamagedRecordsError{},
	"pki.ErrPending":                   pki.ErrPending,
	"pki.ErrUnrevoked":                 pki.ErrUnrevoked,
	"pki.ErrSharedStore":               pki.ErrSharedStore,
	"pki.ErrCertMissing":               pki.ErrCertMissing,
	"pki.ErrLocked":                    pki.ErrLocked,
	"pki.ErrInvalidName":               pki.ErrInvalidName,
	"pki.ExistsError":                  &pki.ExistsError{Kind: pki.KindClient, Name: "x"},
	"pki.NotFoundError":                &pki.NotFoundError{Kind: pki.KindClient, Name: "x"},
	"pki.AmbiguousIssuerError":         &pki.AmbiguousIssuerError{Candidates: []string{"a", "b"}},
	"revocation.ErrNoCRL":              revocation.ErrNoCRL,
	"revocation.InvalidCRLError":       &revocation.InvalidCRLError{Where: "x.crl", Err: errors.New("garbage")},
	"revocation.ErrEmptyTruststore":    revocation.ErrEmptyTruststore,
	"rollout.MappingError":             &rollout.MappingError{Domain: "d", Err: apigw.ErrThrottled},
	"rollout.OlderCRLError":            &rollout.OlderCRLError{URI: "s3://b/k", Published: "number 2", Pushed: "number 1"},
	"rollout.InvalidError":             &rollout.InvalidError{Name: "ts.pem"},
	"rollout.ErrPreflight":             rollout.ErrPreflight,
	"rollout.ErrTruststoreWarnings":    rollout.ErrTruststoreWarnings,
	"rollout.ErrInvalidTruststore":     rollout.ErrInvalidTruststore,
	"rollout.PreflightError":           &rollout.PreflightError{},
	"rollout.WarningsError":            &rollout.WarningsError{Domain: "d"},
	"rollout.ErrNoVersion":             rollout.ErrNoVersion,
	"rotate.DependentsError":           &rotate.DependentsError{CA: "iss"},
	"s3store.ErrVersioningOff":         s3store.ErrVersioningOff,
	"s3store.ErrNoSuchBucket":          s3store.ErrNoSuchBucket,
	"s3store.ErrBucketTaken":           s3store.ErrBucketTaken,
	"s3store.ErrAccessDenied":          s3store.ErrAccessDenied,
	"s3store.ErrInvalidBucket":         s3store.ErrInvalidBucket,
	"s3store.ErrNotFound":              s3store.ErrNotFound,
	"s3store.ErrEndpointDown":          s3store.ErrEndpointDown,
	"s3store.ErrVersionSuspended":      s3store.ErrVersionSuspended,
	"s3store.ErrNotSettled":            s3store.ErrNotSettled,
	"s3store.ErrChanged":               s3store.ErrChanged,
	"setup.StepError":                  &setup.StepError{Step: "push", Err: s3store.ErrAccessDenied},
	"sharedstore.ErrMigrateConflicts":  sharedstore.ErrMigrateConflicts,
	"sharedstore.ErrRenewedMeanwhile":  sharedstore.ErrRenewedMeanwhile,
	"sharedstore.DamagedError":         &sharedstore.DamagedError{URI: "s3://b/k", Reason: "not JSON"},
	"sharedstore.ErrSerialInUse":       sharedstore.ErrSerialInUse,
	"sharedstore.ErrNotFound":          sharedstore.ErrNotFound,
	"sharedstore.ErrPrivateKey":        sharedstore.ErrPrivateKey,
	"sharedstore.ErrDifferentRecord":   sharedstore.ErrDifferentRecord,
	"sharedstore.ConflictError":        &sharedstore.ConflictError{Key: "k", Attempts: 5},
	"sharedstore.PendingError":         &sharedstore.PendingError{Kind: pki.KindClient, Name: "x"},
	"x509cert.UnsupportedKeyTypeError": &x509cert.UnsupportedKeyTypeError{Name: "dsa"},
	"x509cert.ErrWrongPassphrase":      x509cert.ErrWrongPassphrase,
	"x509cert.ErrPassphraseRequired":   x509cert.ErrPassphraseRequired,
	"x509cert.PEMError":                &x509cert.PEMError{Line: 3, Msg: "bad"},
	"x509cert.ErrTooDeep":              x509cert.ErrTooDeep,
	"x509cert.ErrOutlivesIssuer":       x509cert.ErrOutlivesIssuer,
	"x509cert.InvalidTruststoreError":  &x509cert.InvalidTruststoreError{Report: &x509cert.TruststoreReport{}},
}

// TestEveryErrorHasAKind: every exported error of every package (found in
// the source, so a new one is found too) has a kind, and so a documented
// code other than "failed".
func TestEveryErrorHasAKind(t *testing.T) {
	// The non-test Go files of every package, as the go command sees them.
	out, err := exec.Command("go", "list", "-f", "{{.Dir}} {{.Name}} {{join .GoFiles \" \"}}", "github.com/apimtls/apimtls/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		dir, pkg := f[0], f[1]
		base := filepath.Base(dir)
		if base == "cli" || strings.HasPrefix(base, "fake") || strings.HasSuffix(base, "test") || base == "errkind" || pkg == "main" {
			continue // the command line itself, the test-only packages, the kinds
		}
		fset := token.NewFileSet()
		for _, name := range f[2:] {
			file, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range file.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok {
					continue
				}
				for _, spec := range g.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
								found = append(found, pkg+"."+n.Name)
							}
						}
					case *ast.TypeSpec:
						if s.Name.IsExported() && strings.HasSuffix(s.Name.Name, "Error") {
							found = append(found, pkg+"."+s.Name.Name)
						}
					}
				}
			}
		}
	}
	sort.Strings(found)
	if len(found) < 50 {
		t.Fatalf("found only %d exported errors: the scan broke", len(found))
	}
	for _, name := range found {
		e, ok := exportedErrors[name]
		switch {
		case !ok:
			t.Errorf("%s is not in exportedErrors: add it, with its kind (errkind)", name)
		case errorCode(e) == codeFailed:
			t.Errorf("%s maps to %q: give it a kind (errkind.New, or an ErrorKind method)", name, codeFailed)
		}
	}
}
