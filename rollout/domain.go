package rollout

import (
	"context"
	"errors"
	"fmt"

	"github.com/apimtls/apimtls/apigw"
)

// EnableInput asks for mutual TLS on an existing domain.
type EnableInput struct {
	Domain     string
	APIType    apigw.APIType
	Truststore apigw.Truststore
	// OwnershipCertArn is sent with the truststore when it changes.
	OwnershipCertArn   string
	DryRun             bool
	RollbackOnWarnings bool
	Wait               Wait
}

// EnableMTLS points a domain at a truststore version in place: preflight
// (every problem at once, nothing changed when there is one), one update
// carrying the truststore and any new ownership certificate, a wait for
// AVAILABLE, the domain read back to prove the version took, and on
// warnings, with RollbackOnWarnings, exactly the previous state restored
// and proven the same way. A domain already UPDATING is waited for first.
func (r *Rollout) EnableMTLS(ctx context.Context, in EnableInput) (*Result, error) {
	res := &Result{Domain: in.Domain, Truststore: in.Truststore, DryRun: in.DryRun, Warnings: []string{}}
	d, err := r.API.GetDomain(ctx, in.Domain, in.APIType)
	if err == nil && d.Status == apigw.StatusUpdating && !in.DryRun {
		r.events().Note(fmt.Sprintf("domain %s is UPDATING; waiting for the running update to finish", in.Domain))
		mappings := d.Mappings
		if d, err = r.wait(ctx, d, in.Wait); err != nil {
			return nil, err
		}
		d.Mappings = mappings
	}
	var problems []string
	switch {
	case errors.Is(err, apigw.ErrNotFound):
		problems = append(problems, fmt.Sprintf("domain %s does not exist; create it with: apimtls domain create %s --certificate-arn ARN", in.Domain, in.Domain))
		d = nil
	case err != nil:
		return nil, err
	default:
		res.APIType, res.Previous = d.APIType, current(d)
		problems = append(problems, apigw.DomainProblems(d)...)
		own, err := r.ownership(ctx, d, in.OwnershipCertArn)
		if err != nil {
			return nil, err
		}
		problems = append(problems, own...)
	}
	more, notes := r.checkObject(ctx, in.Truststore)
	res.Problems, res.Notes = append(problems, more...), notes
	if len(res.Problems) > 0 {
		return res, &PreflightError{res.Problems}
	}
	res.Problems = nil
	newOwner := in.OwnershipCertArn != "" && in.OwnershipCertArn != d.OwnershipCertArn
	if res.Previous == in.Truststore && !newOwner {
		res.Status = d.Status
		res.Summary = fmt.Sprintf("%s already uses %s version %s: nothing to change", in.Domain, in.Truststore.URI, in.Truststore.Version)
		return res, nil
	}
	r.warnDrift(res, d, in.Truststore)
	if in.DryRun {
		res.Summary = PlanText(in.Domain, d.APIType, res.Previous, in.Truststore)
		return res, nil
	}
	owner := ""
	if newOwner {
		owner = in.OwnershipCertArn
	}
	if err := r.API.SetTruststore(ctx, d, apigw.Update{Truststore: in.Truststore, OwnershipCertArn: owner}, r.events().Wait); err != nil {
		return nil, err
	}
	res.Changed = true
	if in.Wait.NoWait {
		res.Status = apigw.StatusUpdating
		res.Summary = fmt.Sprintf("update of %s started: %s version %s (not waiting; see apimtls domain status %s)", in.Domain, in.Truststore.URI, in.Truststore.Version, in.Domain)
		return res, nil
	}
	after, err := r.settle(ctx, d, in.Truststore, in.Wait)
	if err != nil {
		return nil, err
	}
	res.Status = after.Status
	if len(after.Warnings) == 0 {
		res.Summary = fmt.Sprintf("%s now requires client certificates from %s version %s", in.Domain, in.Truststore.URI, in.Truststore.Version)
		return res, nil
	}
	res.Warnings = after.Warnings
	if in.RollbackOnWarnings {
		if err := r.API.SetTruststore(ctx, d, apigw.Update{Truststore: res.Previous}, r.events().Wait); err != nil {
			return nil, fmt.Errorf("roll back after warnings: %w", err)
		}
		if _, err := r.settle(ctx, d, res.Previous, in.Wait); err != nil {
			return nil, fmt.Errorf("roll back after warnings: %w", err)
		}
		res.RolledBack = true
	}
	return res, &WarningsError{Domain: in.Domain, Count: len(res.Warnings), RolledBack: res.RolledBack}
}

