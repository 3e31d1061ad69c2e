// Package fakeapigw is a strict in-process fake of the API Gateway control
// plane (both apigateway and apigatewayv2, REST-JSON) and of ACM's
// DescribeCertificate, for the operations apimtls calls. No open-source
// emulator implements UpdateDomainName, so this one does, as
// apigateway-mtls.md describes it: it reads the truststore from S3 by URI
// and version as AWS does, computes TruststoreWarnings, passes through
// UPDATING before AVAILABLE, refuses a second update while UPDATING, wants
// exactly one domain configuration in an HTTP API update, refuses mTLS on
// EDGE domains and policies other than TLS_1_2, throttles on demand, and
// records every request. The real SDK clients talk to it over HTTP.
package fakeapigw

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/apimtls/apimtls/pki"
)

// ReadObject fetches an S3 object version as API Gateway does, with the
// caller's credentials; an empty version means the newest.
type ReadObject func(ctx context.Context, bucket, key, version string) ([]byte, error)

// Request is one recorded call.
type Request struct {
	Method string
	Path   string
	Body   string
}

// Mutating reports whether the request changes anything.
func (r Request) Mutating() bool { return r.Method != http.MethodGet }

// Domain is the fake's state of a custom domain, shared by both services'
// views as AWS shares them.
type Domain struct {
	Name              string
	REST              bool // created through apigateway (v1)
	EndpointType      string
	SecurityPolicy    string
	Status            string
	CertificateArn    string
	OwnershipCertArn  string
	TruststoreURI     string
	TruststoreVersion string
	Warnings          []string
	Mappings          []Mapping
	ExtraWarning      string
	pollsLeft         int
	conflicts         int
}

// Mapping maps an API stage to a domain.
type Mapping struct{ APIID, Stage, BasePath string }

// API is an HTTP API or a REST API.
type API struct {
	ID             string
	REST           bool
	DisableDefault bool
	Stages         map[string]bool // stage name to auto-deploy
	Deployments    []string        // stage names deployed, in order
}

// Certificate is an ACM certificate.
type Certificate struct {
	Arn, Domain, Type, Status string
}

// Fake is the control plane.
type Fake struct {
	mu       sync.Mutex
	Domains  map[string]*Domain
	APIs     map[string]*API
	Certs    map[string]*Certificate
	Read     ReadObject
	Now      func() time.Time
	requests []Request
	throttle map[string]int // path substring to calls left to throttle
	// UpdatingPolls is how many GetDomainName calls see UPDATING after an
	// update before the domain is AVAILABLE again.
	UpdatingPolls int
	server        *httptest.Server
}

// New starts a fake on a loopback port; stop it with Close.
func New(read ReadObject) *Fake {
	f := &Fake{Domains: map[string]*Domain{}, APIs: map[string]*API{}, Certs: map[string]*Certificate{}, Read: read, Now: time.Now, UpdatingPolls: 2, throttle: map[string]int{}}
	f.server = httptest.NewServer(f)
	return f
}

// URL is the endpoint to give the SDK clients.
func (f *Fake) URL() string { return f.server.URL }

// Close stops the fake.
func (f *Fake) Close() { f.server.Close() }

// Throttle makes the next n mutating calls on paths containing sub fail
// with TooManyRequestsException.
func (f *Fake) Throttle(sub string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle[sub] = n
}

// Conflict makes the next n updates of a domain fail with
// ConflictException, as when another update starts between a read and a
// write.
func (f *Fake) Conflict(domain string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Domains[domain].conflicts = n
}

// Requests returns what was called, in order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// MutatingRequests returns the calls that changed something.
func (f *Fake) MutatingRequests() []Request {
	var out []Request
	for _, r := range f.Requests() {
		if r.Mutating() {
			out = append(out, r)
		}
	}
	return out
}

