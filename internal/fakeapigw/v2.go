package fakeapigw

import (
	"encoding/json"
	"fmt"
)

type v2Config struct {
	CertificateArn                      string `json:"certificateArn,omitempty"`
	EndpointType                        string `json:"endpointType,omitempty"`
	SecurityPolicy                      string `json:"securityPolicy,omitempty"`
	DomainNameStatus                    string `json:"domainNameStatus,omitempty"`
	OwnershipVerificationCertificateArn string `json:"ownershipVerificationCertificateArn,omitempty"`
}

type mtls struct {
	TruststoreURI      string   `json:"truststoreUri,omitempty"`
	TruststoreVersion  string   `json:"truststoreVersion,omitempty"`
	TruststoreWarnings []string `json:"truststoreWarnings,omitempty"`
}

type v2DomainOut struct {
	DomainName               string     `json:"domainName"`
	DomainNameConfigurations []v2Config `json:"domainNameConfigurations"`
	MutualTLSAuthentication  *mtls      `json:"mutualTlsAuthentication,omitempty"`
}

func v2View(d *Domain) v2DomainOut {
	out := v2DomainOut{DomainName: d.Name, DomainNameConfigurations: []v2Config{{
		CertificateArn: d.CertificateArn, EndpointType: d.EndpointType, SecurityPolicy: d.SecurityPolicy,
		DomainNameStatus: d.Status, OwnershipVerificationCertificateArn: d.OwnershipCertArn}}}
	if d.TruststoreURI != "" {
		out.MutualTLSAuthentication = &mtls{d.TruststoreURI, d.TruststoreVersion, d.Warnings}
	}
	return out
}

func (f *Fake) v2GetDomain(m []string, _ []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	return 200, v2View(d), nil
}

type v2DomainIn struct {
	DomainName               string     `json:"domainName"`
	DomainNameConfigurations []v2Config `json:"domainNameConfigurations"`
	MutualTLSAuthentication  *mtls      `json:"mutualTlsAuthentication"`
}

func (f *Fake) v2UpdateDomain(m []string, body []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	var in v2DomainIn
	if json.Unmarshal(body, &in) != nil {
		return 0, nil, errorf(400, "BadRequestException", "Invalid request body")
	}
	if len(in.DomainNameConfigurations) != 1 {
		return 0, nil, errorf(400, "BadRequestException", "Expected one domain name configuration")
	}
	if err := f.startUpdate(d); err != nil {
		return 0, nil, err
	}
	cfg := in.DomainNameConfigurations[0]
	if cfg.CertificateArn == "" || cfg.EndpointType == "" {
		return 0, nil, errorf(400, "BadRequestException", "Domain name configuration requires certificateArn and endpointType")
	}
	next := *d
	next.CertificateArn, next.EndpointType, next.OwnershipCertArn = cfg.CertificateArn, cfg.EndpointType, cfg.OwnershipVerificationCertificateArn
	if cfg.SecurityPolicy != "" {
		next.SecurityPolicy = cfg.SecurityPolicy
	}
	if in.MutualTLSAuthentication != nil {
		if err := f.applyTruststore(&next, in.MutualTLSAuthentication.TruststoreURI, in.MutualTLSAuthentication.TruststoreVersion); err != nil {
			return 0, nil, err
		}
	}
	*d = next
	f.finishUpdate(d)
	return 200, v2View(d), nil
}

func (f *Fake) v2CreateDomain(_ []string, body []byte) (int, any, *apiError) {
	var in v2DomainIn
	if json.Unmarshal(body, &in) != nil || in.DomainName == "" || len(in.DomainNameConfigurations) != 1 {
		return 0, nil, errorf(400, "BadRequestException", "Expected one domain name configuration")
	}
	if f.Domains[in.DomainName] != nil {
		return 0, nil, errorf(409, "ConflictException", "The domain name you provided already exists.")
	}
	cfg := in.DomainNameConfigurations[0]
	d := &Domain{Name: in.DomainName, EndpointType: cfg.EndpointType, SecurityPolicy: cfg.SecurityPolicy, CertificateArn: cfg.CertificateArn, OwnershipCertArn: cfg.OwnershipVerificationCertificateArn}
	if in.MutualTLSAuthentication != nil {
		if err := f.applyTruststore(d, in.MutualTLSAuthentication.TruststoreURI, in.MutualTLSAuthentication.TruststoreVersion); err != nil {
			return 0, nil, err
		}
	}
	f.Domains[d.Name] = d
	f.finishUpdate(d)
	return 201, v2View(d), nil
}

