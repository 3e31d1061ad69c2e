package fakeapigw

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Authorizers, HTTP API routes and REST API methods. Rules, with their
// source (AWS: the API references of apigateway and apigatewayv2 unless
// said otherwise):
//
//   - A Lambda authorizer's URI must be a Lambda invocation ARN,
//     arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations
//     ("authorizerUri"); the fake also wants the function to exist in its
//     Lambda (AWS only fails at invocation: stricter).
//   - HTTP API REQUEST authorizers need authorizerPayloadFormatVersion 1.0
//     or 2.0; enableSimpleResponses only with 2.0; JWT authorizers take
//     neither ("Working with AWS Lambda authorizers for HTTP APIs").
//   - An identity source is required when results are cached (TTL > 0) and
//     optional otherwise; HTTP API sources are $request.header.*,
//     $request.querystring.*, $context.*, $stageVariables.*; REST sources
//     method.request.header.*, method.request.querystring.*, context.*,
//     stageVariables.* ("Identity sources"). TTL 0–3600.
//   - Attaching needs an existing route or method and, for CUSTOM, an
//     authorizer of that API. An update that sets authorizationType NONE
//     without an explicit empty authorizerId keeps the authorizer ID on
//     the route (moto does; AWS documents neither, so the stricter
//     reading): only authorizerId "" (v2) or "replace /authorizerId" with
//     an empty value (v1) clears it, as Terraform always sends.
//   - An authorizer still referenced by a route or method, whatever its
//     authorization type, cannot be deleted: 409 ConflictException
//     "Cannot delete authorizer 'NAME', is referenced in method: GET//pets"
//     (REST) or "... in route: GET /pets" (HTTP) (AWS: the wording seen in
//     hashicorp/terraform#6731, terraform-provider-aws#14812, sst#5586).
//   - REST UpdateAuthorizer refuses "replace /identitySource" with an empty
//     value: the API takes no empty identity source
//     (terraform-provider-aws#12069); to stop caching, set the TTL to 0.
//   - A REST change takes effect only with a deployment; an HTTP API stage
//     with autoDeploy gets a new deployment on every change. Each
//     deployment records the authorization of every route or method
//     (Deployment.Auth) and a copy of every authorizer
//     (Deployment.Authorizers), so tests can see what a stage actually
//     serves: an authorizer changed after a deployment is not served until
//     the next ("Updates to REST APIs that require redeployment").
type Authorizer struct {
	ID, Name, Type, URI, PayloadVersion string
	SimpleResponses                     bool
	IdentitySource                      []string
	TTL                                 int
}

// Route is an HTTP API route, or a method of a REST API resource (Key
// "GET /pets").
type Route struct {
	ID, Key, AuthorizationType, AuthorizerID string
	// ResourceID is the REST resource holding the method.
	ResourceID string
}

var lambdaURIRE = regexp.MustCompile(`^arn:aws[a-z-]*:apigateway:([a-z0-9-]+):lambda:path/2015-03-31/functions/(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]{1,64})(:[A-Za-z0-9_$-]+)?)/invocations$`)

func init() {
	routes = append(routes,
		route{"GET", regexp.MustCompile(`^/v2/apis/([^/]+)/routes$`), quotaNone, (*Fake).v2GetRoutes},
		route{"PATCH", regexp.MustCompile(`^/v2/apis/([^/]+)/routes/([^/]+)$`), quotaNone, (*Fake).v2UpdateRoute},
		route{"GET", regexp.MustCompile(`^/v2/apis/([^/]+)/authorizers$`), quotaNone, (*Fake).v2GetAuthorizers},
		route{"POST", regexp.MustCompile(`^/v2/apis/([^/]+)/authorizers$`), quotaNone, (*Fake).v2CreateAuthorizer},
		route{"PATCH", regexp.MustCompile(`^/v2/apis/([^/]+)/authorizers/([^/]+)$`), quotaNone, (*Fake).v2UpdateAuthorizer},
		route{"DELETE", regexp.MustCompile(`^/v2/apis/([^/]+)/authorizers/([^/]+)$`), quotaNone, (*Fake).v2DeleteAuthorizer},
		route{"GET", regexp.MustCompile(`^/restapis/([^/]+)/resources$`), quotaNone, (*Fake).v1GetResources},
		route{"PATCH", regexp.MustCompile(`^/restapis/([^/]+)/resources/([^/]+)/methods/([^/]+)$`), quotaNone, (*Fake).v1UpdateMethod},
		route{"GET", regexp.MustCompile(`^/restapis/([^/]+)/authorizers$`), quotaNone, (*Fake).v1GetAuthorizers},
		route{"POST", regexp.MustCompile(`^/restapis/([^/]+)/authorizers$`), quotaNone, (*Fake).v1CreateAuthorizer},
		route{"PATCH", regexp.MustCompile(`^/restapis/([^/]+)/authorizers/([^/]+)$`), quotaNone, (*Fake).v1UpdateAuthorizer},
		route{"DELETE", regexp.MustCompile(`^/restapis/([^/]+)/authorizers/([^/]+)$`), quotaNone, (*Fake).v1DeleteAuthorizer},
	)
}

