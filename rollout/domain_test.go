package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/fakeapigw"
)

var ctx = context.Background()

// Every branch of enable-mtls, against the fake with AWS's quotas.
func TestEnableMTLS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rest    bool
		setup   func(e *env, ts apigw.Truststore) EnableInput
		wantErr error  // errors.Is / As target kind, nil for success
		errText string // part of the error text
		check   func(t *testing.T, e *env, res *Result, ts apigw.Truststore)
	}{
		{name: "http: one update, read back", setup: func(e *env, ts apigw.Truststore) EnableInput {
			return EnableInput{Domain: "d.example.com", APIType: apigw.Auto, Truststore: ts}
		}, check: func(t *testing.T, e *env, res *Result, ts apigw.Truststore) {
			wantDomainTruststore(t, e, ts)
			if n := e.updates("d.example.com"); n != 1 || !res.Changed {
				t.Fatalf("%d updates, changed %v; want exactly one", n, res.Changed)
			}
		}},
		{name: "rest: patch operations", rest: true, setup: func(e *env, ts apigw.Truststore) EnableInput {
			return EnableInput{Domain: "d.example.com", APIType: apigw.REST, Truststore: ts}
		}, check: func(t *testing.T, e *env, res *Result, ts apigw.Truststore) { wantDomainTruststore(t, e, ts) }},
		{name: "already UPDATING: waits, then one update", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.fake.MarkUpdating("d.example.com", 3)
			return EnableInput{Domain: "d.example.com", Truststore: ts}
		}, check: func(t *testing.T, e *env, res *Result, ts apigw.Truststore) {
			wantDomainTruststore(t, e, ts)
			if len(e.events.notes) == 0 || !strings.Contains(e.events.notes[0], "UPDATING") {
				t.Fatalf("notes %q: want the wait for the running update told", e.events.notes)
			}
		}},
		{name: "ownership certificate needed: preflight, nothing changed", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.domain("imp.example.com", false, func(d *fakeapigw.Domain) { d.CertificateArn = importedCert })
			return EnableInput{Domain: "imp.example.com", Truststore: ts}
		}, wantErr: &PreflightError{}, errText: "needs an ownership verification certificate", check: func(t *testing.T, e *env, _ *Result, _ apigw.Truststore) {
			if len(e.changes()) != 0 {
				t.Fatalf("preflight changed something: %v", e.changes())
			}
		}},
		{name: "ownership certificate and truststore in ONE update (http)", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.domain("imp.example.com", false, func(d *fakeapigw.Domain) { d.CertificateArn = importedCert })
			return EnableInput{Domain: "imp.example.com", Truststore: ts, OwnershipCertArn: ownerCert}
		}, check: func(t *testing.T, e *env, _ *Result, ts apigw.Truststore) {
			if n := e.updates("imp.example.com"); n != 1 {
				t.Fatalf("%d updates, want one carrying both", n)
			}
			if d := e.fake.Domain("imp.example.com"); d.OwnershipCertArn != ownerCert || d.TruststoreVersion != ts.Version {
				t.Fatalf("domain has owner %q version %q", d.OwnershipCertArn, d.TruststoreVersion)
			}
		}},
		{name: "ownership certificate and truststore in ONE update (rest)", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.domain("imp.example.com", true, func(d *fakeapigw.Domain) { d.CertificateArn = importedCert })
			return EnableInput{Domain: "imp.example.com", APIType: apigw.REST, Truststore: ts, OwnershipCertArn: ownerCert}
		}, check: func(t *testing.T, e *env, _ *Result, ts apigw.Truststore) {
			if n := e.updates("imp.example.com"); n != 1 {
				t.Fatalf("%d updates, want one carrying both", n)
			}
		}},
		{name: "warnings without rollback", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.fake.SetWarning("d.example.com", "Certificate CN=legacy is not valid")
			return EnableInput{Domain: "d.example.com", Truststore: ts}
		}, wantErr: &WarningsError{}, errText: "clients of those certificates will fail", check: func(t *testing.T, e *env, res *Result, ts apigw.Truststore) {
			wantDomainTruststore(t, e, ts)
			if res.RolledBack || len(res.Warnings) != 1 {
				t.Fatalf("rolled back %v, warnings %q", res.RolledBack, res.Warnings)
			}
		}},
		{name: "warnings with rollback to a truststore that had NO version", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.fake.SetWarning("old.example.com", "Certificate CN=legacy is not valid")
			return EnableInput{Domain: "old.example.com", Truststore: ts, RollbackOnWarnings: true}
		}, wantErr: &WarningsError{}, errText: "previous truststore was restored", check: func(t *testing.T, e *env, res *Result, _ apigw.Truststore) {
			d := e.fake.Domain("old.example.com")
			if d.TruststoreURI != "s3://truststores/old.pem" || d.TruststoreVersion != "" || !res.RolledBack {
				t.Fatalf("after rollback the domain has %q version %q; want the old URI with no version", d.TruststoreURI, d.TruststoreVersion)
			}
			// The rollback came right after the update: paced by the
			// 30-second quota, never throttled.
			if e.throttled() != 0 || !paced(e) {
				t.Fatalf("waits %+v: want a paced rollback and no throttling", e.events.waits())
			}
		}},
		{name: "throttled update is retried", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.fake.Throttle("/domainnames/d.example.com", 2)
			return EnableInput{Domain: "d.example.com", Truststore: ts}
		}, check: func(t *testing.T, e *env, _ *Result, ts apigw.Truststore) {
			wantDomainTruststore(t, e, ts)
			if e.throttled() != 2 {
				t.Fatalf("%d throttled waits, want 2", e.throttled())
			}
		}},
		{name: "conflicting update is retried", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.fake.Conflict("d.example.com", 1)
			return EnableInput{Domain: "d.example.com", Truststore: ts}
		}, check: func(t *testing.T, e *env, _ *Result, ts apigw.Truststore) { wantDomainTruststore(t, e, ts) }},
		{name: "API Gateway denied reading the truststore", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.objects.denied = map[string]bool{"AKIDCALLER": true}
			return EnableInput{Domain: "d.example.com", Truststore: ts}
		}, wantErr: apigw.ErrTruststoreAccess, errText: "Unable to access truststore"},
		{name: "caller cannot read the object: preflight", setup: func(e *env, _ apigw.Truststore) EnableInput {
			return EnableInput{Domain: "d.example.com", Truststore: apigw.Truststore{URI: "s3://truststores/missing.pem", Version: "v1"}}
		}, wantErr: &PreflightError{}, errText: "does not exist"},
		{name: "invalid truststore: preflight", setup: func(e *env, _ apigw.Truststore) EnableInput {
			return EnableInput{Domain: "d.example.com", Truststore: e.push("bad.pem", []byte("BROKEN"))}
		}, wantErr: &PreflightError{}, errText: "truststore: [pem]"},
		{name: "no such domain: preflight", setup: func(e *env, ts apigw.Truststore) EnableInput {
			return EnableInput{Domain: "nosuch.example.com", Truststore: ts}
		}, wantErr: &PreflightError{}, errText: "does not exist; create it"},
		{name: "read risks are notes", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.objects.risks = []string{"bucket policy statement IP tests aws:sourceip"}
			return EnableInput{Domain: "d.example.com", Truststore: ts, DryRun: true}
		}, check: func(t *testing.T, e *env, res *Result, _ apigw.Truststore) {
			if len(res.Notes) != 1 || len(e.changes()) != 0 || !strings.Contains(res.Summary, "dry run") {
				t.Fatalf("notes %q, summary %q", res.Notes, res.Summary)
			}
		}},
		{name: "same truststore: nothing to change", setup: func(e *env, _ apigw.Truststore) EnableInput {
			return EnableInput{Domain: "old.example.com", Truststore: apigw.Truststore{URI: "s3://truststores/old.pem"}}
		}, check: func(t *testing.T, e *env, res *Result, _ apigw.Truststore) {
			if res.Changed || e.updates("old.example.com") != 0 || !strings.Contains(res.Summary, "nothing to change") {
				t.Fatalf("changed %v: %s", res.Changed, res.Summary)
			}
		}},
		{name: "domain stuck: timeout", setup: func(e *env, ts apigw.Truststore) EnableInput {
			e.fake.UpdatingPolls = 1 << 20
			return EnableInput{Domain: "d.example.com", Truststore: ts, Wait: Wait{Timeout: 20 * 60e9}}
		}, wantErr: apigw.ErrTimeout, errText: "still UPDATING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.domain("d.example.com", tc.rest)
			old := e.objects.put("truststores", "old.pem", caPEM(t, "old root", true))
			_ = old
			e.domain("old.example.com", false, func(d *fakeapigw.Domain) { d.TruststoreURI = "s3://truststores/old.pem" })
			ts := e.push("truststore.pem", caPEM(t, "root", true))
			in := tc.setup(e, ts)
			res, err := e.r.EnableMTLS(ctx, in)
			checkErr(t, err, tc.wantErr, tc.errText)
			if tc.check != nil {
				tc.check(t, e, res, ts)
			}
		})
	}
}

