package fakeapigw

import (
	"encoding/json"
	"strings"
)

type v1DomainOut struct {
	DomainName                          string      `json:"domainName"`
	RegionalCertificateArn              string      `json:"regionalCertificateArn,omitempty"`
	CertificateArn                      string      `json:"certificateArn,omitempty"`
	EndpointConfiguration               endpointCfg `json:"endpointConfiguration"`
	SecurityPolicy                      string      `json:"securityPolicy,omitempty"`
	DomainNameStatus                    string      `json:"domainNameStatus"`
	OwnershipVerificationCertificateArn string      `json:"ownershipVerificationCertificateArn,omitempty"`
	MutualTLSAuthentication             *mtls       `json:"mutualTlsAuthentication,omitempty"`
}

type endpointCfg struct {
	Types []string `json:"types"`
}

func v1View(d *Domain) v1DomainOut {
	out := v1DomainOut{DomainName: d.Name, EndpointConfiguration: endpointCfg{[]string{d.EndpointType}}, SecurityPolicy: d.SecurityPolicy,
		DomainNameStatus: d.Status, OwnershipVerificationCertificateArn: d.OwnershipCertArn}
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

func (f *Fake) v1GetDomain(m []string, _ []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	return 200, v1View(d), nil
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

func (f *Fake) v1UpdateDomain(m []string, body []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		PatchOperations []patchOp `json:"patchOperations"`
	}
	if json.Unmarshal(body, &in) != nil || len(in.PatchOperations) == 0 {
		return 0, nil, errorf(400, "BadRequestException", "Invalid patch operations")
	}
	if err := f.startUpdate(d); err != nil {
		return 0, nil, err
	}
	next := *d
	uri, version, touched, owner := d.TruststoreURI, d.TruststoreVersion, false, false
	for _, op := range in.PatchOperations {
		if op.Op != "replace" {
			return 0, nil, errorf(400, "BadRequestException", "Invalid patch operation specified. Must be 'replace'")
		}
		switch op.Path {
		case "/mutualTlsAuthentication/truststoreUri":
			uri, touched = op.Value, true
			if !strings.Contains(string(body), "truststoreVersion") {
				version = ""
			}
		case "/mutualTlsAuthentication/truststoreVersion":
			version, touched = op.Value, true
		case "/ownershipVerificationCertificateArn":
			next.OwnershipCertArn, owner = op.Value, true
		case "/securityPolicy":
			next.SecurityPolicy = op.Value
		default:
			return 0, nil, errorf(400, "BadRequestException", "Invalid patch path %s", op.Path)
		}
	}
	if touched && owner {
		// Seen with AWS: both in one update fails; set the certificate first.
		return 0, nil, errorf(400, "BadRequestException", "Missing ownershipVerificationCertificate.")
	}
	if touched {
		if err := f.applyTruststore(&next, uri, version); err != nil {
			return 0, nil, err
		}
	}
	*d = next
	f.finishUpdate(d)
	return 200, v1View(d), nil
}

func (f *Fake) v1CreateDomain(_ []string, body []byte) (int, any, *apiError) {
	var in struct {
		DomainName                          string      `json:"domainName"`
		RegionalCertificateArn              string      `json:"regionalCertificateArn"`
		EndpointConfiguration               endpointCfg `json:"endpointConfiguration"`
		SecurityPolicy                      string      `json:"securityPolicy"`
		OwnershipVerificationCertificateArn string      `json:"ownershipVerificationCertificateArn"`
		MutualTLSAuthentication             *mtls       `json:"mutualTlsAuthentication"`
	}
	if json.Unmarshal(body, &in) != nil || in.DomainName == "" || len(in.EndpointConfiguration.Types) != 1 {
		return 0, nil, errorf(400, "BadRequestException", "Invalid domain name request")
	}
	if f.Domains[in.DomainName] != nil {
		return 0, nil, errorf(409, "ConflictException", "The domain name you provided already exists.")
	}
	d := &Domain{Name: in.DomainName, REST: true, EndpointType: in.EndpointConfiguration.Types[0], SecurityPolicy: in.SecurityPolicy,
		CertificateArn: in.RegionalCertificateArn, OwnershipCertArn: in.OwnershipVerificationCertificateArn}
	if in.MutualTLSAuthentication != nil {
		if err := f.applyTruststore(d, in.MutualTLSAuthentication.TruststoreURI, in.MutualTLSAuthentication.TruststoreVersion); err != nil {
			return 0, nil, err
		}
	}
	f.Domains[d.Name] = d
	f.finishUpdate(d)
	return 201, v1View(d), nil
}

func (f *Fake) v1GetMappings(m []string, _ []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]string{}
	for _, mp := range d.Mappings {
		bp := mp.BasePath
		if bp == "" {
			bp = "(none)"
		}
		items = append(items, map[string]string{"basePath": bp, "restApiId": mp.APIID, "stage": mp.Stage})
	}
	return 200, map[string]any{"item": items}, nil
}

func (f *Fake) v1CreateMapping(m []string, body []byte) (int, any, *apiError) {
	d, err := f.domain(m[1])
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		BasePath  string `json:"basePath"`
		RestAPIID string `json:"restApiId"`
		Stage     string `json:"stage"`
	}
	if json.Unmarshal(body, &in) != nil || in.RestAPIID == "" {
		return 0, nil, errorf(400, "BadRequestException", "restApiId is required")
	}
	if _, err := f.api(in.RestAPIID, true); err != nil {
		return 0, nil, err
	}
	d.Mappings = append(d.Mappings, Mapping{in.RestAPIID, in.Stage, in.BasePath})
	return 201, in, nil
}

func (f *Fake) v1GetAPI(m []string, _ []byte) (int, any, *apiError) {
	a, err := f.api(m[1], true)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"id": a.ID, "name": a.ID, "disableExecuteApiEndpoint": a.DisableDefault}, nil
}

func (f *Fake) v1UpdateAPI(m []string, body []byte) (int, any, *apiError) {
	a, err := f.api(m[1], true)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		PatchOperations []patchOp `json:"patchOperations"`
	}
	if json.Unmarshal(body, &in) != nil {
		return 0, nil, errorf(400, "BadRequestException", "Invalid patch operations")
	}
	for _, op := range in.PatchOperations {
		if op.Op != "replace" || op.Path != "/disableExecuteApiEndpoint" {
			return 0, nil, errorf(400, "BadRequestException", "Invalid patch path %s", op.Path)
		}
		a.DisableDefault = strings.EqualFold(op.Value, "true")
	}
	return f.v1GetAPI(m, nil)
}

func (f *Fake) v1GetStages(m []string, _ []byte) (int, any, *apiError) {
	a, err := f.api(m[1], true)
	if err != nil {
		return 0, nil, err
	}
	items := []map[string]string{}
	for name := range a.Stages {
		items = append(items, map[string]string{"stageName": name})
	}
	return 200, map[string]any{"item": items}, nil
}