// AddRoutes gives an API routes (HTTP: "GET /pets", "$default") or
// methods (REST: "GET /pets"), all without authorization.
func (f *Fake) AddRoutes(apiID string, keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.APIs[apiID]
	for _, k := range keys {
		f.seq++
		r := &Route{ID: fmt.Sprintf("r%04d", f.seq), Key: k, AuthorizationType: "NONE"}
		if a.REST {
			_, path, _ := strings.Cut(k, " ")
			r.ResourceID = f.resourceID(a, path)
		}
		a.Routes = append(a.Routes, r)
	}
	f.autoDeploy(a)
}

// resourceID names a REST resource by its path, the same for every method.
func (f *Fake) resourceID(a *API, path string) string {
	for _, r := range a.Routes {
		if _, p, _ := strings.Cut(r.Key, " "); p == path {
			return r.ResourceID
		}
	}
	f.seq++
	return fmt.Sprintf("res%04d", f.seq)
}

// Authorization is how a route or method is protected: "NONE", or
// "CUSTOM:" and the authorizer ID.
func authorization(r *Route) string {
	if r.AuthorizationType == "NONE" || r.AuthorizationType == "" {
		return "NONE"
	}
	return r.AuthorizationType + ":" + r.AuthorizerID
}

func snapshot(a *API) map[string]string {
	out := map[string]string{}
	for _, r := range a.Routes {
		out[r.Key] = authorization(r)
	}
	return out
}

// autoDeploy gives every auto-deploy stage of an HTTP API a new deployment
// after a change, as API Gateway does.
func (f *Fake) autoDeploy(a *API) {
	if a.REST {
		return
	}
	for _, name := range stageNames(a) {
		if a.Stages[name] {
			f.newDeployment(a, name, "Automatic deployment triggered by changes to the Api configuration", f.Clock.Now())
		}
	}
}

func snapshotAuthorizers(a *API) map[string]Authorizer {
	out := map[string]Authorizer{}
	for _, z := range a.Authorizers {
		c := *z
		c.IdentitySource = append([]string(nil), z.IdentitySource...)
		out[z.ID] = c
	}
	return out
}

// StageAuthorizer is authorizer id as the stage's live deployment serves
// it; false when the deployment has no such authorizer.
func (f *Fake) StageAuthorizer(apiID, stage, id string) (Authorizer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.APIs[apiID]
	dep := a.StageDeployment[stage]
	for _, d := range a.DeploymentLog {
		if d.ID == dep {
			z, ok := d.Authorizers[id]
			return z, ok
		}
	}
	return Authorizer{}, false
}

// RouteAuthorizerIDs is the authorizer ID every route or method holds
// now, whatever its authorization type ("" for none).
func (f *Fake) RouteAuthorizerIDs(apiID string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, r := range f.APIs[apiID].Routes {
		out[r.Key] = r.AuthorizerID
	}
	return out
}

// StageAuth is the authorization of every route or method as the stage's
// live deployment serves it; nil when the stage has no deployment.
func (f *Fake) StageAuth(apiID, stage string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.APIs[apiID]
	id := a.StageDeployment[stage]
	for _, d := range a.DeploymentLog {
		if d.ID == id {
			return d.Auth
		}
	}
	return nil
}

// Authorizers returns an API's authorizers.
func (f *Fake) Authorizers(apiID string) []Authorizer {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Authorizer
	for _, z := range f.APIs[apiID].Authorizers {
		out = append(out, *z)
	}
	return out
}

// RouteAuth is the authorization of every route or method now (undeployed
// for REST).
func (f *Fake) RouteAuth(apiID string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return snapshot(f.APIs[apiID])
}

