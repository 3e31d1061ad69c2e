package fakeapigw

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

type v2Config struct {
	CertificateArn                      string `json:"certificateArn,omitempty"`
	EndpointType                        string `json:"endpointType,omitempty"`
	SecurityPolicy                      string `json:"securityPolicy,omitempty"`
	DomainNameStatus                    string `json:"domainNameStatus,omitempty"`
	DomainNameStatusMessage             string `json:"domainNameStatusMessage,omitempty"`
	OwnershipVerificationCertificateArn string `json:"ownershipVerificationCertificateArn,omitempty"`
}

type mtls struct {
	TruststoreURI      string   `json:"truststoreUri,omitempty"`
	TruststoreVersion  string   `json:"truststoreVersion,omitempty"`
	TruststoreWarnings []string `json:"truststoreWarnings,omitempty"`
}

// mtlsIn is a request's MutualTlsAuthenticationInput: absent and empty
// differ (see the package comment).
type mtlsIn struct {
	TruststoreURI     *string `json:"truststoreUri"`
	TruststoreVersion *string `json:"truststoreVersion"`
}

type v2DomainOut struct {
	DomainName               string     `json:"domainName"`
	DomainNameConfigurations []v2Config `json:"domainNameConfigurations"`
	MutualTLSAuthentication  *mtls      `json:"mutualTlsAuthentication,omitempty"`
	RoutingMode              string     `json:"routingMode"`
	// Tags: apigatewayv2's GetDomainName "tags" (the SDK's Tags), a map,
	// absent when none.
	Tags map[string]string `json:"tags,omitempty"`
}

func v2View(d *Domain) v2DomainOut {
	out := v2DomainOut{DomainName: d.Name, RoutingMode: routingModeOf(d), Tags: d.Tags, DomainNameConfigurations: []v2Config{{
		CertificateArn: d.CertificateArn, EndpointType: d.EndpointType, SecurityPolicy: d.SecurityPolicy,
		DomainNameStatus: d.Status, DomainNameStatusMessage: d.StatusMessage, OwnershipVerificationCertificateArn: d.OwnershipCertArn}}}
	if d.TruststoreURI != "" {
		out.MutualTLSAuthentication = &mtls{d.TruststoreURI, d.TruststoreVersion, d.Warnings}
	}
	return out
}

func (f *Fake) v2GetDomain(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	if f.OmitStatus {
		c := *d
		c.Status = ""
		return 200, v2View(&c), nil
	}
	return 200, v2View(d), nil
}

type v2DomainIn struct {
	DomainName               string            `json:"domainName"`
	DomainNameConfigurations []v2Config        `json:"domainNameConfigurations"`
	MutualTLSAuthentication  *mtlsIn           `json:"mutualTlsAuthentication"`
	RoutingMode              string            `json:"routingMode"`
	Tags                     map[string]string `json:"tags"`
}

// msgOneConfig: AWS: hashicorp/terraform-provider-aws#18312
// ("BadRequestException: Invalid input. Expected one domain name configuration").
const msgOneConfig = "Invalid input. Expected one domain name configuration"

func (f *Fake) v2UpdateDomain(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	var in v2DomainIn
	if json.Unmarshal(c.body, &in) != nil {
		return 0, nil, badRequest("Invalid request body")
	}
	if len(in.DomainNameConfigurations) != 1 {
		return 0, nil, badRequest(msgOneConfig)
	}
	if err := f.startUpdate(d); err != nil {
		return 0, nil, err
	}
	cfg := in.DomainNameConfigurations[0]
	if cfg.CertificateArn == "" || cfg.EndpointType == "" {
		return 0, nil, badRequest("Domain name configuration requires certificateArn and endpointType")
	}
	next := *d
	next.CertificateArn, next.EndpointType, next.OwnershipCertArn = cfg.CertificateArn, cfg.EndpointType, cfg.OwnershipVerificationCertificateArn
	if cfg.SecurityPolicy != "" {
		next.SecurityPolicy = cfg.SecurityPolicy
	}
	if in.RoutingMode != "" {
		next.RoutingMode = in.RoutingMode
	}
	var ch mtlsChange
	if m := in.MutualTLSAuthentication; m != nil {
		ch = mtlsChange{m.TruststoreURI, m.TruststoreVersion}
	}
	if err := f.commit(c, d, &next, ch); err != nil {
		return 0, nil, err
	}
	return 200, v2View(d), nil
}

