package fakeapigw

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
)

type v1DomainOut struct {
	DomainName                          string      `json:"domainName"`
	RegionalCertificateArn              string      `json:"regionalCertificateArn,omitempty"`
	CertificateArn                      string      `json:"certificateArn,omitempty"`
	EndpointConfiguration               endpointCfg `json:"endpointConfiguration"`
	SecurityPolicy                      string      `json:"securityPolicy,omitempty"`
	DomainNameStatus                    string      `json:"domainNameStatus"`
	DomainNameStatusMessage             string      `json:"domainNameStatusMessage,omitempty"`
	OwnershipVerificationCertificateArn string      `json:"ownershipVerificationCertificateArn,omitempty"`
	MutualTLSAuthentication             *mtls       `json:"mutualTlsAuthentication,omitempty"`
	RoutingMode                         string      `json:"routingMode"`
	// Tags: apigateway's GetDomainName "tags", a map, absent when none.
	Tags map[string]string `json:"tags,omitempty"`
}

type endpointCfg struct {
	Types []string `json:"types"`
}

// v1RoutingMode spells a routing mode as apigateway does. AWS: "Set the
// routing mode for your custom domain name": with apigateway,
// API_MAPPING_ONLY is BASE_PATH_MAPPING_ONLY and ROUTING_RULE_THEN_API_MAPPING
// is ROUTING_RULE_THEN_BASE_PATH_MAPPING (SDK enum apigateway RoutingMode).
func v1RoutingMode(mode string) string {
	switch mode {
	case RoutingRuleOnly:
		return RoutingRuleOnly
	case RoutingRuleThenAPIMapping:
		return "ROUTING_RULE_THEN_BASE_PATH_MAPPING"
	}
	return "BASE_PATH_MAPPING_ONLY"
}

func routingModeOf(d *Domain) string {
	if d.RoutingMode == "" {
		return APIMappingOnly
	}
	return d.RoutingMode
}

func v1View(d *Domain) v1DomainOut {
	out := v1DomainOut{DomainName: d.Name, EndpointConfiguration: endpointCfg{[]string{d.EndpointType}}, SecurityPolicy: d.SecurityPolicy,
		DomainNameStatus: d.Status, DomainNameStatusMessage: d.StatusMessage, OwnershipVerificationCertificateArn: d.OwnershipCertArn,
		RoutingMode: v1RoutingMode(d.RoutingMode), Tags: d.Tags}
	if d.EndpointType == "EDGE" {
		out.CertificateArn = d.CertificateArn
	} else {
		out.RegionalCertificateArn = d.CertificateArn
	}
	if d.TruststoreURI != "" {
		out.MutualTLSAuthentication = &mtls{d.TruststoreURI, d.TruststoreVersion, d.Warnings}
	}
	return out
}

func (f *Fake) v1GetDomain(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	if f.OmitStatus {
		c := *d
		c.Status = ""
		return 200, v1View(&c), nil
	}
	return 200, v1View(d), nil
}

type patchOp struct {
	Op    string  `json:"op"`
	Path  string  `json:"path"`
	Value *string `json:"value"`
}

func (p patchOp) value() string {
	if p.Value == nil {
		return ""
	}
	return *p.Value
}

func (f *Fake) v1UpdateDomain(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		PatchOperations []patchOp `json:"patchOperations"`
	}
	if json.Unmarshal(c.body, &in) != nil || len(in.PatchOperations) == 0 {
		return 0, nil, badRequest("Invalid patch operations")
	}
	if err := f.startUpdate(d); err != nil {
		return 0, nil, err
	}
	next := *d
	var ch mtlsChange
	for _, op := range in.PatchOperations {
		if op.Op != "replace" {
			return 0, nil, badRequest("Invalid patch operation specified. Must be 'replace'")
		}
		v := op.value()
		switch op.Path {
		case "/mutualTlsAuthentication/truststoreUri":
			ch.uri = &v
		case "/mutualTlsAuthentication/truststoreVersion":
			ch.version = &v
		case "/ownershipVerificationCertificateArn":
			next.OwnershipCertArn = v
		case "/securityPolicy":
			next.SecurityPolicy = v
		case "/regionalCertificateArn":
			next.CertificateArn = v
		default:
			return 0, nil, badRequest("Invalid patch path %s", op.Path)
		}
	}
	if err := f.commit(c, d, &next, ch); err != nil {
		return 0, nil, err
	}
	return 200, v1View(d), nil
}

// commit applies an update's mTLS change and ownership rules to next and,
// when they allow it, makes next the domain's state.
func (f *Fake) commit(c *call, d, next *Domain, ch mtlsChange) *apiError {
	if err := f.applyMTLS(c.ctx, next, ch, c.caller); err != nil {
		return err
	}
	wasPending := d.Status == "PENDING_OWNERSHIP_VERIFICATION"
	if err := f.checkOwnership(next); err != nil {
		return err
	}
	if wasPending && next.Status == "PENDING_OWNERSHIP_VERIFICATION" {
		return badRequest("Domain name %s is PENDING_OWNERSHIP_VERIFICATION: update it with a valid ownershipVerificationCertificateArn first. %s", d.Name, next.StatusMessage)
	}
	*d = *next
	f.finishUpdate(d)
	return nil
}

