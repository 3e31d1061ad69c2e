// Package rollout is what apimtls does to AWS, step by step: it resolves
// the truststore version a domain must use, checks everything AWS would
// refuse before changing anything, enables, creates or disables mutual TLS
// on a custom domain (waiting, reading the truststore warnings back, rolling
// back on request), reports which APIs still bypass a domain, and pushes a
// validated truststore to its bucket. It takes the API Gateway client, the
// object store and the validator as small interfaces, so its tests drive it
// against the fake control plane and an in-memory store.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/s3store"
)

// Objects reads truststore objects, as API Gateway will read them.
type Objects interface {
	Pull(ctx context.Context, bucket, key, version string) ([]byte, string, error)
	Versions(ctx context.Context, bucket, key string) ([]s3store.Version, error)
	// ReadRisks names what lets the caller read the object but would stop
	// API Gateway reading it on the caller's behalf.
	ReadRisks(ctx context.Context, bucket, key, version string) ([]string, error)
}

// Validator returns why a truststore must not be used; none means fit.
type Validator func(data []byte) []string

// Events hears what a rollout is doing, for people to see.
type Events interface {
	// Status is each status read while waiting for a domain.
	Status(domain, status string)
	// Wait is each pause: pacing, throttling, a running update.
	Wait(apigw.Wait)
	// Note is a line worth telling as it happens.
	Note(string)
	// Done ends a run of Status calls.
	Done()
}

// Rollout carries out the workflows against one account and Region.
type Rollout struct {
	API      *apigw.Client
	Objects  Objects
	Validate Validator
	Events   Events
	// Lambda and IAM deploy the revocation authorizer (authorizer_lambda.go, authorizer_iam.go).
	Lambda LambdaAPI
	IAM    IAMAPI
}

func (r *Rollout) events() Events {
	if r.Events == nil {
		return quiet{}
	}
	return r.Events
}

type quiet struct{}

func (quiet) Status(string, string) {}
func (quiet) Wait(apigw.Wait)       {}
func (quiet) Note(string)           {}
func (quiet) Done()                 {}

// Result is what enable-mtls, create and disable-mtls did (their JSON).
type Result struct {
	Domain     string           `json:"domain"`
	APIType    apigw.APIType    `json:"api_type"`
	Previous   apigw.Truststore `json:"previous"`
	Truststore apigw.Truststore `json:"truststore"`
	Changed    bool             `json:"changed"`
	DryRun     bool             `json:"dry_run"`
	Status     string           `json:"status,omitempty"`
	Warnings   []string         `json:"truststore_warnings"`
	RolledBack bool             `json:"rolled_back"`
	Problems   []string         `json:"problems,omitempty"`
	// Notes are risks the preflight saw that do not stop the change.
	Notes []string `json:"notes,omitempty"`
	// Drift warns that CloudFormation manages the domain, so the change
	// drifts from its template (DriftWarning); told before the change.
	Drift string `json:"drift,omitempty"`
	// Adopted says create found the domain already made as asked.
	Adopted bool `json:"adopted,omitempty"`
	// Summary is the one line for people.
	Summary string `json:"-"`
}

// Kinds of the errors rollout returns, for errors.Is: the CLI maps each
// to its documented JSON code.
var (
	// ErrPreflight: the preflight found what AWS would refuse; nothing
	// was changed (PreflightError).
	ErrPreflight = errkind.New(errkind.Invalid, "refused by the preflight")
	// ErrTruststoreWarnings: API Gateway reported truststore warnings
	// after a change (WarningsError).
	ErrTruststoreWarnings = errkind.New(errkind.Invalid, "API Gateway reported truststore warnings")
	// ErrInvalidTruststore: a truststore refused before upload
	// (InvalidError).
	ErrInvalidTruststore = errkind.New(errkind.Invalid, "invalid truststore")
)

// PreflightError lists every problem found before anything changed.
type PreflightError struct{ Problems []string }

func (e *PreflightError) Error() string {
	return fmt.Sprintf("preflight found %s; nothing was changed:\n  - %s", plural.Count(len(e.Problems), "problem"), strings.Join(e.Problems, "\n  - "))
}

// Is makes a PreflightError an ErrPreflight.
func (e *PreflightError) Is(target error) bool { return target == ErrPreflight }

// Is makes a WarningsError an ErrTruststoreWarnings.
func (e *WarningsError) Is(target error) bool { return target == ErrTruststoreWarnings }

// WarningsError is API Gateway reporting truststore warnings after an
// update: the clients of the certificates named will fail.
type WarningsError struct {
	Domain     string
	Count      int
	RolledBack bool
	// Created says the domain was just created with these warnings.
	Created bool
}

