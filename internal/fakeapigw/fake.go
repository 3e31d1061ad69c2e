// Package fakeapigw is a strict in-process fake of the API Gateway control
// plane (both apigateway and apigatewayv2, REST-JSON) and of ACM's
// DescribeCertificate, for the operations apimtls calls. No open-source
// emulator implements UpdateDomainName, so this one does. The real SDK
// clients talk to it over HTTP. Wherever AWS's behaviour is undocumented it
// takes the stricter reading, so that a client which passes here has not
// relied on leniency. What it models, with the AWS source of each rule:
//
//   - Account quotas (Quotas, AWSQuotas), on by default, measured on Clock:
//     CreateDomainName and UpdateDomainName of both services share one
//     window per account; CreateDeployment of both services another; every
//     control-plane call draws from a token bucket. Over quota: 429
//     TooManyRequestsException with a Retry-After header in whole seconds.
//     A refused call uses a token but does not restart a window; an admitted
//     call restarts its window even if it then fails validation (stricter).
//   - Pagination with AWS's page sizes (v1 limit/position, v2
//     maxResults/nextToken); tokens are opaque and checked.
//   - One domain per name seen by both services; mappings of REST and HTTP
//     APIs on one domain; routing rules and routing modes.
//   - The truststore read from S3 with the caller's identity (ReadObject
//     gets the access key ID of the request's SigV4 signature), warnings
//     from the fake's own certificate checks (warnings.go), UPDATING before
//     AVAILABLE, ConflictException while UPDATING, ownership verification
//     for IMPORTED and PRIVATE server certificates.
//   - Truststore version, strict: an update that names the truststore URI
//     but not its version keeps the version the domain had (v1: a patch of
//     /mutualTlsAuthentication/truststoreUri alone; v2: mutualTlsAuthentication
//     without truststoreVersion), whether or not the URI changed; only an
//     explicit empty version ("") selects the newest object. AWS documents
//     neither; it "may keep" the old version, so the fake always does. An
//     empty URI turns mTLS off and forgets the version.
//   - Stages hold a current deployment; CreateDeployment records a
//     description and time and is refused on an auto-deploy stage.
//
// Every request is recorded (Requests) for tests to inspect.
package fakeapigw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ReadObject fetches an S3 object version as API Gateway does, on behalf of
// caller (the access key ID that signed the control-plane request); an
// empty version means the newest. Return an error wrapping ErrAccessDenied
// (or whose text says "access denied", or an S3 AccessDenied API error) when
// the caller may not read it.
type ReadObject func(ctx context.Context, caller, bucket, key, version string) ([]byte, error)

// ErrAccessDenied is what a ReadObject returns, wrapped, when a bucket
// policy, IAM policy or KMS key keeps the caller from reading the object.
var ErrAccessDenied = errors.New("access denied")

// Clock is the fake's time source.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// TestClock is a clock that moves only when told to; safe for concurrent
// use. Give its Sleep to the code under test as its wait function, so that
// waiting out a quota takes no real time.
type TestClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewTestClock starts a clock at start.
func NewTestClock(start time.Time) *TestClock { return &TestClock{now: start} }