// msgDomainExists: AWS: CreateDomainName on a name that exists answers
// BadRequestException "The domain name you provided already exists."
// (zappa's documentation, "Common Errors"; boto3 callers catch
// apigw.exceptions.BadRequestException for it; aws/serverless-application-model#2208
// shows the same text from AmazonApiGatewayV2 with status 400).
const msgDomainExists = "The domain name you provided already exists."

func (f *Fake) v1CreateDomain(c *call) (int, any, *apiError) {
	var in struct {
		DomainName                          string            `json:"domainName"`
		RegionalCertificateArn              string            `json:"regionalCertificateArn"`
		EndpointConfiguration               endpointCfg       `json:"endpointConfiguration"`
		SecurityPolicy                      string            `json:"securityPolicy"`
		OwnershipVerificationCertificateArn string            `json:"ownershipVerificationCertificateArn"`
		MutualTLSAuthentication             *mtlsIn           `json:"mutualTlsAuthentication"`
		RoutingMode                         string            `json:"routingMode"`
		Tags                                map[string]string `json:"tags"`
	}
	if json.Unmarshal(c.body, &in) != nil || in.DomainName == "" || len(in.EndpointConfiguration.Types) != 1 {
		return 0, nil, badRequest("Invalid domain name request")
	}
	tags, terr := requestTags(in.Tags)
	if terr != nil {
		return 0, nil, terr
	}
	if f.Domains[in.DomainName] != nil {
		return 0, nil, badRequest(msgDomainExists)
	}
	mode := strings.ReplaceAll(in.RoutingMode, "BASE_PATH_MAPPING", "API_MAPPING")
	d := &Domain{Name: in.DomainName, REST: true, EndpointType: in.EndpointConfiguration.Types[0], SecurityPolicy: in.SecurityPolicy,
		CertificateArn: in.RegionalCertificateArn, OwnershipCertArn: in.OwnershipVerificationCertificateArn, RoutingMode: mode, Tags: tags}
	if err := f.create(c, d, in.MutualTLSAuthentication); err != nil {
		return 0, nil, err
	}
	return 201, v1View(d), nil
}

// create applies a create's mTLS settings and ownership rules, then adds
// the domain.
func (f *Fake) create(c *call, d *Domain, m *mtlsIn) *apiError {
	if m != nil && !f.DropMTLSOnCreate {
		if err := f.applyMTLS(c.ctx, d, mtlsChange{m.TruststoreURI, m.TruststoreVersion}, c.caller); err != nil {
			return err
		}
	}
	if err := f.checkOwnership(d); err != nil {
		return err
	}
	f.Domains[d.Name] = d
	f.finishUpdate(d)
	return nil
}

// GetBasePathMappings lists every mapping of the domain, those of HTTP APIs
// too (restApiId is then the HTTP API's ID): the fake's reading of AWS's
// one-domain-two-views model, and the stricter one for a client that must
// type each mapping by its own API. AWS does not document it.
func (f *Fake) v1GetMappings(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	lo, hi, pos, err := pageV1(c, "bpm/"+d.Name, len(d.Mappings))
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]string{}
	for _, mp := range d.Mappings[lo:hi] {
		bp := mp.BasePath
		if bp == "" {
			bp = "(none)"
		}
		items = append(items, map[string]string{"basePath": bp, "restApiId": mp.APIID, "stage": mp.Stage})
	}
	return 200, pageOut("item", items, "position", pos), nil
}

func pageOut(itemsKey string, items any, tokKey, tok string) map[string]any {
	out := map[string]any{itemsKey: items}
	if tok != "" {
		out[tokKey] = tok
	}
	return out
}

// Mapping refusals. AWS: apigateway CreateBasePathMapping answers "Mixing
// of REST APIs and HTTP APIs on the same domain name can only be
// accomplished through API Gateway's V2 DomainName interface." (quoted in
// CodeGenieApp/serverless-express#596); a duplicate key: "ApiMapping key
// already exists for this domain name" (aws/aws-cdk#22660, ConflictException);
// ROUTING_RULE_ONLY domains take no API mappings ("Set the routing mode for
// your custom domain name"; the refusal's wording is the fake's).
const (
	msgMixing         = "Mixing of REST APIs and HTTP APIs on the same domain name can only be accomplished through API Gateway's V2 DomainName interface. Currently, WebSocket APIs can only be attached to a domain name with other WebSocket APIs. This must also occur through API Gateway's V2 DomainName interface."
	msgMappingExists  = "ApiMapping key already exists for this domain name"
	msgBasePathExists = "Base path already exists for this domain name"
)