func (f *Fake) v2CreateDomain(c *call) (int, any, *apiError) {
	var in v2DomainIn
	if json.Unmarshal(c.body, &in) != nil || in.DomainName == "" || len(in.DomainNameConfigurations) != 1 {
		return 0, nil, badRequest(msgOneConfig)
	}
	if f.Domains[in.DomainName] != nil {
		return 0, nil, badRequest(msgDomainExists)
	}
	tags, terr := requestTags(in.Tags)
	if terr != nil {
		return 0, nil, terr
	}
	cfg := in.DomainNameConfigurations[0]
	d := &Domain{Name: in.DomainName, EndpointType: cfg.EndpointType, SecurityPolicy: cfg.SecurityPolicy, CertificateArn: cfg.CertificateArn,
		OwnershipCertArn: cfg.OwnershipVerificationCertificateArn, RoutingMode: in.RoutingMode, Tags: tags}
	if err := f.create(c, d, in.MutualTLSAuthentication); err != nil {
		return 0, nil, err
	}
	return 201, v2View(d), nil
}

type v2Mapping struct {
	APIID         string `json:"apiId"`
	APIMappingID  string `json:"apiMappingId,omitempty"`
	APIMappingKey string `json:"apiMappingKey,omitempty"`
	Stage         string `json:"stage"`
}

// GetApiMappings lists every mapping, REST and HTTP alike.
func (f *Fake) v2GetMappings(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	lo, hi, next, err := pageV2(c, "map/"+d.Name, len(d.Mappings))
	if err != nil {
		return 0, nil, err
	}
	items := []v2Mapping{}
	for i := lo; i < hi; i++ {
		mp := d.Mappings[i]
		items = append(items, v2Mapping{mp.APIID, fmt.Sprintf("map%d", i), mp.BasePath, mp.Stage})
	}
	return 200, pageOut("items", items, "nextToken", next), nil
}

func (f *Fake) v2CreateMapping(c *call) (int, any, *apiError) {
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	var in v2Mapping
	if json.Unmarshal(c.body, &in) != nil || in.APIID == "" || in.Stage == "" {
		return 0, nil, badRequest("apiId and stage are required")
	}
	a := f.APIs[in.APIID]
	if a == nil {
		return 0, nil, errorf(404, "NotFoundException", "Invalid API identifier specified")
	}
	if err := f.mappingAllowed(d, in.APIMappingKey, msgMappingExists); err != nil {
		return 0, nil, err
	}
	if _, ok := a.Stages[in.Stage]; !ok {
		return 0, nil, errorf(404, "NotFoundException", "Invalid stage identifier specified")
	}
	d.Mappings = append(d.Mappings, Mapping{in.APIID, in.Stage, in.APIMappingKey})
	in.APIMappingID = fmt.Sprintf("map%d", len(d.Mappings)-1)
	return 201, in, nil
}

// ListRoutingRules (GET /v2/domainnames/{domainName}/routingrules, SDK
// serializer of apigatewayv2 ListRoutingRules) in priority order.
func (f *Fake) v2ListRoutingRules(c *call) (int, any, *apiError) {
	if f.noRules[c.m[1]] {
		return 0, nil, errorf(404, "NotFoundException", "Invalid request path GET /v2/domainnames/%s/routingrules", c.m[1])
	}
	d, err := f.domain(c.m[1])
	if err != nil {
		return 0, nil, err
	}
	rules := append([]RoutingRule(nil), d.RoutingRules...)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	lo, hi, next, err := pageV2(c, "rule/"+d.Name, len(rules))
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for i, r := range rules[lo:hi] {
		id := fmt.Sprintf("rule%d", lo+i)
		items = append(items, map[string]any{
			"actions":        []any{map[string]any{"invokeApi": map[string]any{"apiId": r.APIID, "stage": r.Stage, "stripBasePath": false}}},
			"conditions":     []any{},
			"priority":       r.Priority,
			"routingRuleId":  id,
			"routingRuleArn": "arn:aws:apigateway:us-east-1:111122223333:/domainnames/" + d.Name + "/routingrules/" + id,
		})
	}
	return 200, pageOut("routingRules", items, "nextToken", next), nil
}

