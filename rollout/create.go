package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apimtls/apimtls/apigw"
)

// CreateInput asks for a new domain with mutual TLS from the start.
type CreateInput struct {
	Domain           string
	APIType          apigw.APIType
	CertificateArn   string
	OwnershipCertArn string
	Truststore       apigw.Truststore
	// Mapping, when its APIID is set, maps that API stage to the domain.
	Mapping apigw.Mapping
	DryRun  bool
	Wait    Wait
}

// MappingError is a domain made (or found) whose mapping failed: running
// the same command again finishes it.
type MappingError struct {
	Domain string
	Err    error
}

func (e *MappingError) Error() string {
	return fmt.Sprintf("domain %s is in place, but mapping the API failed: %v", e.Domain, e.Err)
}

func (e *MappingError) Unwrap() error { return e.Err }

// Create makes a Regional TLS_1_2 domain with the truststore, and maps an
// API stage to it. It never recreates a domain, and it can be resumed: a
// domain that exists with exactly the asked configuration (left by a run
// whose mapping failed) is adopted and its mapping made; one that differs
// is refused.
func (r *Rollout) Create(ctx context.Context, in CreateInput) (*Result, error) {
	t := in.APIType
	if t == apigw.Auto || t == "" {
		t = apigw.HTTP
		if in.Mapping.APIID != "" {
			var err error
			if t, err = r.API.DetectAPI(ctx, in.Mapping.APIID); err != nil {
				return nil, err
			}
		}
	}
	res := &Result{Domain: in.Domain, APIType: t, Truststore: in.Truststore, DryRun: in.DryRun, Warnings: []string{}}
	var problems []string
	existing, err := r.API.GetDomain(ctx, in.Domain, apigw.Auto)
	switch {
	case err == nil:
		if diff := differences(existing, in); len(diff) > 0 {
			problems = append(problems, fmt.Sprintf("domain %s exists with another configuration (%s); apimtls never recreates a domain: use apimtls domain enable-mtls %s", in.Domain, strings.Join(diff, "; "), in.Domain))
		} else {
			res.Adopted, res.Previous = true, current(existing)
		}
	case !errors.Is(err, apigw.ErrNotFound):
		return nil, err
	}
	own, err := r.ownership(ctx, &apigw.Domain{Name: in.Domain, CertificateArn: in.CertificateArn}, in.OwnershipCertArn)
	if err != nil {
		return nil, err
	}
	more, notes := r.checkObject(ctx, in.Truststore)
	res.Problems, res.Notes = append(append(problems, own...), more...), notes
	if len(res.Problems) > 0 {
		return res, &PreflightError{res.Problems}
	}
	res.Problems = nil
	mapped := in.Mapping.APIID == "" || (existing != nil && hasMapping(existing, in.Mapping))
	if in.DryRun {
		res.Summary = createPlan(in, t, res.Adopted, mapped)
		return res, nil
	}
	if res.Adopted {
		r.events().Note(fmt.Sprintf("domain %s exists with this configuration: finishing it", in.Domain))
	} else {
		err := r.API.CreateDomain(ctx, apigw.CreateInput{Name: in.Domain, APIType: t, CertificateArn: in.CertificateArn, OwnershipCertArn: in.OwnershipCertArn, Truststore: in.Truststore}, r.events().Wait)
		if err != nil {
			return nil, err
		}
		res.Changed = true
	}
	if !mapped {
		if err := r.API.Map(ctx, in.Domain, t, in.Mapping); err != nil {
			return res, &MappingError{Domain: in.Domain, Err: err}
		}
		res.Changed = true
	}
	res.Summary = fmt.Sprintf("created %s with mutual TLS: %s version %s", in.Domain, in.Truststore.URI, in.Truststore.Version)
	if res.Adopted {
		res.Summary = fmt.Sprintf("%s was in place with mutual TLS (%s); %s", in.Domain, Target(in.Truststore), map[bool]string{true: "mapped " + in.Mapping.APIID + " stage " + in.Mapping.Stage, false: "nothing to change"}[!mapped])
	}
	var after *apigw.Domain
	if in.Wait.NoWait {
		after, err = r.API.GetDomain(ctx, in.Domain, t)
	} else {
		after, err = r.wait(ctx, &apigw.Domain{Name: in.Domain, APIType: t}, in.Wait)
	}
	if err != nil {
		return nil, err
	}
	// Read back: an endpoint may accept the create and drop the mutual
	// TLS settings (moto does); the domain is what it reports.
	if got := current(after); got != in.Truststore {
		return res, fmt.Errorf("domain %s was created but reports %s, not %s: %w", in.Domain, Target(got), Target(in.Truststore), apigw.ErrReadBack)
	}
	if in.Wait.NoWait {
		return res, nil
	}
	res.Status, res.Warnings = after.Status, append(res.Warnings, after.Warnings...)
	if len(res.Warnings) > 0 {
		return res, &WarningsError{Domain: in.Domain, Count: len(res.Warnings), Created: true}
	}
	return res, nil
}

// differences lists how an existing domain differs from what create asks.
func differences(d *apigw.Domain, in CreateInput) []string {
	var diff []string
	add := func(what, got, want string) {
		if got != want {
			diff = append(diff, fmt.Sprintf("%s %s, not %s", what, orNone(got), orNone(want)))
		}
	}
	add("certificate", d.CertificateArn, in.CertificateArn)
	add("endpoint", d.EndpointType, "REGIONAL")
	add("security policy", d.SecurityPolicy, apigw.RequiredPolicy)
	add("truststore", Target(current(d)), Target(in.Truststore))
	return diff
}

func hasMapping(d *apigw.Domain, m apigw.Mapping) bool {
	for _, have := range d.Mappings {
		if have.Via != apigw.ViaRule && have.APIID == m.APIID && have.Stage == m.Stage && have.BasePath == m.BasePath {
			return true
		}
	}
	return false
}

func createPlan(in CreateInput, t apigw.APIType, adopted, mapped bool) string {
	if adopted {
		if mapped {
			return fmt.Sprintf("plan: %s exists as asked: nothing to change (dry run)", in.Domain)
		}
		return fmt.Sprintf("plan: %s exists as asked; map %s stage %s to it (dry run: nothing changed)", in.Domain, in.Mapping.APIID, in.Mapping.Stage)
	}
	return fmt.Sprintf("plan: create %s (%s API, REGIONAL, TLS_1_2) with %s version %s (dry run: nothing changed)", in.Domain, t, in.Truststore.URI, in.Truststore.Version)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