// warnDrift tells, before the change (or in the plan of a dry run), that
// it drifts from the CloudFormation stack managing the domain. It warns and
// does not refuse: the change is what was asked (often the way out of an
// incident, and rotate ca makes it too), and -o json's "drift" lets a
// script refuse it.
func (r *Rollout) warnDrift(res *Result, d *apigw.Domain, to apigw.Truststore) {
	if res.Drift = DriftWarning(d, to); res.Drift != "" {
		r.events().Note("warning: " + res.Drift)
	}
}

func current(d *apigw.Domain) apigw.Truststore {
	return apigw.Truststore{URI: d.TruststoreURI, Version: d.TruststoreVersion}
}

// settle waits for the domain and reads back what it uses: an update is
// done only when the domain reports exactly the truststore sent.
func (r *Rollout) settle(ctx context.Context, d *apigw.Domain, want apigw.Truststore, w Wait) (*apigw.Domain, error) {
	after, err := r.wait(ctx, d, w)
	if err != nil {
		return nil, err
	}
	if got := current(after); got != want {
		return nil, fmt.Errorf("domain %s reports %s after the update, not %s", d.Name, Target(got), Target(want))
	}
	return after, nil
}

// PlanText is the one line of a dry run.
func PlanText(name string, t apigw.APIType, from, to apigw.Truststore) string {
	return fmt.Sprintf("plan for %s (%s API): %s -> %s (dry run: nothing changed)", name, t, Target(from), Target(to))
}

// Target names a truststore state for people.
func Target(ts apigw.Truststore) string {
	if ts.URI == "" {
		return "mutual TLS off"
	}
	v := ts.Version
	if v == "" {
		v = "(none)"
	}
	return ts.URI + " version " + v
}

// DisableInput asks for mutual TLS off.
type DisableInput struct {
	Domain  string
	APIType apigw.APIType
	DryRun  bool
	Wait    Wait
}

// DisableMTLS sets the domain's truststore URI to empty, in place. The
// truststore objects are kept.
func (r *Rollout) DisableMTLS(ctx context.Context, in DisableInput) (*Result, error) {
	d, err := r.API.GetDomain(ctx, in.Domain, in.APIType)
	if err != nil {
		return nil, err
	}
	res := &Result{Domain: in.Domain, APIType: d.APIType, Previous: current(d), DryRun: in.DryRun, Warnings: []string{}, Status: d.Status}
	if !d.MTLSEnabled() {
		res.Summary = in.Domain + " has mutual TLS off already: nothing to change"
		return res, nil
	}
	r.warnDrift(res, d, apigw.Truststore{})
	if in.DryRun {
		res.Summary = PlanText(in.Domain, d.APIType, res.Previous, apigw.Truststore{})
		return res, nil
	}
	if err := r.API.SetTruststore(ctx, d, apigw.Update{}, r.events().Wait); err != nil {
		return nil, err
	}
	res.Changed = true
	if !in.Wait.NoWait {
		after, err := r.settle(ctx, d, apigw.Truststore{}, in.Wait)
		if err != nil {
			return nil, err
		}
		res.Status = after.Status
	}
	res.Summary = fmt.Sprintf("%s no longer requires client certificates (it used %s)", in.Domain, Target(res.Previous))
	return res, nil
}

// Status is a domain with, for each API routed through it, whether its
// default endpoint still bypasses mutual TLS.
type Status struct {
	*apigw.Domain
	Bypass bool `json:"default_endpoint_bypass"`
	// Rotations are the CA rotations in progress on the domain, as the
	// PKI directory records them (set by the CLI; rotate status).
	Rotations []string `json:"rotations_in_progress,omitempty"`
}

// DomainStatus reads the domain, every mapping and routing rule, and the
// default endpoint of each API behind them, each by its own API type.
func (r *Rollout) DomainStatus(ctx context.Context, name string, t apigw.APIType) (*Status, error) {
	d, err := r.API.GetDomain(ctx, name, t)
	if err != nil {
		return nil, err
	}
	st := &Status{Domain: d}
	seen := map[string]bool{}
	for i, m := range d.Mappings {
		on, ok := seen[m.APIID]
		if !ok {
			if on, err = r.API.DefaultEndpoint(ctx, m.APIID, m.APIType); err != nil {
				return nil, err
			}
			seen[m.APIID] = on
		}
		d.Mappings[i].DefaultEndpointEnabled = on
		st.Bypass = st.Bypass || (on && !m.Unused)
	}
	return st, nil
}
