// Package setup takes a custom domain from nothing to enforced mutual TLS
// in one run: root and issuing CA, clients, truststore, push, the domain,
// the APIs' default endpoints, and the revocation authorizer. Every step
// checks the real state first and runs only when something is missing, so
// a finished setup changes nothing, and a run that failed part-way is
// finished by the next one without repeating what was done.
package setup

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/gateway"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

// Names setup gives the CAs it makes.
const (
	RootName    = pki.DefaultRootName
	IssuingName = "issuing"
)

// Input is what apimtls setup was asked.
type Input struct {
	// Dir is the PKI directory.
	Dir string
	// Open opens the PKI store for writing or reading; nil: the local
	// PKI directory Dir (a shared store passes its own).
	Open           func(write bool) (*pki.Store, error)
	Domain         string
	Bucket, Key    string
	CertificateArn string
	// APIIDs are the APIs behind the domain; the first is mapped (at
	// Stage) when the domain is created.
	APIIDs  []string
	Stage   string
	Clients []string
	// Authorizer deploys the revocation authorizer on every API.
	Authorizer   bool
	CreateBucket bool
	DryRun       bool
	Region       string
	// Package and Arch are the authorizer's deployment zip; ArchNote says
	// which architecture was chosen and why. A dry run may have no
	// package.
	Package  []byte
	Arch     string
	ArchNote string
	Wait     rollout.Wait
	// ProbeURL, when set with a client, is probed once every step is in
	// place: refused without a certificate, accepted with the first
	// client's. ProbeRootCAs verify its server (nil: the system's).
	ProbeURL     string
	ProbeRootCAs *x509.CertPool
	// mapped are the APIs the domain already routes to, besides APIIDs:
	// every one must have its default endpoint closed.
	mapped []string
}

// Step states.
const (
	StateDone    = "in place" // found done, not touched
	StateTodo    = "to do"    // planned
	StateRan     = "done"     // carried out by this run
	StateFailed  = "failed"
	StateSkipped = "skipped"
)