func (f *Fake) mappingAllowed(d *Domain, key string, exists string) *apiError {
	if routingModeOf(d) == RoutingRuleOnly {
		return badRequest("Domain name %s uses routing mode ROUTING_RULE_ONLY: API mappings cannot be created", d.Name)
	}
	for _, mp := range d.Mappings {
		if mp.BasePath == key {
			return errorf(409, "ConflictException", "%s", exists)
		}
	}
	return nil
}

func (f *Fake) v1CreateMapping(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		BasePath  string `json:"basePath"`
		RestAPIID string `json:"restApiId"`
		Stage     string `json:"stage"`
	}
	if json.Unmarshal(c.body, &in) != nil || in.RestAPIID == "" {
		return 0, nil, badRequest("restApiId is required")
	}
	a := f.APIs[in.RestAPIID]
	if a == nil {
		return 0, nil, badRequest("Invalid REST API identifier specified")
	}
	if !a.REST {
		return 0, nil, badRequest(msgMixing)
	}
	for _, mp := range d.Mappings {
		if other := f.APIs[mp.APIID]; other != nil && !other.REST {
			return 0, nil, badRequest(msgMixing)
		}
	}
	if err := f.mappingAllowed(d, in.BasePath, msgBasePathExists); err != nil {
		return 0, nil, err
	}
	if _, ok := a.Stages[in.Stage]; in.Stage != "" && !ok {
		return 0, nil, badRequest("Invalid stage identifier specified")
	}
	d.Mappings = append(d.Mappings, Mapping{in.RestAPIID, in.Stage, in.BasePath})
	return 201, in, nil
}

func (f *Fake) v1GetAPI(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"id": a.ID, "name": a.ID, "disableExecuteApiEndpoint": a.DisableDefault}, nil
}

func (f *Fake) v1UpdateAPI(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		PatchOperations []patchOp `json:"patchOperations"`
	}
	if json.Unmarshal(c.body, &in) != nil {
		return 0, nil, badRequest("Invalid patch operations")
	}
	for _, op := range in.PatchOperations {
		if op.Op != "replace" || op.Path != "/disableExecuteApiEndpoint" {
			return 0, nil, badRequest("Invalid patch path %s", op.Path)
		}
		f.setDefaultEndpoint(a, strings.EqualFold(op.value(), "true"))
	}
	return f.v1GetAPI(c)
}

func (f *Fake) setDefaultEndpoint(a *API, disable bool) {
	if a.DisableDefault != disable {
		a.DisableDefault, a.EndpointChangedAt = disable, f.Clock.Now()
	}
}

// stageNames returns an API's stages in name order.
func stageNames(a *API) []string {
	var names []string
	for name := range a.Stages {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// stageDates returns a stage's creation and last update times.
func stageDates(a *API, name string) (created, updated time.Time) {
	return a.stageCreated[name], a.stageUpdated[name]
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixMilli()) / 1000
}

// GetStages (apigateway) is not paged: every stage in one answer.
func (f *Fake) v1GetStages(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for _, name := range stageNames(a) {
		created, updated := stageDates(a, name)
		item := map[string]any{"stageName": name, "createdDate": epoch(created), "lastUpdatedDate": epoch(updated)}
		if id := a.StageDeployment[name]; id != "" {
			item["deploymentId"] = id
		}
		items = append(items, item)
	}
	return 200, map[string]any{"item": items}, nil
}

func (f *Fake) v1GetDeployments(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	lo, hi, pos, err := pageV1(c, "dep/"+a.ID, len(a.DeploymentLog))
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for _, d := range a.DeploymentLog[lo:hi] {
		items = append(items, map[string]any{"id": d.ID, "description": d.Description, "createdDate": epoch(d.Created)})
	}
	return 200, pageOut("item", items, "position", pos), nil
}

// v1GetDeployment (apigateway) returns one deployment; with
// embed=apisummary, the methods it serves and their authorization type, as
// AWS's apiSummary: {path: {METHOD: {authorizationType}}}.
func (f *Fake) v1GetDeployment(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	for _, d := range a.DeploymentLog {
		if d.ID != c.m[2] {
			continue
		}
		out := map[string]any{"id": d.ID, "description": d.Description, "createdDate": epoch(d.Created)}
		if slices.Contains(c.query["embed"], "apisummary") {
			summary := map[string]map[string]any{}
			for key, auth := range d.Auth {
				method, path, _ := strings.Cut(key, " ")
				if summary[path] == nil {
					summary[path] = map[string]any{}
				}
				typ, _, _ := strings.Cut(auth, ":")
				summary[path][method] = map[string]any{"authorizationType": typ, "apiKeyRequired": false}
			}
			out["apiSummary"] = summary
		}
		return 200, out, nil
	}
	return 0, nil, errorf(404, "NotFoundException", "Invalid Deployment identifier specified")
}

func (f *Fake) v1Deploy(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], true)
	if err != nil {
		return 0, nil, err
	}
	d, err := f.deploy(c, a)
	if err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"id": d.ID, "description": d.Description, "createdDate": epoch(d.Created)}, nil
}