// Now returns the clock's time.
func (c *TestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *TestClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleep advances the clock by d at once; it returns ctx.Err() without
// advancing when ctx is already done.
func (c *TestClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Quotas are the account's control-plane limits. The zero value disables
// them all.
type Quotas struct {
	// DomainWrite is the least time between two CreateDomainName or
	// UpdateDomainName calls of the account (both services together).
	DomainWrite time.Duration
	// Deployment is the least time between two CreateDeployment calls.
	Deployment time.Duration
	// Rate and Burst size the token bucket every control-plane call draws
	// from: Rate tokens per second, at most Burst saved.
	Rate  float64
	Burst int
}

// AWSQuotas are API Gateway's fixed quotas. AWS: "Amazon API Gateway
// quotas", https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
// ("API Gateway quotas for creating, deploying and managing an API"):
// CreateDomainName and UpdateDomainName 1 request every 30 seconds per
// account, CreateDeployment 1 request every 5 seconds per account, and for
// all operations together 10 requests per second with a burst of 40. None
// can be increased.
var AWSQuotas = Quotas{DomainWrite: 30 * time.Second, Deployment: 5 * time.Second, Rate: 10, Burst: 40}

// Request is one recorded call.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   string
	Caller string // access key ID from the SigV4 Authorization header
	// Action is the IAM query action (IAM calls are all POST /).
	Action string
}

// Mutating reports whether the request changes anything.
func (r Request) Mutating() bool {
	if r.Action != "" {
		return !strings.HasPrefix(r.Action, "Get") && !strings.HasPrefix(r.Action, "List")
	}
	return r.Method != http.MethodGet
}

// Routing modes of a custom domain name (apigatewayv2 spelling; the
// apigateway view spells API_MAPPING as BASE_PATH_MAPPING). AWS: "Set the
// routing mode for your custom domain name",
// https://docs.aws.amazon.com/apigateway/latest/developerguide/set-routing-mode.html
const (
	APIMappingOnly            = "API_MAPPING_ONLY"
	RoutingRuleOnly           = "ROUTING_RULE_ONLY"
	RoutingRuleThenAPIMapping = "ROUTING_RULE_THEN_API_MAPPING"
)

// Domain is the fake's state of a custom domain, shared by both services'
// views as AWS shares them.
type Domain struct {
	Name              string
	REST              bool // created through apigateway (v1)
	EndpointType      string
	SecurityPolicy    string
	Status            string
	StatusMessage     string
	CertificateArn    string
	OwnershipCertArn  string
	TruststoreURI     string
	TruststoreVersion string
	Warnings          []string
	Mappings          []Mapping
	// RoutingMode is one of the routing mode constants; "" means
	// API_MAPPING_ONLY, AWS's default.
	RoutingMode  string
	RoutingRules []RoutingRule
	// Tags are the domain's tags. CloudFormation adds its own
	// (aws:cloudformation:stack-name, -stack-id, -logical-id) to a domain
	// it creates; a tags key of a request may not begin with "aws:".
	Tags         map[string]string
	ExtraWarning string
	pollsLeft    int
	conflicts    int
}

// SetTags puts tags on a domain, as CloudFormation's own aws: tags are put
// on what it creates (no request can set those).
func (f *Fake) SetTags(domain string, tags map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.Domains[domain]
	if d.Tags == nil {
		d.Tags = map[string]string{}
	}
	for k, v := range tags {
		d.Tags[k] = v
	}
}

// requestTags checks the tags of a create request. AWS: "Tagging your API
// Gateway resources": tag keys are case sensitive, up to 128 characters,
// and "the aws: prefix is reserved for AWS use"; the wording of the refusal
// is the fake's own.
func requestTags(tags map[string]string) (map[string]string, *apiError) {
	for k := range tags {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, badRequest("Invalid tag key %s: the aws: prefix is reserved for AWS use", k)
		}
		if k == "" || len(k) > 128 {
			return nil, badRequest("Invalid tag key %q", k)
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// Mapping maps an API stage (REST or HTTP) to a domain.
type Mapping struct{ APIID, Stage, BasePath string }

// RoutingRule sends a domain's traffic to a REST API stage; rules are
// evaluated from the lowest priority number up.
type RoutingRule struct {
	Priority     int
	APIID, Stage string
}

// Deployment is a snapshot of an API, deployed to a stage.
type Deployment struct {
	ID, Stage, Description string
	Created                time.Time
	// Auth is the authorization of every route or method the deployment
	// serves (see Route).
	Auth map[string]string
	// Authorizers are the API's authorizers as deployed, by ID.
	Authorizers map[string]Authorizer
}

// API is an HTTP API or a REST API.
type API struct {
	ID             string
	REST           bool
	DisableDefault bool
	Stages         map[string]bool // stage name to auto-deploy
	// Deployments lists the stage of every CreateDeployment call, in
	// order; deployments put in place with Fake.Deploy are not in it.
	Deployments []string
	// StageDeployment is each stage's current deployment ID.
	StageDeployment map[string]string
	// DeploymentLog holds every deployment, CreateDeployment's and
	// Fake.Deploy's, in order.
	DeploymentLog []Deployment
	// EndpointChangedAt is when UpdateRestApi or UpdateApi last changed
	// disableExecuteApiEndpoint.
	EndpointChangedAt time.Time
	// Routes are the HTTP API's routes or the REST API's methods.
	Routes       []*Route
	Authorizers  []*Authorizer
	stageCreated map[string]time.Time
	stageUpdated map[string]time.Time
}

// Certificate is an ACM certificate.
type Certificate struct {
	Arn, Domain, Type, Status string
}

// Fake is the control plane.
type Fake struct {
	mu      sync.Mutex
	Domains map[string]*Domain
	APIs    map[string]*API
	Certs   map[string]*Certificate
	// Functions and Roles are the fake's Lambda and IAM (lambda.go,
	// iam.go), in Account.
	Functions map[string]*Function
	Roles     map[string]*Role
	Account   string
	// RolePropagation is how long a new role is refused by Lambda;
	// FunctionSettle how long a function is Pending or updating.
	RolePropagation, FunctionSettle time.Duration
	Read                            ReadObject
	// Clock is used for everything time-based: quotas, deployment and
	// stage dates, certificate validity in truststore warnings.
	Clock Clock
	// Quotas are enforced on every call; New sets AWSQuotas.
	Quotas   Quotas
	requests []Request
	throttle map[string]int // path substring to calls left to throttle
	// UpdatingPolls is how many GetDomainName calls see UPDATING after an
	// update before the domain is AVAILABLE again.
	UpdatingPolls int
	// OmitStatus leaves domainNameStatus out of every domain read, as
	// some emulators do.
	OmitStatus bool
	// DropMTLSOnCreate makes CreateDomainName ignore the mutual TLS
	// settings, as moto does: a client must read back what it created.
	DropMTLSOnCreate bool
	server           *httptest.Server

	noRules                         map[string]bool
	lastDomainWrite, lastDeployment time.Time
	tokens                          float64
	tokensAt                        time.Time
	deploymentSeq                   int
	seq, roleSeq                    int
	region                          string
}

// New starts a fake on a loopback port with AWS's quotas and the real
// clock; stop it with Close.
func New(read ReadObject) *Fake {
	f := &Fake{Domains: map[string]*Domain{}, APIs: map[string]*API{}, Certs: map[string]*Certificate{}, Read: read,
		Functions: map[string]*Function{}, Roles: map[string]*Role{}, Account: "111122223333", region: "us-east-1",
		RolePropagation: DefaultRolePropagation, FunctionSettle: DefaultFunctionSettle,
		Clock: realClock{}, Quotas: AWSQuotas, UpdatingPolls: 2, throttle: map[string]int{}, tokens: math.NaN()}
	f.server = httptest.NewServer(f)
	return f
}

// URL is the endpoint to give the SDK clients.
func (f *Fake) URL() string { return f.server.URL }

// Close stops the fake.
func (f *Fake) Close() { f.server.Close() }

// Throttle makes the next n mutating calls on paths containing sub fail
// with TooManyRequestsException and Retry-After: 1, whatever the quotas.
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

// AddAPI puts an API in place; its stages are created now (Clock) with no
// deployment unless StageDeployment names one.
func (f *Fake) AddAPI(a *API) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.Stages == nil {
		a.Stages = map[string]bool{}
	}
	if a.StageDeployment == nil {
		a.StageDeployment = map[string]string{}
	}
	a.stageCreated, a.stageUpdated = map[string]time.Time{}, map[string]time.Time{}
	now := f.Clock.Now()
	for name := range a.Stages {
		a.stageCreated[name], a.stageUpdated[name] = now, now
	}
	f.APIs[a.ID] = a
}

// Deploy puts a deployment of an API in place on a stage, created at
// created (in the past, say), as if deployed before the test began. It
// does not count against quotas and is not added to API.Deployments.
func (f *Fake) Deploy(apiID, stage, description string, created time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.APIs[apiID]
	if _, ok := a.Stages[stage]; !ok {
		panic(fmt.Sprintf("fakeapigw: API %s has no stage %q", apiID, stage))
	}
	f.newDeployment(a, stage, description, created)
	if c, ok := a.stageCreated[stage]; !ok || created.Before(c) {
		a.stageCreated[stage] = created
	}
	a.stageUpdated[stage] = created
}

func (f *Fake) newDeployment(a *API, stage, description string, created time.Time) Deployment {
	f.deploymentSeq++
	d := Deployment{ID: fmt.Sprintf("dep%04d", f.deploymentSeq), Stage: stage, Description: description, Created: created, Auth: snapshot(a), Authorizers: snapshotAuthorizers(a)}
	a.DeploymentLog = append(a.DeploymentLog, d)
	if stage != "" {
		a.StageDeployment[stage] = d.ID
	}
	return d
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

// Map maps a stage of an API, REST or HTTP, to a domain with no base path.
func (f *Fake) Map(domain, apiID, stage string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.Domains[domain]
	d.Mappings = append(d.Mappings, Mapping{APIID: apiID, Stage: stage})
}

// AddRoutingRule adds a routing rule to a domain.
func (f *Fake) AddRoutingRule(domain string, r RoutingRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.Domains[domain]
	d.RoutingRules = append(d.RoutingRules, r)
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
// beyond what the fake checks.
func (f *Fake) SetWarning(domain, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Domains[domain].ExtraWarning = text
}

type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter int // seconds; 0 for no Retry-After header
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(400, "BadRequestException", format, args...)
}

// call is one request as a handler sees it.
type call struct {
	ctx    context.Context
	m      []string // path match groups
	body   []byte
	query  url.Values
	caller string
	region string // from the SigV4 credential scope
}

type quotaKind int

const (
	quotaNone quotaKind = iota
	quotaDomainWrite
	quotaDeployment
)

type route struct {
	method string
	re     *regexp.Regexp
	quota  quotaKind
	fn     func(f *Fake, c *call) (int, any, *apiError)
}

var routes = []route{
	{"GET", regexp.MustCompile(`^/v2/domainnames/([^/]+)$`), quotaNone, (*Fake).v2GetDomain},
	{"PATCH", regexp.MustCompile(`^/v2/domainnames/([^/]+)$`), quotaDomainWrite, (*Fake).v2UpdateDomain},
	{"POST", regexp.MustCompile(`^/v2/domainnames$`), quotaDomainWrite, (*Fake).v2CreateDomain},
	{"GET", regexp.MustCompile(`^/v2/domainnames/([^/]+)/apimappings$`), quotaNone, (*Fake).v2GetMappings},
	{"POST", regexp.MustCompile(`^/v2/domainnames/([^/]+)/apimappings$`), quotaNone, (*Fake).v2CreateMapping},
	{"GET", regexp.MustCompile(`^/v2/domainnames/([^/]+)/routingrules$`), quotaNone, (*Fake).v2ListRoutingRules},
	{"GET", regexp.MustCompile(`^/v2/apis/([^/]+)$`), quotaNone, (*Fake).v2GetAPI},
	{"PATCH", regexp.MustCompile(`^/v2/apis/([^/]+)$`), quotaNone, (*Fake).v2UpdateAPI},
	{"GET", regexp.MustCompile(`^/v2/apis/([^/]+)/stages$`), quotaNone, (*Fake).v2GetStages},
	{"GET", regexp.MustCompile(`^/v2/apis/([^/]+)/deployments$`), quotaNone, (*Fake).v2GetDeployments},
	{"POST", regexp.MustCompile(`^/v2/apis/([^/]+)/deployments$`), quotaDeployment, (*Fake).v2Deploy},
	{"GET", regexp.MustCompile(`^/domainnames/([^/]+)$`), quotaNone, (*Fake).v1GetDomain},
	{"PATCH", regexp.MustCompile(`^/domainnames/([^/]+)$`), quotaDomainWrite, (*Fake).v1UpdateDomain},
	{"POST", regexp.MustCompile(`^/domainnames$`), quotaDomainWrite, (*Fake).v1CreateDomain},
	{"GET", regexp.MustCompile(`^/domainnames/([^/]+)/basepathmappings$`), quotaNone, (*Fake).v1GetMappings},
	{"POST", regexp.MustCompile(`^/domainnames/([^/]+)/basepathmappings$`), quotaNone, (*Fake).v1CreateMapping},
	{"GET", regexp.MustCompile(`^/restapis/([^/]+)$`), quotaNone, (*Fake).v1GetAPI},
	{"PATCH", regexp.MustCompile(`^/restapis/([^/]+)$`), quotaNone, (*Fake).v1UpdateAPI},
	{"GET", regexp.MustCompile(`^/restapis/([^/]+)/stages$`), quotaNone, (*Fake).v1GetStages},
	{"GET", regexp.MustCompile(`^/restapis/([^/]+)/deployments$`), quotaNone, (*Fake).v1GetDeployments},
	{"GET", regexp.MustCompile(`^/restapis/([^/]+)/deployments/([^/]+)$`), quotaNone, (*Fake).v1GetDeployment},
	{"POST", regexp.MustCompile(`^/restapis/([^/]+)/deployments$`), quotaDeployment, (*Fake).v1Deploy},
}

var (
	credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/`)
	scopeRE      = regexp.MustCompile(`Credential=[^/,\s]+/\d+/([a-z0-9-]+)/`)
)

// regionOf reads the Region from the SigV4 credential scope.
func regionOf(r *http.Request) string {
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1]
	}
	return "us-east-1"
}

func unescapePath(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// callerOf returns the access key ID that signed a request (SigV4:
// "Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...").
func callerOf(r *http.Request) string {
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1]
	}
	return ""
}

// ServeHTTP dispatches one call.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Lambda takes deployment packages of up to 70,167,211 bytes inline
	// (base64 in JSON): "Lambda quotas".
	body, _ := io.ReadAll(io.LimitReader(r.Body, 96<<20))
	c := &call{ctx: r.Context(), body: body, query: r.URL.Query(), caller: callerOf(r), region: regionOf(r)}
	var form url.Values
	isIAM := r.Method == http.MethodPost && r.URL.Path == "/" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Caller: c.caller}
	if isIAM {
		form, _ = url.ParseQuery(string(body))
		rec.Action = form.Get("Action")
	}
	f.mu.Lock()
	f.region = c.region
	f.requests = append(f.requests, rec)
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
	if isIAM {
		f.iam(w, form)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/2015-03-31/") {
		f.lambda(w, r, c)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		f.acm(w, target, body)
		return
	}
	if throttled {
		writeError(w, tooMany(time.Second))
		return
	}
	for _, rt := range routes {
		if rt.method != r.Method {
			continue
		}
		if c.m = rt.re.FindStringSubmatch(r.URL.Path); c.m != nil {
			f.mu.Lock()
			if err := f.admit(rt.quota); err != nil {
				f.mu.Unlock()
				writeError(w, err)
				return
			}
			status, out, err := rt.fn(f, c)
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

// admit applies the quotas to one call: the account's token bucket first,
// then the operation's own window. A call refused by its window has used a
// token; a call admitted restarts its window.
func (f *Fake) admit(kind quotaKind) *apiError {
	q, now := f.Quotas, f.Clock.Now()
	if q.Rate > 0 && q.Burst > 0 {
		if math.IsNaN(f.tokens) || f.tokensAt.IsZero() {
			f.tokens, f.tokensAt = float64(q.Burst), now
		}
		if elapsed := now.Sub(f.tokensAt).Seconds(); elapsed > 0 {
			f.tokens = math.Min(float64(q.Burst), f.tokens+elapsed*q.Rate)
			f.tokensAt = now
		}
		if f.tokens < 1 {
			return tooMany(time.Duration((1 - f.tokens) / q.Rate * float64(time.Second)))
		}
		f.tokens--
	}
	window, last := time.Duration(0), (*time.Time)(nil)
	switch kind {
	case quotaDomainWrite:
		window, last = q.DomainWrite, &f.lastDomainWrite
	case quotaDeployment:
		window, last = q.Deployment, &f.lastDeployment
	}
	if window <= 0 {
		return nil
	}
	if !last.IsZero() {
		if wait := last.Add(window).Sub(now); wait > 0 {
			return tooMany(wait)
		}
	}
	*last = now
	return nil
}

// tooMany is AWS's throttling answer, with Retry-After in whole seconds
// (rounded up, at least 1); the SDK exposes it as
// TooManyRequestsException.RetryAfterSeconds.
func tooMany(wait time.Duration) *apiError {
	e := errorf(429, "TooManyRequestsException", "Too Many Requests")
	e.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return e
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.retryAfter))
	}
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

// Conflict wordings. AWS: aws/chalice#1986 ("ConflictException ...
// UpdateDomainName operation: There is already an update in progress") for
// a domain still UPDATING; hashicorp/terraform-provider-aws#776 and #18018
// ("ConflictException: Unable to complete operation due to concurrent
// modification. Please try again later.") for a write racing another.
const (
	msgUpdateInProgress = "There is already an update in progress"
	msgConcurrent       = "Unable to complete operation due to concurrent modification. Please try again later."
)

func (f *Fake) startUpdate(d *Domain) *apiError {
	if d.conflicts > 0 {
		d.conflicts--
		return errorf(409, "ConflictException", msgConcurrent)
	}
	if d.Status == "UPDATING" {
		return errorf(409, "ConflictException", msgUpdateInProgress)
	}
	return nil
}

func (f *Fake) finishUpdate(d *Domain) {
	if d.Status == "PENDING_OWNERSHIP_VERIFICATION" {
		return
	}
	d.Status, d.pollsLeft, d.StatusMessage = "UPDATING", f.UpdatingPolls, ""
}

// DisableRoutingRules makes ListRoutingRules of a domain answer 404, as an
// endpoint without it does (moto, LocalStack, a Region or role without
// routing rules).
func (f *Fake) DisableRoutingRules(domain string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noRules == nil {
		f.noRules = map[string]bool{}
	}
	f.noRules[domain] = true
}

// SetRoutingMode sets a domain's routing mode (one of the routing mode
// constants).
func (f *Fake) SetRoutingMode(domain, mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Domains[domain].RoutingMode = mode
}