type v2Mapping struct {
	APIID         string `json:"apiId"`
	APIMappingID  string `json:"apiMappingId,omitempty"`
	APIMappingKey string `json:"apiMappingKey,omitempty"`
	Stage         string `json:"stage"`
}

func (f *Fake) v2GetMappings(m []string, _ []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	items := []v2Mapping{}
	for i, mp := range d.Mappings {
		items = append(items, v2Mapping{mp.APIID, fmt.Sprintf("map%d", i), mp.BasePath, mp.Stage})
	}
	return 200, map[string]any{"items": items}, nil
}

func (f *Fake) v2CreateMapping(m []string, body []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	var in v2Mapping
	if json.Unmarshal(body, &in) != nil || in.APIID == "" || in.Stage == "" {
		return 0, nil, errorf(400, "BadRequestException", "apiId and stage are required")
	}
	if f.APIs[in.APIID] == nil {
		return 0, nil, errorf(404, "NotFoundException", "Invalid API identifier specified")
	}
	d.Mappings = append(d.Mappings, Mapping{in.APIID, in.Stage, in.APIMappingKey})
	in.APIMappingID = fmt.Sprintf("map%d", len(d.Mappings)-1)
	return 201, in, nil
}

func (f *Fake) api(id string, rest bool) (*API, *apiError) {
	a := f.APIs[id]
	if a == nil || a.REST != rest {
		return nil, errorf(404, "NotFoundException", "Invalid API identifier specified")
	}
	return a, nil
}

func (f *Fake) v2GetAPI(m []string, _ []byte) (int, any, *apiError) {
	a, err := f.api(m[1], false)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"apiId": a.ID, "name": a.ID, "protocolType": "HTTP", "disableExecuteApiEndpoint": a.DisableDefault,
		"apiEndpoint": "https://" + a.ID + ".execute-api.us-east-1.amazonaws.com"}, nil
}

func (f *Fake) v2UpdateAPI(m []string, body []byte) (int, any, *apiError) {
	a, err := f.api(m[1], false)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		DisableExecuteAPIEndpoint *bool `json:"disableExecuteApiEndpoint"`
	}
	if json.Unmarshal(body, &in) != nil {
		return 0, nil, errorf(400, "BadRequestException", "Invalid request body")
	}
	if in.DisableExecuteAPIEndpoint != nil {
		a.DisableDefault = *in.DisableExecuteAPIEndpoint
	}
	return f.v2GetAPI(m, nil)
}

func (f *Fake) v2GetStages(m []string, _ []byte) (int, any, *apiError) {
	a, err := f.api(m[1], false)
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]any{}
	for name, auto := range a.Stages {
		items = append(items, map[string]any{"stageName": name, "autoDeploy": auto})
	}
	return 200, map[string]any{"items": items}, nil
}

// deploy serves CreateDeployment for both services.
func (f *Fake) deploy(m []string, body []byte) (int, any, *apiError) {
	a := f.APIs[m[1]]
	if a == nil {
		return 0, nil, errorf(404, "NotFoundException", "Invalid API identifier specified")
	}
	var in struct {
		StageName string `json:"stageName"`
	}
	if json.Unmarshal(body, &in) != nil || in.StageName == "" {
		return 0, nil, errorf(400, "BadRequestException", "stageName is required")
	}
	if _, ok := a.Stages[in.StageName]; !ok {
		return 0, nil, errorf(404, "NotFoundException", "Invalid stage identifier specified")
	}
	a.Deployments = append(a.Deployments, in.StageName)
	id := fmt.Sprintf("dep%d", len(a.Deployments))
	return 201, map[string]any{"id": id, "deploymentId": id, "deploymentStatus": "DEPLOYED"}, nil
}