// AddDomain puts a domain in place, AVAILABLE unless its status is set.
func (f *Fake) AddDomain(d *Domain) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.Status == "" {
		d.Status = "AVAILABLE"
	}
	f.Domains[d.Name] = d
}

// AddAPI puts an API in place.
func (f *Fake) AddAPI(a *API) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.APIs[a.ID] = a
}

// AddCertificate puts an ACM certificate in place.
func (f *Fake) AddCertificate(c *Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Certs[c.Arn] = c
}

// Domain returns a copy of a domain's state.
func (f *Fake) Domain(name string) Domain {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.Domains[name]
}

// API returns a copy of an API's state.
func (f *Fake) API(id string) API {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.APIs[id]
}

type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status, code, fmt.Sprintf(format, args...)}
}

type route struct {
	method string
	re     *regexp.Regexp
	fn     func(f *Fake, m []string, body []byte) (int, any, *apiError)
}

var routes = []route{
	{"GET", regexp.MustCompile(`^/v2/domainnames/([^/]+)$`), (*Fake).v2GetDomain},
	{"PATCH", regexp.MustCompile(`^/v2/domainnames/([^/]+)$`), (*Fake).v2UpdateDomain},
	{"POST", regexp.MustCompile(`^/v2/domainnames$`), (*Fake).v2CreateDomain},
	{"GET", regexp.MustCompile(`^/v2/domainnames/([^/]+)/apimappings$`), (*Fake).v2GetMappings},
	{"POST", regexp.MustCompile(`^/v2/domainnames/([^/]+)/apimappings$`), (*Fake).v2CreateMapping},
	{"GET", regexp.MustCompile(`^/v2/apis/([^/]+)$`), (*Fake).v2GetAPI},
	{"PATCH", regexp.MustCompile(`^/v2/apis/([^/]+)$`), (*Fake).v2UpdateAPI},
	{"GET", regexp.MustCompile(`^/v2/apis/([^/]+)/stages$`), (*Fake).v2GetStages},
	{"POST", regexp.MustCompile(`^/v2/apis/([^/]+)/deployments$`), (*Fake).deploy},
	{"GET", regexp.MustCompile(`^/domainnames/([^/]+)$`), (*Fake).v1GetDomain},
	{"PATCH", regexp.MustCompile(`^/domainnames/([^/]+)$`), (*Fake).v1UpdateDomain},
	{"POST", regexp.MustCompile(`^/domainnames$`), (*Fake).v1CreateDomain},
	{"GET", regexp.MustCompile(`^/domainnames/([^/]+)/basepathmappings$`), (*Fake).v1GetMappings},
	{"POST", regexp.MustCompile(`^/domainnames/([^/]+)/basepathmappings$`), (*Fake).v1CreateMapping},
	{"GET", regexp.MustCompile(`^/restapis/([^/]+)$`), (*Fake).v1GetAPI},
	{"PATCH", regexp.MustCompile(`^/restapis/([^/]+)$`), (*Fake).v1UpdateAPI},
	{"GET", regexp.MustCompile(`^/restapis/([^/]+)/stages$`), (*Fake).v1GetStages},
	{"POST", regexp.MustCompile(`^/restapis/([^/]+)/deployments$`), (*Fake).deploy},
}

// ServeHTTP dispatches one call.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	f.requests = append(f.requests, Request{Method: r.Method, Path: r.URL.Path, Body: string(body)})
	throttled := false
	if r.Method != http.MethodGet {
		for sub, n := range f.throttle {
			if n > 0 && strings.Contains(r.URL.Path, sub) {
				f.throttle[sub], throttled = n-1, true
				break
			}
		}
	}
	f.mu.Unlock()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		f.acm(w, target, body)
		return
	}
	if throttled {
		writeError(w, errorf(429, "TooManyRequestsException", "Too Many Requests"))
		return
	}
	for _, rt := range routes {
		if rt.method != r.Method {
			continue
		}
		if m := rt.re.FindStringSubmatch(r.URL.Path); m != nil {
			f.mu.Lock()
			status, out, err := rt.fn(f, m, body)
			f.mu.Unlock()
			if err != nil {
				writeError(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(out)
			return
		}
	}
	writeError(w, errorf(404, "NotFoundException", "Invalid request path %s %s", r.Method, r.URL.Path))
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"message": e.msg})
}