func (f *Fake) findRoute(a *API, id string) *Route {
	for _, r := range a.Routes {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (f *Fake) findAuthorizer(a *API, id string) *Authorizer {
	for _, z := range a.Authorizers {
		if z.ID == id {
			return z
		}
	}
	return nil
}

// checkLambdaURI refuses what is not a Lambda invocation ARN, or names a
// function the fake's Lambda does not have.
func (f *Fake) checkLambdaURI(uri string) *apiError {
	m := lambdaURIRE.FindStringSubmatch(uri)
	if m == nil {
		return badRequest("Invalid Authorizer URI: %s. Authorizer URI should be a valid API Gateway ARN that represents a Lambda function invocation.", uri)
	}
	if fn := f.Functions[m[3]]; fn == nil || fn.Arn != m[2] {
		return badRequest("Invalid Authorizer URI: %s. The function %s does not exist.", uri, m[2])
	}
	return nil
}

var (
	v2SourceRE = regexp.MustCompile(`^\$(request\.header|request\.querystring|context|stageVariables)\.[A-Za-z0-9._-]+$`)
	v1SourceRE = regexp.MustCompile(`^(method\.request\.header|method\.request\.querystring|context|stageVariables)\.[A-Za-z0-9._-]+$`)
)

func checkCache(ttl int, sources []string, re *regexp.Regexp) *apiError {
	if ttl < 0 || ttl > 3600 {
		return badRequest("Invalid authorizer result TTL %d: must be between 0 and 3600", ttl)
	}
	if ttl > 0 && len(sources) == 0 {
		return badRequest("Identity source is required when caching is enabled (authorizerResultTtlInSeconds > 0)")
	}
	for _, s := range sources {
		if !re.MatchString(s) {
			return badRequest("Invalid identity source %q", s)
		}
	}
	return nil
}

// v2 (HTTP APIs)

type v2AuthorizerJSON struct {
	AuthorizerID                   string   `json:"authorizerId,omitempty"`
	Name                           string   `json:"name"`
	AuthorizerType                 string   `json:"authorizerType"`
	AuthorizerURI                  string   `json:"authorizerUri,omitempty"`
	AuthorizerPayloadFormatVersion string   `json:"authorizerPayloadFormatVersion,omitempty"`
	EnableSimpleResponses          bool     `json:"enableSimpleResponses,omitempty"`
	IdentitySource                 []string `json:"identitySource,omitempty"`
	AuthorizerResultTTLInSeconds   *int     `json:"authorizerResultTtlInSeconds,omitempty"`
}

func v2AuthorizerOut(z *Authorizer) v2AuthorizerJSON {
	ttl := z.TTL
	return v2AuthorizerJSON{z.ID, z.Name, z.Type, z.URI, z.PayloadVersion, z.SimpleResponses, z.IdentitySource, &ttl}
}

func (f *Fake) checkV2Authorizer(z *Authorizer) *apiError {
	if z.Name == "" {
		return badRequest("Authorizer name is required")
	}
	switch z.Type {
	case "REQUEST":
		if err := f.checkLambdaURI(z.URI); err != nil {
			return err
		}
		if z.PayloadVersion != "1.0" && z.PayloadVersion != "2.0" {
			return badRequest("AuthorizerPayloadFormatVersion must be 1.0 or 2.0 for a REQUEST authorizer, got %q", z.PayloadVersion)
		}
		if z.SimpleResponses && z.PayloadVersion != "2.0" {
			return badRequest("EnableSimpleResponses is only supported with authorizerPayloadFormatVersion 2.0")
		}
	case "JWT":
		if z.PayloadVersion != "" || z.SimpleResponses || z.URI != "" {
			return badRequest("A JWT authorizer takes no authorizerUri, authorizerPayloadFormatVersion or enableSimpleResponses")
		}
	default:
		return badRequest("Invalid authorizer type %q: must be REQUEST or JWT", z.Type)
	}
	return checkCache(z.TTL, z.IdentitySource, v2SourceRE)
}

func (f *Fake) v2CreateAuthorizer(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	var in v2AuthorizerJSON
	var present map[string]json.RawMessage
	if json.Unmarshal(c.body, &in) != nil || json.Unmarshal(c.body, &present) != nil {
		return 0, nil, badRequest("Invalid request body")
	}
	// The API model makes identitySource required; an empty list is how
	// a REQUEST authorizer without caching says it has none.
	if _, ok := present["identitySource"]; !ok {
		return 0, nil, badRequest("IdentitySource is required")
	}
	z := &Authorizer{Name: in.Name, Type: in.AuthorizerType, URI: in.AuthorizerURI, PayloadVersion: in.AuthorizerPayloadFormatVersion,
		SimpleResponses: in.EnableSimpleResponses, IdentitySource: in.IdentitySource, TTL: 300}
	// Absent, the TTL is the console's 300 s (stricter: a client wanting
	// no caching must say 0).
	if in.AuthorizerResultTTLInSeconds != nil {
		z.TTL = *in.AuthorizerResultTTLInSeconds
	}
	if err := f.checkV2Authorizer(z); err != nil {
		return 0, nil, err
	}
	f.seq++
	z.ID = fmt.Sprintf("au%04d", f.seq)
	a.Authorizers = append(a.Authorizers, z)
	return 201, v2AuthorizerOut(z), nil
}

func (f *Fake) v2UpdateAuthorizer(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	z := f.findAuthorizer(a, c.m[2])
	if z == nil {
		return 0, nil, errorf(404, "NotFoundException", "Invalid authorizer identifier specified")
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(c.body, &in) != nil {
		return 0, nil, badRequest("Invalid request body")
	}
	next := *z
	for k, v := range in {
		var e error
		switch k {
		case "name":
			e = json.Unmarshal(v, &next.Name)
		case "authorizerType":
			e = json.Unmarshal(v, &next.Type)
		case "authorizerUri":
			e = json.Unmarshal(v, &next.URI)
		case "authorizerPayloadFormatVersion":
			e = json.Unmarshal(v, &next.PayloadVersion)
		case "enableSimpleResponses":
			e = json.Unmarshal(v, &next.SimpleResponses)
		case "identitySource":
			e = json.Unmarshal(v, &next.IdentitySource)
		case "authorizerResultTtlInSeconds":
			e = json.Unmarshal(v, &next.TTL)
		default:
			return 0, nil, badRequest("Unsupported field %s", k)
		}
		if e != nil {
			return 0, nil, badRequest("Invalid %s", k)
		}
	}
	if err := f.checkV2Authorizer(&next); err != nil {
		return 0, nil, err
	}
	*z = next
	f.autoDeploy(a)
	return 200, v2AuthorizerOut(z), nil
}

func (f *Fake) v2GetAuthorizers(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	lo, hi, next, err := pageV2(c, "auth/"+a.ID, len(a.Authorizers))
	if err != nil {
		return 0, nil, err
	}
	items := []v2AuthorizerJSON{}
	for _, z := range a.Authorizers[lo:hi] {
		items = append(items, v2AuthorizerOut(z))
	}
	return 200, pageOut("items", items, "nextToken", next), nil
}

func (f *Fake) deleteAuthorizer(a *API, id, what string) *apiError {
	z := f.findAuthorizer(a, id)
	if z == nil {
		return errorf(404, "NotFoundException", "Invalid authorizer identifier specified")
	}
	for _, r := range a.Routes {
		if r.AuthorizerID == id {
			ref := r.Key
			if what == "method" {
				verb, path, _ := strings.Cut(r.Key, " ")
				ref = verb + "/" + path
			}
			return errorf(409, "ConflictException", "Cannot delete authorizer '%s', is referenced in %s: %s", z.Name, what, ref)
		}
	}
	for i, x := range a.Authorizers {
		if x == z {
			a.Authorizers = append(a.Authorizers[:i], a.Authorizers[i+1:]...)
			break
		}
	}
	return nil
}

func (f *Fake) v2DeleteAuthorizer(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	if err := f.deleteAuthorizer(a, c.m[2], "route"); err != nil {
		return 0, nil, err
	}
	f.autoDeploy(a)
	return 204, nil, nil
}

func v2RouteOut(r *Route) map[string]any {
	out := map[string]any{"routeId": r.ID, "routeKey": r.Key, "authorizationType": r.AuthorizationType, "apiKeyRequired": false}
	if r.AuthorizerID != "" {
		out["authorizerId"] = r.AuthorizerID
	}
	return out
}

func (f *Fake) v2GetRoutes(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	lo, hi, next, err := pageV2(c, "route/"+a.ID, len(a.Routes))
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for _, r := range a.Routes[lo:hi] {
		items = append(items, v2RouteOut(r))
	}
	return 200, pageOut("items", items, "nextToken", next), nil
}

// setAuth changes a route's or method's authorization; authID is what the
// route holds after the update (kept when the request did not name it).
func (f *Fake) setAuth(a *API, r *Route, typ, authID string) *apiError {
	switch typ {
	case "NONE":
		r.AuthorizationType, r.AuthorizerID = "NONE", authID
		return nil
	case "CUSTOM":
		z := f.findAuthorizer(a, authID)
		if z == nil || (z.Type != "REQUEST" && z.Type != "TOKEN") {
			return badRequest("Invalid authorizer ID specified. Setting the authorization type to CUSTOM requires a valid authorizer.")
		}
		r.AuthorizationType, r.AuthorizerID = typ, authID
		return nil
	}
	return badRequest("Invalid authorization type %q", typ)
}

func (f *Fake) v2UpdateRoute(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	r := f.findRoute(a, c.m[2])
	if r == nil {
		return 0, nil, errorf(404, "NotFoundException", "Invalid route identifier specified %s", c.m[2])
	}
	var in struct {
		AuthorizationType *string `json:"authorizationType"`
		AuthorizerID      *string `json:"authorizerId"`
	}
	if json.Unmarshal(c.body, &in) != nil {
		return 0, nil, badRequest("Invalid request body")
	}
	typ, id := r.AuthorizationType, r.AuthorizerID
	if in.AuthorizationType != nil {
		typ = *in.AuthorizationType
	}
	if in.AuthorizerID != nil {
		id = *in.AuthorizerID
	}
	if err := f.setAuth(a, r, typ, id); err != nil {
		return 0, nil, err
	}
	f.autoDeploy(a)
	return 200, v2RouteOut(r), nil
}

// v1 (REST APIs)

func v1AuthorizerOut(z *Authorizer) map[string]any {
	out := map[string]any{"id": z.ID, "name": z.Name, "type": z.Type, "authorizerUri": z.URI, "authorizerResultTtlInSeconds": z.TTL}
	if len(z.IdentitySource) > 0 {
		out["identitySource"] = strings.Join(z.IdentitySource, ", ")
	}
	return out
}

func splitSources(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (f *Fake) checkV1Authorizer(z *Authorizer) *apiError {
	if z.Name == "" {
		return badRequest("Authorizer name is required")
	}
	switch z.Type {
	case "REQUEST", "TOKEN":
		if err := f.checkLambdaURI(z.URI); err != nil {
			return err
		}
		if z.Type == "TOKEN" && len(z.IdentitySource) == 0 {
			return badRequest("Identity source is required for a TOKEN authorizer")
		}
	default:
		return badRequest("Invalid authorizer type %q", z.Type)
	}
	return checkCache(z.TTL, z.IdentitySource, v1SourceRE)
}

func (f *Fake) v1CreateAuthorizer(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		Name           string `json:"name"`
		Type           string `json:"type"`
		AuthorizerURI  string `json:"authorizerUri"`
		IdentitySource string `json:"identitySource"`
		TTL            *int   `json:"authorizerResultTtlInSeconds"`
		// Fields REST authorizers do not have: refused if sent.
		PayloadVersion *string `json:"authorizerPayloadFormatVersion"`
	}
	if json.Unmarshal(c.body, &in) != nil {
		return 0, nil, badRequest("Invalid request body")
	}
	if in.PayloadVersion != nil {
		return 0, nil, badRequest("REST API authorizers have no payload format version")
	}
	z := &Authorizer{Name: in.Name, Type: in.Type, URI: in.AuthorizerURI, IdentitySource: splitSources(in.IdentitySource), TTL: 300}
	if in.TTL != nil {
		z.TTL = *in.TTL
	}
	if err := f.checkV1Authorizer(z); err != nil {
		return 0, nil, err
	}
	f.seq++
	z.ID = fmt.Sprintf("au%04d", f.seq)
	a.Authorizers = append(a.Authorizers, z)
	return 201, v1AuthorizerOut(z), nil
}

func (f *Fake) v1UpdateAuthorizer(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	z := f.findAuthorizer(a, c.m[2])
	if z == nil {
		return 0, nil, errorf(404, "NotFoundException", "Invalid authorizer identifier specified")
	}
	var in struct {
		PatchOperations []patchOp `json:"patchOperations"`
	}
	if json.Unmarshal(c.body, &in) != nil {
		return 0, nil, badRequest("Invalid patch operations")
	}
	next := *z
	for _, op := range in.PatchOperations {
		if op.Op != "replace" {
			return 0, nil, badRequest("Invalid patch operation specified. Must be 'replace'")
		}
		v := op.value()
		switch op.Path {
		case "/name":
			next.Name = v
		case "/authorizerUri":
			next.URI = v
		case "/identitySource":
			if v == "" {
				return 0, nil, badRequest("Invalid identity source: an identity source cannot be empty")
			}
			next.IdentitySource = splitSources(v)
		case "/authorizerResultTtlInSeconds":
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, nil, badRequest("Invalid TTL %q", v)
			}
			next.TTL = n
		default:
			return 0, nil, badRequest("Invalid patch path %s", op.Path)
		}
	}
	if err := f.checkV1Authorizer(&next); err != nil {
		return 0, nil, err
	}
	*z = next
	return 200, v1AuthorizerOut(z), nil
}

func (f *Fake) v1GetAuthorizers(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	lo, hi, pos, err := pageV1(c, "auth/"+a.ID, len(a.Authorizers))
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for _, z := range a.Authorizers[lo:hi] {
		items = append(items, v1AuthorizerOut(z))
	}
	return 200, pageOut("item", items, "position", pos), nil
}

func (f *Fake) v1DeleteAuthorizer(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	if err := f.deleteAuthorizer(a, c.m[2], "method"); err != nil {
		return 0, nil, err
	}
	return 202, nil, nil
}

// GetResources (apigateway) pages resources; their methods' settings are
// listed only with embed=methods (without it, only the method names).
func (f *Fake) v1GetResources(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	type resource struct {
		id, path string
		methods  []*Route
	}
	byID := map[string]*resource{}
	var order []*resource
	for _, r := range a.Routes {
		res := byID[r.ResourceID]
		if res == nil {
			_, path, _ := strings.Cut(r.Key, " ")
			res = &resource{id: r.ResourceID, path: path}
			byID[r.ResourceID] = res
			order = append(order, res)
		}
		res.methods = append(res.methods, r)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].path < order[j].path })
	lo, hi, pos, err := pageV1(c, "res/"+a.ID, len(order))
	if err != nil {
		return 0, nil, err
	}
	embed := false
	for _, e := range c.query["embed"] {
		embed = embed || e == "methods"
	}
	items := []map[string]any{}
	for _, res := range order[lo:hi] {
		methods := map[string]any{}
		for _, m := range res.methods {
			verb, _, _ := strings.Cut(m.Key, " ")
			if !embed {
				methods[verb] = map[string]any{}
				continue
			}
			mo := map[string]any{"httpMethod": verb, "authorizationType": m.AuthorizationType, "apiKeyRequired": false}
			if m.AuthorizerID != "" {
				mo["authorizerId"] = m.AuthorizerID
			}
			methods[verb] = mo
		}
		items = append(items, map[string]any{"id": res.id, "path": res.path, "resourceMethods": methods})
	}
	return 200, pageOut("item", items, "position", pos), nil
}