func checkErr(t *testing.T, err, want error, text string) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if err != nil {
			t.Fatalf("err = %v", err)
		}
		return
	case *PreflightError:
		var pe *PreflightError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want a preflight error", err)
		}
	case *WarningsError:
		var we *WarningsError
		if !errors.As(err, &we) {
			t.Fatalf("err = %v, want a warnings error", err)
		}
	default:
		if !errors.Is(err, w) {
			t.Fatalf("err = %v, want %v", err, w)
		}
	}
	if !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %v, want it to say %q", err, text)
	}
}

func wantDomainTruststore(t *testing.T, e *env, ts apigw.Truststore) {
	t.Helper()
	for name, d := range e.fake.Domains {
		if name == "d.example.com" || name == "imp.example.com" {
			got := e.fake.Domain(name)
			if got.TruststoreURI == ts.URI && got.TruststoreVersion == ts.Version {
				return
			}
			_ = d
		}
	}
	t.Fatalf("no domain uses %s version %s", ts.URI, ts.Version)
}

func paced(e *env) bool {
	for _, w := range e.events.waits() {
		if w.Reason == "pacing" {
			return true
		}
	}
	return false
}

func TestDisableMTLS(t *testing.T) {
	e := newEnv(t)
	e.domain("d.example.com", false)
	ts := e.push("truststore.pem", caPEM(t, "root", true))
	if _, err := e.r.EnableMTLS(ctx, EnableInput{Domain: "d.example.com", Truststore: ts}); err != nil {
		t.Fatal(err)
	}
	res, err := e.r.DisableMTLS(ctx, DisableInput{Domain: "d.example.com"})
	if err != nil || !res.Changed || res.Previous != ts {
		t.Fatalf("disable: %+v, %v", res, err)
	}
	if d := e.fake.Domain("d.example.com"); d.TruststoreURI != "" {
		t.Fatalf("domain still has %s", d.TruststoreURI)
	}
	again, err := e.r.DisableMTLS(ctx, DisableInput{Domain: "d.example.com"})
	if err != nil || again.Changed || !strings.Contains(again.Summary, "off already") {
		t.Fatalf("second disable: %+v, %v", again, err)
	}
}