func (e *WarningsError) Error() string {
	msg := fmt.Sprintf("API Gateway reported %s for %s", plural.Count(e.Count, "truststore warning"), e.Domain)
	if e.RolledBack {
		return msg + "; the previous truststore was restored"
	}
	return msg + ": clients of those certificates will fail"
}

// Wait says whether and how long to wait for a domain after a change.
type Wait struct {
	NoWait  bool
	Timeout time.Duration
}

// DefaultTimeout is how long apimtls waits for a domain: updates have been
// seen to take about 15 minutes, and Terraform waits 60 for the same reason.
const DefaultTimeout = 60 * time.Minute

func (r *Rollout) wait(ctx context.Context, d *apigw.Domain, w Wait) (*apigw.Domain, error) {
	defer r.events().Done()
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	after, err := r.API.WaitAvailable(ctx, d, timeout, func(s string) { r.events().Status(d.Name, s) })
	if err != nil {
		return nil, err
	}
	if after.Status != apigw.StatusAvailable {
		msg := fmt.Sprintf("domain %s is %s after the update", d.Name, after.Status)
		if after.Status == "" {
			msg = fmt.Sprintf("domain %s reports no status after the update", d.Name)
		}
		if after.StatusMessage != "" {
			msg += ": " + after.StatusMessage
		}
		return nil, errors.New(msg)
	}
	return after, nil
}

// ParseURI checks a truststore URI, s3://bucket/key, as API Gateway will.
func ParseURI(uri string) (string, string, error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" || key == "" {
		return "", "", fmt.Errorf("invalid truststore URI %q: use s3://bucket/key", uri)
	}
	if err := s3store.CheckKey(bucket, key); err != nil {
		return "", "", err
	}
	return bucket, key, s3store.CheckBucketName(bucket)
}

// ErrNoVersion is a truststore URI whose object has no current version.
var ErrNoVersion = errkind.New(errkind.NotFound, "has no current version")

// Pin resolves a truststore: a URI without a version is pinned to the
// newest version, so the domain never follows an overwritten object.
func (r *Rollout) Pin(ctx context.Context, ts apigw.Truststore) (apigw.Truststore, error) {
	bucket, key, err := ParseURI(ts.URI)
	if err != nil || ts.Version != "" {
		return ts, err
	}
	versions, err := r.Objects.Versions(ctx, bucket, key)
	if err != nil {
		return ts, err
	}
	for _, v := range versions {
		if v.IsLatest && !v.DeleteMarker {
			ts.Version = v.VersionID
		}
	}
	if ts.Version == "" {
		return ts, fmt.Errorf("%s %w", ts.URI, ErrNoVersion)
	}
	return ts, nil
}

// checkObject reads the truststore version with the caller's credentials,
// validates it, and looks for what would stop API Gateway reading it on the
// caller's behalf. It returns the problems (which refuse) and notes.
func (r *Rollout) checkObject(ctx context.Context, ts apigw.Truststore) (problems, notes []string) {
	bucket, key, err := ParseURI(ts.URI)
	if err != nil {
		return []string{err.Error()}, nil
	}
	data, _, err := r.Objects.Pull(ctx, bucket, key, ts.Version)
	switch {
	case errors.Is(err, s3store.ErrAccessDenied):
		return []string{fmt.Sprintf("cannot read %s version %s with these credentials; API Gateway reads it on the caller's behalf, so the caller needs s3:GetObject and s3:GetObjectVersion (and kms:Decrypt for SSE-KMS)", ts.URI, ts.Version)}, nil
	case errors.Is(err, s3store.ErrNotFound), errors.Is(err, s3store.ErrNoSuchBucket):
		return []string{fmt.Sprintf("%s version %s does not exist: API Gateway would answer \"Invalid truststore URI/versionId specified.\"", ts.URI, ts.Version)}, nil
	case err != nil:
		return []string{err.Error()}, nil
	}
	for _, p := range r.Validate(data) {
		problems = append(problems, "truststore: "+p)
	}
	risks, err := r.Objects.ReadRisks(ctx, bucket, key, ts.Version)
	if err != nil {
		notes = append(notes, "could not check the bucket policy and encryption for what API Gateway needs: "+err.Error())
	}
	return problems, append(notes, risks...)
}

// ownership is the preflight of the server certificate: an imported or
// private one needs a public, issued ownership verification certificate.
func (r *Rollout) ownership(ctx context.Context, d *apigw.Domain, given string) ([]string, error) {
	own, err := r.API.OwnershipProblem(ctx, d, given)
	if err != nil || own == "" {
		return nil, err
	}
	return []string{own}, nil
}

// ErrorKind says what kind of failure it is (errkind).
func (*PreflightError) ErrorKind() errkind.Kind { return errkind.Invalid }

// ErrorKind says what kind of failure it is (errkind).
func (*WarningsError) ErrorKind() errkind.Kind { return errkind.Invalid }