func (f *Fake) v1UpdateMethod(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	var r *Route
	for _, x := range a.Routes {
		if verb, _, _ := strings.Cut(x.Key, " "); x.ResourceID == c.m[2] && verb == c.m[3] {
			r = x
		}
	}
	if r == nil {
		return 0, nil, errorf(404, "NotFoundException", "Invalid Method identifier specified")
	}
	var in struct {
		PatchOperations []patchOp `json:"patchOperations"`
	}
	if json.Unmarshal(c.body, &in) != nil || len(in.PatchOperations) == 0 {
		return 0, nil, badRequest("Invalid patch operations")
	}
	typ, id := r.AuthorizationType, r.AuthorizerID
	for _, op := range in.PatchOperations {
		if op.Op != "replace" {
			return 0, nil, badRequest("Invalid patch operation specified. Must be 'replace'")
		}
		switch op.Path {
		case "/authorizationType":
			typ = op.value()
		case "/authorizerId":
			id = op.value()
		default:
			return 0, nil, badRequest("Invalid patch path %s", op.Path)
		}
	}
	if err := f.setAuth(a, r, typ, id); err != nil {
		return 0, nil, err
	}
	verb, _, _ := strings.Cut(r.Key, " ")
	out := map[string]any{"httpMethod": verb, "authorizationType": r.AuthorizationType}
	if r.AuthorizerID != "" {
		out["authorizerId"] = r.AuthorizerID
	}
	return 200, out, nil
}