func (f *Fake) api(id string, rest bool) (*API, *apiError) {
	a := f.APIs[id]
	if a == nil || a.REST != rest {
		return nil, errorf(404, "NotFoundException", "Invalid API identifier specified")
	}
	if a.StageDeployment == nil {
		a.StageDeployment = map[string]string{}
	}
	if a.stageCreated == nil {
		a.stageCreated, a.stageUpdated = map[string]time.Time{}, map[string]time.Time{}
	}
	return a, nil
}

func (f *Fake) v2GetAPI(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"apiId": a.ID, "name": a.ID, "protocolType": "HTTP", "disableExecuteApiEndpoint": a.DisableDefault,
		"apiEndpoint": "https://" + a.ID + ".execute-api.us-east-1.amazonaws.com"}, nil
}

func (f *Fake) v2UpdateAPI(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		DisableExecuteAPIEndpoint *bool `json:"disableExecuteApiEndpoint"`
	}
	if json.Unmarshal(c.body, &in) != nil {
		return 0, nil, badRequest("Invalid request body")
	}
	if in.DisableExecuteAPIEndpoint != nil {
		f.setDefaultEndpoint(a, *in.DisableExecuteAPIEndpoint)
	}
	return f.v2GetAPI(c)
}

func iso(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (f *Fake) v2GetStages(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	names := stageNames(a)
	lo, hi, next, err := pageV2(c, "stage/"+a.ID, len(names))
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for _, name := range names[lo:hi] {
		created, updated := stageDates(a, name)
		item := map[string]any{"stageName": name, "autoDeploy": a.Stages[name], "createdDate": iso(created), "lastUpdatedDate": iso(updated)}
		if id := a.StageDeployment[name]; id != "" {
			item["deploymentId"] = id
		}
		items = append(items, item)
	}
	return 200, pageOut("items", items, "nextToken", next), nil
}

func (f *Fake) v2GetDeployments(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	lo, hi, next, err := pageV2(c, "dep/"+a.ID, len(a.DeploymentLog))
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for _, d := range a.DeploymentLog[lo:hi] {
		items = append(items, map[string]any{"deploymentId": d.ID, "description": d.Description, "createdDate": iso(d.Created), "deploymentStatus": "DEPLOYED"})
	}
	return 200, pageOut("items", items, "nextToken", next), nil
}

func (f *Fake) v2Deploy(c *call) (int, any, *apiError) {
	a, err := f.api(c.m[1], false)
	if err != nil {
		return 0, nil, err
	}
	d, err := f.deploy(c, a)
	if err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"deploymentId": d.ID, "description": d.Description, "createdDate": iso(d.Created), "deploymentStatus": "DEPLOYED"}, nil
}

// msgAutoDeploy: an auto-deploy stage is deployed by API Gateway on every
// change and takes no CreateDeployment. AWS: "Stages for HTTP APIs"
// (autoDeploy); the refusal is documented nowhere we found, so its wording
// is the fake's.
const msgAutoDeploy = "Stage %s has autoDeploy enabled: deployments to it are created by API Gateway and cannot be created manually"

// deploy serves CreateDeployment for both services: the stage must exist
// and, for an HTTP API, must not auto-deploy.
func (f *Fake) deploy(c *call, a *API) (Deployment, *apiError) {
	var in struct {
		StageName   string `json:"stageName"`
		Description string `json:"description"`
	}
	if json.Unmarshal(c.body, &in) != nil || in.StageName == "" {
		return Deployment{}, badRequest("stageName is required")
	}
	auto, ok := a.Stages[in.StageName]
	if !ok {
		return Deployment{}, errorf(404, "NotFoundException", "Invalid stage identifier specified")
	}
	if auto && !a.REST {
		return Deployment{}, badRequest(msgAutoDeploy, in.StageName)
	}
	now := f.Clock.Now()
	a.Deployments = append(a.Deployments, in.StageName)
	d := f.newDeployment(a, in.StageName, in.Description, now)
	a.stageUpdated[in.StageName] = now
	return d, nil
}