// Step is one step of the plan and what became of it.
type Step struct {
	Name   string `json:"step"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
	check  func(ctx context.Context) (bool, string, error)
	run    func(ctx context.Context) (string, error)
}

// Result is the plan and each step's outcome (setup's JSON).
type Result struct {
	Domain  string `json:"domain"`
	Steps   []Step `json:"steps"`
	Changed bool   `json:"changed"`
	DryRun  bool   `json:"dry_run"`
	// Warnings are told with the plan and do not stop it: a domain that
	// CloudFormation manages drifts from its template when changed.
	Warnings []string `json:"warnings,omitempty"`
	// Probe is the proof at the end, with ProbeURL.
	Probe   *gateway.ProbeResult `json:"probe,omitempty"`
	Summary string               `json:"-"`
}

// Runner carries out setup.
type Runner struct {
	Rollout *rollout.Rollout
	Bucket  rollout.Bucket
	// AfterStep, when set, is called after each step that ran; an error
	// stops the run there (tests inject crashes with it).
	AfterStep func(name string) error
	store     *pki.Store
	pushed    apigw.Truststore
	// domain is the domain as the plan found it; nil when it does not exist.
	domain *apigw.Domain
}

// StepError is a step that failed: the steps before it are in place and
// the next run continues from it.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %q failed: %v; every step before it is in place, and running setup again continues from here", e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Run plans every step, then (unless DryRun) runs those not in place.
func (r *Runner) Run(ctx context.Context, in Input) (*Result, error) {
	if err := check(&in); err != nil {
		return nil, err
	}
	var st *pki.Store
	var err error
	if in.DryRun && in.Open != nil {
		if st, err = in.Open(false); err != nil {
			return nil, err
		}
	} else if in.DryRun {
		// A dry run creates nothing, not even the PKI directory.
		if _, serr := os.Stat(pki.Layout{Dir: in.Dir}.Inventory()); serr == nil {
			if st, err = pki.OpenStore(in.Dir, false); err != nil {
				return nil, err
			}
		}
	} else {
		if err := os.MkdirAll(in.Dir, 0o700); err != nil {
			return nil, err
		}
		if st, err = in.open(); err != nil {
			return nil, err
		}
	}
	if st != nil {
		defer st.Close()
	}
	r.store = st
	res := &Result{Domain: in.Domain, DryRun: in.DryRun}
	if in.mapped, err = r.mappedAPIs(ctx, in); err != nil {
		return res, fmt.Errorf("plan: read the APIs behind %s: %w", in.Domain, err)
	}
	res.Steps = r.steps(in)
	// The plan: every check against the state before anything runs. A
	// step after one to do is to do too when it depends on it.
	blocked := false
	checked := make([]bool, len(res.Steps)) // by the plan, before anything ran
	for i := range res.Steps {
		s := &res.Steps[i]
		if blocked {
			s.State = StateTodo
			continue
		}
		checked[i] = true
		done, detail, err := s.check(ctx)
		if err != nil {
			return res, fmt.Errorf("plan step %q: %w", s.Name, err)
		}
		s.Detail = detail
		s.State = StateDone
		if !done {
			s.State = StateTodo
			blocked = true
		}
	}
	res.Warnings = r.driftWarnings(in, res)
	if in.DryRun {
		res.Summary = summary(res)
		return res, nil
	}
	for i := range res.Steps {
		s := &res.Steps[i]
		// A step the plan checked, with nothing run since, is as the plan
		// found it; any other is checked now, after the steps before it.
		var (
			done   bool
			detail string
			err    error
		)
		if checked[i] && !res.Changed {
			done, detail = s.State == StateDone, s.Detail
		} else {
			done, detail, err = s.check(ctx)
		}
		if err == nil && done {
			s.State, s.Detail = StateDone, detail
			continue
		}
		if err == nil {
			detail, err = s.run(ctx)
		}
		if err != nil {
			s.State, s.Error = StateFailed, err.Error()
			for j := i + 1; j < len(res.Steps); j++ {
				res.Steps[j].State = StateSkipped
			}
			res.Summary = summary(res)
			return res, &StepError{Step: s.Name, Err: err}
		}
		s.State, s.Detail, res.Changed = StateRan, detail, true
		if r.AfterStep != nil {
			if err := r.AfterStep(s.Name); err != nil {
				for j := i + 1; j < len(res.Steps); j++ {
					res.Steps[j].State = StateSkipped
				}
				return res, &StepError{Step: s.Name, Err: err}
			}
		}
	}
	res.Summary = summary(res)
	return res, r.probe(ctx, in, res)
}

// probe proves the result when a URL and a client are known: it changes
// nothing, so it is not a step of the plan and runs every time.
func (r *Runner) probe(ctx context.Context, in Input, res *Result) error {
	if in.ProbeURL == "" || len(in.Clients) == 0 {
		return nil
	}
	l := pki.Layout{Dir: in.Dir}
	pair, err := tls.LoadX509KeyPair(l.ClientChain(in.Clients[0]), l.ClientKey(in.Clients[0]))
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	res.Probe = gateway.Probe(ctx, gateway.ProbeOptions{URL: in.ProbeURL, RootCAs: in.ProbeRootCAs, ClientCert: &pair, Timeout: 10 * time.Second})
	if !res.Probe.Pass {
		return &StepError{Step: "probe " + in.ProbeURL, Err: errors.New("the endpoint does not enforce mutual TLS as set up (see the checks above)")}
	}
	return nil
}

func check(in *Input) error {
	if in.Domain == "" || in.Bucket == "" {
		return errors.New("setup needs --domain and --bucket")
	}
	if in.Key == "" {
		in.Key = "truststore.pem"
	}
	if in.Stage == "" {
		in.Stage = "$default"
	}
	if in.Authorizer && len(in.APIIDs) == 0 {
		return errors.New("--authorizer needs --api-id: the APIs whose routes it guards")
	}
	return s3store.CheckBucketName(in.Bucket)
}

func summary(res *Result) string {
	var lines []string
	todo := 0
	for _, s := range res.Steps {
		if s.State == StateTodo || s.State == StateRan || s.State == StateFailed {
			todo++
		}
		line := fmt.Sprintf("  %-10s %s", s.State, s.Name)
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		if s.Error != "" {
			line += ": " + s.Error
		}
		lines = append(lines, line)
	}
	head := fmt.Sprintf("setup of %s:", res.Domain)
	switch {
	case todo == 0:
		head = fmt.Sprintf("setup of %s is complete: nothing to do", res.Domain)
	case res.DryRun:
		head = fmt.Sprintf("plan for %s (dry run: nothing changed):", res.Domain)
	}
	for _, w := range res.Warnings {
		head += "\n  warning: " + w
	}
	return head + "\n" + strings.Join(lines, "\n")
}

func (r *Runner) exists(kind pki.Kind, name string) (bool, error) {
	if r.store == nil {
		return false, nil
	}
	_, err := r.store.Lookup(kind, name)
	var nf *pki.NotFoundError
	if errors.As(err, &nf) {
		return false, nil
	}
	return err == nil, err
}

func (r *Runner) steps(in Input) []Step {
	var steps []Step
	steps = append(steps, Step{Name: "root CA " + RootName,
		check: func(context.Context) (bool, string, error) {
			ok, err := r.exists(pki.KindRoot, RootName)
			return ok, "", err
		},
		run: func(context.Context) (string, error) {
			ca, err := r.store.CreateCA(pki.CAParams{Name: RootName, CommonName: "apimtls Root CA", KeyType: pki.DefaultRootKeyType, MaxPathLen: -1})
			if err != nil {
				return "", err
			}
			return ca.Record.Subject, nil
		}})
	steps = append(steps, Step{Name: "issuing CA " + IssuingName,
		check: func(context.Context) (bool, string, error) {
			ok, err := r.exists(pki.KindIntermediate, IssuingName)
			return ok, "", err
		},
		run: func(context.Context) (string, error) {
			ca, err := r.store.CreateCA(pki.CAParams{Name: IssuingName, Parent: RootName, CommonName: "apimtls Issuing CA", KeyType: pki.DefaultRootKeyType, MaxPathLen: -1})
			if err != nil {
				return "", err
			}
			return ca.Record.Subject, nil
		}})
	for _, name := range in.Clients {
		steps = append(steps, Step{Name: "client " + name,
			check: func(context.Context) (bool, string, error) {
				ok, err := r.exists(pki.KindClient, name)
				return ok, "", err
			},
			run: func(context.Context) (string, error) {
				_, err := r.store.IssueClient(pki.ClientParams{Name: name, CA: IssuingName, KeyType: pki.DefaultClientKeyType})
				if err != nil {
					return "", err
				}
				return "in " + pki.Layout{Dir: in.Dir}.ClientDir(name), nil
			}})
	}
	steps = append(steps, r.truststoreSteps(in)...)
	steps = append(steps, r.domainStep(in))
	steps = append(steps, r.endpointSteps(in)...)
	if in.Authorizer {
		for _, id := range in.APIIDs {
			steps = append(steps, r.authorizerStep(in, id))
		}
	}
	return steps
}

// built is the truststore the PKI directory's CAs make now.
func (r *Runner) built() ([]byte, error) {
	b, err := r.store.BuildTruststore(nil, nil, x509cert.ValidateOptions{})
	if err != nil {
		return nil, err
	}
	if b.Report.Errors > 0 {
		return nil, fmt.Errorf("the truststore has %s: apimtls truststore validate", plural.Count(b.Report.Errors, "error"))
	}
	return b.PEM, nil
}

func (r *Runner) truststoreSteps(in Input) []Step {
	path := pki.Layout{Dir: in.Dir}.Truststore()
	var steps []Step
	steps = append(steps, Step{Name: "truststore build",
		check: func(context.Context) (bool, string, error) {
			if r.store == nil {
				return false, "", nil
			}
			want, err := r.built()
			if err != nil {
				return false, "", err
			}
			have, err := os.ReadFile(path)
			return err == nil && bytes.Equal(have, want), path, nil
		},
		run: func(context.Context) (string, error) {
			want, err := r.built()
			if err != nil {
				return "", err
			}
			if problems := r.Rollout.Validate(want); len(problems) > 0 {
				return "", fmt.Errorf("truststore refused: %s", strings.Join(problems, "; "))
			}
			return path, pki.WriteTruststore(path, want)
		}})
	if in.CreateBucket {
		steps = append(steps, Step{Name: "bucket " + in.Bucket,
			check: func(ctx context.Context) (bool, string, error) {
				_, err := r.Rollout.Objects.Versions(ctx, in.Bucket, in.Key)
				if errors.Is(err, s3store.ErrNoSuchBucket) {
					return false, "versioned, private, encrypted", nil
				}
				return err == nil, "", err
			},
			run: func(ctx context.Context) (string, error) {
				out, err := r.Bucket.CreateBucket(ctx, in.Bucket, s3store.CreateOptions{RequireTLS: true})
				if err != nil {
					return "", err
				}
				return strings.Join(out.Notes, "; "), nil
			}})
	}
	uri := "s3://" + in.Bucket + "/" + in.Key
	steps = append(steps, Step{Name: "truststore push",
		check: func(ctx context.Context) (bool, string, error) {
			local, err := os.ReadFile(path)
			if err != nil {
				return false, uri, nil
			}
			ts, err := r.Rollout.Pin(ctx, apigw.Truststore{URI: uri})
			if err != nil {
				if errors.Is(err, rollout.ErrNoVersion) || errors.Is(err, s3store.ErrNoSuchBucket) || errors.Is(err, s3store.ErrNotFound) {
					return false, uri, nil
				}
				return false, "", err
			}
			remote, _, err := r.Rollout.Objects.Pull(ctx, in.Bucket, in.Key, ts.Version)
			if err != nil || !bytes.Equal(remote, local) {
				return false, uri, nil
			}
			r.pushed = ts
			return true, uri + " version " + ts.Version, nil
		},
		run: func(ctx context.Context) (string, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return "", err
			}
			settle := s3store.PushInput{Bucket: in.Bucket, Key: in.Key, Data: data, Settle: in.Wait.Timeout, OnWait: func(why string, d time.Duration) {
				r.onWait(apigw.Wait{Reason: "version not settled", Err: errors.New(why), For: d})
			}}
			out, err := rollout.Push(ctx, r.Bucket, r.Rollout.Validate, rollout.PushInput{PushInput: settle, Name: path,
				Record: func(p *s3store.PushResult) error {
					return pki.RecordPush(in.Dir, pki.PushedTruststore{URI: p.URI, Bucket: in.Bucket, Key: in.Key, VersionID: p.VersionID, PushedAt: time.Now().UTC()})
				}})
			if err != nil {
				return "", err
			}
			r.pushed = apigw.Truststore{URI: out.URI, Version: out.VersionID}
			if out.Settled != "" {
				return out.URI + " version " + out.VersionID + " (" + out.Settled + ")", nil
			}
			return out.URI + " version " + out.VersionID, nil
		}})
	return steps
}

func (r *Runner) domainStep(in Input) Step {
	return Step{Name: "domain " + in.Domain,
		check: func(ctx context.Context) (bool, string, error) {
			d, err := r.Rollout.API.GetDomain(ctx, in.Domain, apigw.Auto)
			if errors.Is(err, apigw.ErrNotFound) {
				if in.CertificateArn == "" {
					return false, "", fmt.Errorf("domain %s does not exist: give --certificate-arn (an ACM certificate for it) to create it", in.Domain)
				}
				return false, "create with mutual TLS", nil
			}
			if err != nil {
				return false, "", err
			}
			if r.pushed.URI == "" {
				return false, "point at the pushed truststore", nil
			}
			ok := d.TruststoreURI == r.pushed.URI && d.TruststoreVersion == r.pushed.Version
			return ok, "mutual TLS with " + rollout.Target(r.pushed), nil
		},
		run: func(ctx context.Context) (string, error) {
			_, err := r.Rollout.API.GetDomain(ctx, in.Domain, apigw.Auto)
			var res *rollout.Result
			if errors.Is(err, apigw.ErrNotFound) {
				ci := rollout.CreateInput{Domain: in.Domain, APIType: apigw.Auto, CertificateArn: in.CertificateArn, Truststore: r.pushed, Wait: in.Wait}
				if len(in.APIIDs) > 0 {
					ci.Mapping = apigw.Mapping{APIID: in.APIIDs[0], Stage: in.Stage}
				}
				res, err = r.Rollout.Create(ctx, ci)
			} else if err == nil {
				res, err = r.Rollout.EnableMTLS(ctx, rollout.EnableInput{Domain: in.Domain, APIType: apigw.Auto, Truststore: r.pushed, Wait: in.Wait})
			}
			if err != nil {
				return "", err
			}
			return res.Summary, nil
		}}
}

// driftWarnings warn, with the plan, that the domain step will change a
// domain CloudFormation manages, drifting from the stack's template
// (enable-mtls tells it again right before the change).
func (r *Runner) driftWarnings(in Input, res *Result) []string {
	if r.domain == nil {
		return nil
	}
	for _, s := range res.Steps {
		if s.Name == "domain "+in.Domain && s.State == StateTodo {
			to := r.pushed
			if to.URI == "" {
				to = apigw.Truststore{URI: s3store.URI(in.Bucket, in.Key), Version: "<the version truststore push prints>"}
			}
			if w := rollout.DriftWarning(r.domain, to); w != "" {
				return []string{w}
			}
		}
	}
	return nil
}

// mappedAPIs lists the APIs an existing domain routes to (mappings in use
// and routing rules) that --api-id does not name.
func (r *Runner) mappedAPIs(ctx context.Context, in Input) ([]string, error) {
	st, err := r.Rollout.DomainStatus(ctx, in.Domain, apigw.Auto)
	if errors.Is(err, apigw.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.domain = st.Domain
	var out []string
	for _, m := range st.Mappings {
		if !m.Unused && !slices.Contains(in.APIIDs, m.APIID) && !slices.Contains(out, m.APIID) {
			out = append(out, m.APIID)
		}
	}
	return out, nil
}

// endpointSteps close the default endpoint of every API given and every
// API mapped to the domain.
func (r *Runner) endpointSteps(in Input) []Step {
	var steps []Step
	for _, id := range append(append([]string{}, in.APIIDs...), in.mapped...) {
		steps = append(steps, Step{Name: "default endpoint of " + id,
			check: func(ctx context.Context) (bool, string, error) {
				t, err := r.Rollout.API.DetectAPI(ctx, id)
				if err != nil {
					return false, "", err
				}
				plan, err := r.Rollout.API.PlanDefaultEndpoint(ctx, id, t)
				if err != nil {
					return false, "", err
				}
				if !plan.Enabled && len(plan.NeedDeployment()) == 0 {
					return true, "closed", nil
				}
				return false, "close it (execute-api bypasses mTLS) and deploy its stages", nil
			},
			run: func(ctx context.Context) (string, error) {
				t, err := r.Rollout.API.DetectAPI(ctx, id)
				if err != nil {
					return "", err
				}
				plan, err := r.Rollout.API.PlanDefaultEndpoint(ctx, id, t)
				if err != nil {
					return "", err
				}
				out, err := r.Rollout.API.DisableDefaultEndpoint(ctx, plan, nil, true, r.onWait)
				if err != nil {
					return "", err
				}
				return "closed; " + out.Deployments(), nil
			}})
	}
	return steps
}

func (r *Runner) authorizerStep(in Input, id string) Step {
	ai := rollout.AuthorizerInput{APIID: id, Region: in.Region, Bucket: in.Bucket, Key: in.Key, Prefix: "crl/", Arch: in.Arch, Package: in.Package, ArchNote: in.ArchNote}
	return Step{Name: "revocation authorizer on " + id,
		check: func(ctx context.Context) (bool, string, error) {
			plan := ai
			plan.DryRun = true
			res, err := r.Rollout.DeployAuthorizer(ctx, plan)
			if err != nil {
				return false, "", err
			}
			detail := plural.Count(len(res.Changes), "change")
			if len(res.Changes) > 0 && in.ArchNote != "" {
				detail += "; " + in.ArchNote
			}
			return len(res.Changes) == 0, detail, nil
		},
		run: func(ctx context.Context) (string, error) {
			res, err := r.Rollout.DeployAuthorizer(ctx, ai)
			if err != nil {
				return "", err
			}
			if in.ArchNote != "" {
				return res.Summary + "; " + in.ArchNote, nil
			}
			return res.Summary, nil
		}}
}

func (r *Runner) onWait(w apigw.Wait) {
	if r.Rollout.Events != nil {
		r.Rollout.Events.Wait(w)
	}
}

// open opens the store for writing.
func (in Input) open() (*pki.Store, error) {
	if in.Open != nil {
		return in.Open(true)
	}
	return pki.OpenStore(in.Dir, true)
}