// The bypass check sees every API behind a domain: mappings of both types
// on one domain, past the first page, and routing rules.
func TestDomainStatusBypass(t *testing.T) {
	e := newEnv(t)
	e.domain("mixed.example.com", false)
	e.fake.AddAPI(&fakeapigw.API{ID: "http1", Stages: map[string]bool{"prod": false}, DisableDefault: true})
	e.fake.AddAPI(&fakeapigw.API{ID: "rest1", REST: true, Stages: map[string]bool{"prod": false}, DisableDefault: true})
	e.fake.AddAPI(&fakeapigw.API{ID: "rest2", REST: true, Stages: map[string]bool{"prod": false}})
	for range 30 {
		e.fake.Map("mixed.example.com", "http1", "prod")
	}
	e.fake.Map("mixed.example.com", "rest1", "prod")
	// The 32nd mapping, on the second page, still bypasses.
	e.fake.Map("mixed.example.com", "rest2", "prod")
	st, err := e.r.DomainStatus(ctx, "mixed.example.com", apigw.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Mappings) != 32 || !st.Bypass || st.APIType != apigw.HTTP {
		t.Fatalf("%d mappings, bypass %v, type %s; want 32, true, http", len(st.Mappings), st.Bypass, st.APIType)
	}
	if m := st.Mappings[31]; m.APIType != apigw.REST || !m.DefaultEndpointEnabled {
		t.Fatalf("last mapping %+v: want rest2 typed REST with its endpoint on", m)
	}

	// Routing rules count; in ROUTING_RULE_ONLY mode mappings do not.
	e.domain("rules.example.com", false)
	e.fake.Map("rules.example.com", "rest2", "prod")
	e.fake.AddRoutingRule("rules.example.com", fakeapigw.RoutingRule{Priority: 1, APIID: "rest1", Stage: "prod"})
	e.fake.SetRoutingMode("rules.example.com", fakeapigw.RoutingRuleOnly)
	st, err = e.r.DomainStatus(ctx, "rules.example.com", apigw.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bypass {
		t.Fatalf("mappings are unused in ROUTING_RULE_ONLY mode, and the rule's API is closed: %+v", st.Mappings)
	}
	e.fake.AddAPI(&fakeapigw.API{ID: "rest3", REST: true, Stages: map[string]bool{"prod": false}})
	e.fake.AddRoutingRule("rules.example.com", fakeapigw.RoutingRule{Priority: 2, APIID: "rest3", Stage: "prod"})
	if st, err = e.r.DomainStatus(ctx, "rules.example.com", apigw.Auto); err != nil || !st.Bypass {
		t.Fatalf("an open API behind a routing rule is a bypass: %+v %v", st, err)
	}
}

// An endpoint without ListRoutingRules (moto, LocalStack, a Region or role
// without routing rules) does not break domain status: the rules are read
// only in the modes that use them, and then reported unknown with why.
func TestDomainStatusWithoutRoutingRules(t *testing.T) {
	e := newEnv(t)
	e.domain("plain.example.com", false)
	e.fake.DisableRoutingRules("plain.example.com")
	e.fake.AddAPI(&fakeapigw.API{ID: "http1", Stages: map[string]bool{"prod": false}})
	e.fake.Map("plain.example.com", "http1", "prod")
	st, err := e.r.DomainStatus(ctx, "plain.example.com", apigw.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if st.RoutingRulesUnknown != "" || !st.Bypass || len(st.Mappings) != 1 {
		t.Fatalf("API_MAPPING_ONLY: %+v", st)
	}
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/routingrules") {
			t.Fatal("read the routing rules of a domain whose mode ignores them")
		}
	}
	e.fake.SetRoutingMode("plain.example.com", fakeapigw.RoutingRuleThenAPIMapping)
	st, err = e.r.DomainStatus(ctx, "plain.example.com", apigw.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.RoutingRulesUnknown, "routing rules") || !st.Bypass {
		t.Fatalf("rules then mappings: unknown %q, bypass %v", st.RoutingRulesUnknown, st.Bypass)
	}
}