// domain finds a domain, seen through the service asking: AWS keeps one
// domain per name, visible to both.
func (f *Fake) domain(name string) (*Domain, *apiError) {
	d := f.Domains[name]
	if d == nil {
		return nil, errorf(404, "NotFoundException", "Invalid domain name identifier specified")
	}
	if d.Status == "UPDATING" {
		if d.pollsLeft <= 0 {
			d.Status = "AVAILABLE"
		} else {
			d.pollsLeft--
		}
	}
	return d, nil
}

// applyTruststore does what API Gateway does on create or update: read the
// object, and compute warnings for the certificates it dislikes.
func (f *Fake) applyTruststore(d *Domain, uri, version string) *apiError {
	if uri == "" {
		d.TruststoreURI, d.TruststoreVersion, d.Warnings = "", "", nil
		return nil
	}
	if d.EndpointType != "REGIONAL" {
		return errorf(400, "BadRequestException", "Mutual TLS is only supported for REGIONAL domain names")
	}
	if d.SecurityPolicy != "TLS_1_2" {
		return errorf(400, "BadRequestException", "Mutual TLS is only supported with the TLS_1_2 security policy")
	}
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" || key == "" || len(uri) > 2048 || len(version) > 64 {
		return errorf(400, "BadRequestException", "Invalid truststore URI/versionId specified.")
	}
	data, err := f.Read(context.Background(), bucket, key, version)
	if err != nil {
		if strings.Contains(err.Error(), "access denied") {
			return errorf(400, "BadRequestException", "Unable to access truststore URI %s version %s", uri, orNA(version))
		}
		return errorf(400, "BadRequestException", "Invalid truststore URI/versionId specified.")
	}
	report := pki.ValidateTruststore(data, pki.ValidateOptions{Now: f.Now(), VerifySignatures: true})
	var warnings []string
	for _, fd := range report.Findings {
		if fd.Severity == pki.SeverityError {
			warnings = append(warnings, fd.Message)
		}
	}
	if d.ExtraWarning != "" {
		warnings = append(warnings, d.ExtraWarning)
	}
	d.TruststoreURI, d.TruststoreVersion, d.Warnings = uri, version, warnings
	return nil
}

func orNA(s string) string {
	if s == "" {
		return "N/A"
	}
	return s
}

func (f *Fake) startUpdate(d *Domain) *apiError {
	if d.conflicts > 0 {
		d.conflicts--
		return errorf(409, "ConflictException", "Cannot update domain name %s while it is being updated", d.Name)
	}
	if d.Status == "UPDATING" {
		return errorf(409, "ConflictException", "Cannot update domain name %s while it is being updated", d.Name)
	}
	return nil
}

func (f *Fake) finishUpdate(d *Domain) {
	d.Status, d.pollsLeft = "UPDATING", f.UpdatingPolls
}

// Map maps an API stage to a domain.
func (f *Fake) Map(domain, apiID, stage string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.Domains[domain]
	d.Mappings = append(d.Mappings, Mapping{APIID: apiID, Stage: stage})
}

// MarkUpdating puts a domain in UPDATING for n more reads, as if another
// update were running.
func (f *Fake) MarkUpdating(domain string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.Domains[domain]
	d.Status, d.pollsLeft = "UPDATING", n
}

// SetWarning makes every later truststore update of a domain report text
// as a warning ("" for none), as AWS does for certificates it dislikes
// beyond what apimtls checks.
func (f *Fake) SetWarning(domain, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Domains[domain].ExtraWarning = text
}
