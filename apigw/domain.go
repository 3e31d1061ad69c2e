package apigw

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
)

// GetDomain reads a domain from the service of its API type. Both services
// see the same Regional domains, so Auto asks apigatewayv2 and goes by the
// API mapped to the domain: a REST API makes it a REST domain, read again
// through apigateway; no mapping, or an HTTP API, an HTTP one.
func (c *Client) GetDomain(ctx context.Context, name string, t APIType) (*Domain, error) {
	if t == REST {
		return c.getV1(ctx, name)
	}
	d, err := c.getV2(ctx, name)
	if t == HTTP {
		return d, err
	}
	if errors.Is(err, ErrNotFound) {
		return c.getV1(ctx, name)
	}
	if err != nil || len(d.Mappings) == 0 {
		return d, err
	}
	kind, err := c.DetectAPI(ctx, d.Mappings[0].APIID)
	if err != nil {
		return nil, err
	}
	if kind == REST {
		return c.getV1(ctx, name)
	}
	return d, nil
}

func (c *Client) getV2(ctx context.Context, name string) (*Domain, error) {
	out, err := c.V2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String(name)})
	if err != nil {
		return nil, classify(err, "get domain "+name)
	}
	d := &Domain{Name: name, APIType: HTTP}
	if len(out.DomainNameConfigurations) > 0 {
		cfg := out.DomainNameConfigurations[0]
		d.EndpointType = string(cfg.EndpointType)
		d.SecurityPolicy = string(cfg.SecurityPolicy)
		d.Status = string(cfg.DomainNameStatus)
		d.StatusMessage = aws.ToString(cfg.DomainNameStatusMessage)
		d.CertificateArn = aws.ToString(cfg.CertificateArn)
		d.OwnershipCertArn = aws.ToString(cfg.OwnershipVerificationCertificateArn)
	}
	if m := out.MutualTlsAuthentication; m != nil {
		d.TruststoreURI, d.TruststoreVersion, d.Warnings = aws.ToString(m.TruststoreUri), aws.ToString(m.TruststoreVersion), m.TruststoreWarnings
	}
	maps, err := c.V2.GetApiMappings(ctx, &apigatewayv2.GetApiMappingsInput{DomainName: aws.String(name)})
	if err != nil {
		return nil, classify(err, "get the API mappings of "+name)
	}
	for _, m := range maps.Items {
		d.Mappings = append(d.Mappings, Mapping{APIID: aws.ToString(m.ApiId), Stage: aws.ToString(m.Stage), BasePath: aws.ToString(m.ApiMappingKey)})
	}
	return d, nil
}

func (c *Client) getV1(ctx context.Context, name string) (*Domain, error) {
	out, err := c.V1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String(name)})
	if err != nil {
		return nil, classify(err, "get domain "+name)
	}
	d := &Domain{Name: name, APIType: REST, SecurityPolicy: string(out.SecurityPolicy), Status: string(out.DomainNameStatus),
		StatusMessage: aws.ToString(out.DomainNameStatusMessage), CertificateArn: aws.ToString(out.RegionalCertificateArn),
		OwnershipCertArn: aws.ToString(out.OwnershipVerificationCertificateArn)}
	if d.CertificateArn == "" {
		d.CertificateArn = aws.ToString(out.CertificateArn)
	}
	if out.EndpointConfiguration != nil && len(out.EndpointConfiguration.Types) > 0 {
		d.EndpointType = string(out.EndpointConfiguration.Types[0])
	}
	if m := out.MutualTlsAuthentication; m != nil {
		d.TruststoreURI, d.TruststoreVersion, d.Warnings = aws.ToString(m.TruststoreUri), aws.ToString(m.TruststoreVersion), m.TruststoreWarnings
	}
	maps, err := c.V1.GetBasePathMappings(ctx, &apigateway.GetBasePathMappingsInput{DomainName: aws.String(name)})
	if err != nil {
		return nil, classify(err, "get the base path mappings of "+name)
	}
	for _, m := range maps.Items {
		d.Mappings = append(d.Mappings, Mapping{APIID: aws.ToString(m.RestApiId), Stage: aws.ToString(m.Stage), BasePath: aws.ToString(m.BasePath)})
	}
	return d, nil
}

// Truststore is a truststore URI and version; an empty URI turns mTLS off.
type Truststore struct {
	URI     string `json:"uri"`
	Version string `json:"version,omitempty"`
}

// SetTruststore points the domain at ts in place: for HTTP APIs the full,
// single domain configuration read from GetDomainName is sent again with
// the new truststore, as API Gateway otherwise answers "Expected one domain
// name configuration"; for REST APIs, patch operations. Throttling and a
// concurrent update are retried with backoff.
func (c *Client) SetTruststore(ctx context.Context, d *Domain, ts Truststore, onRetry func(error, time.Duration)) error {
	return c.retry(ctx, onRetry, func() error {
		if d.APIType == HTTP {
			return c.setV2(ctx, d.Name, ts)
		}
		return c.setV1(ctx, d.Name, ts)
	})
}

func (c *Client) setV2(ctx context.Context, name string, ts Truststore) error {
	cur, err := c.V2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String(name)})
	if err != nil {
		return classify(err, "get domain "+name)
	}
	if len(cur.DomainNameConfigurations) != 1 {
		return fmt.Errorf("domain %s has %d configurations; apimtls updates domains with exactly one", name, len(cur.DomainNameConfigurations))
	}
	cfg := cur.DomainNameConfigurations[0]
	// Only the fields UpdateDomainName accepts; status fields are output.
	send := v2types.DomainNameConfiguration{
		CertificateArn:                      cfg.CertificateArn,
		EndpointType:                        cfg.EndpointType,
		SecurityPolicy:                      cfg.SecurityPolicy,
		OwnershipVerificationCertificateArn: cfg.OwnershipVerificationCertificateArn,
		IpAddressType:                       cfg.IpAddressType,
	}
	in := &apigatewayv2.UpdateDomainNameInput{
		DomainName:               aws.String(name),
		DomainNameConfigurations: []v2types.DomainNameConfiguration{send},
		MutualTlsAuthentication:  &v2types.MutualTlsAuthenticationInput{TruststoreUri: aws.String(ts.URI)},
	}
	if ts.Version != "" {
		in.MutualTlsAuthentication.TruststoreVersion = aws.String(ts.Version)
	}
	_, err = c.V2.UpdateDomainName(ctx, in)
	return classify(err, "update domain "+name)
}

func (c *Client) setV1(ctx context.Context, name string, ts Truststore) error {
	ops := []v1types.PatchOperation{{Op: v1types.OpReplace, Path: aws.String("/mutualTlsAuthentication/truststoreUri"), Value: aws.String(ts.URI)}}
	if ts.URI != "" && ts.Version != "" {
		ops = append(ops, v1types.PatchOperation{Op: v1types.OpReplace, Path: aws.String("/mutualTlsAuthentication/truststoreVersion"), Value: aws.String(ts.Version)})
	}
	_, err := c.V1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String(name), PatchOperations: ops})
	return classify(err, "update domain "+name)
}

// SetOwnershipCertificate sets the ownership verification certificate
// alone: together with the truststore in one REST update it failed with
// "Missing ownershipVerificationCertificate." (apigateway-mtls.md §3).
func (c *Client) SetOwnershipCertificate(ctx context.Context, d *Domain, arn string, onRetry func(error, time.Duration)) error {
	return c.retry(ctx, onRetry, func() error {
		if d.APIType == REST {
			_, err := c.V1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String(d.Name), PatchOperations: []v1types.PatchOperation{
				{Op: v1types.OpReplace, Path: aws.String("/ownershipVerificationCertificateArn"), Value: aws.String(arn)}}})
			return classify(err, "set the ownership certificate of "+d.Name)
		}
		cur, err := c.V2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String(d.Name)})
		if err != nil {
			return classify(err, "get domain "+d.Name)
		}
		cfg := cur.DomainNameConfigurations[0]
		_, err = c.V2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String(d.Name), DomainNameConfigurations: []v2types.DomainNameConfiguration{{
			CertificateArn: cfg.CertificateArn, EndpointType: cfg.EndpointType, SecurityPolicy: cfg.SecurityPolicy,
			OwnershipVerificationCertificateArn: aws.String(arn), IpAddressType: cfg.IpAddressType}}})
		return classify(err, "set the ownership certificate of "+d.Name)
	})
}

// WaitAvailable polls until the domain leaves UPDATING, calling progress
// with each status seen.
func (c *Client) WaitAvailable(ctx context.Context, d *Domain, poll time.Duration, progress func(status string)) (*Domain, error) {
	for {
		cur, err := c.GetDomain(ctx, d.Name, d.APIType)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(cur.Status)
		}
		if cur.Status != StatusUpdating && cur.Status != "PENDING" {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			return cur, fmt.Errorf("domain %s is still %s: %w", d.Name, cur.Status, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// CreateInput describes a new domain with mTLS from the start.
type CreateInput struct {
	Name             string
	APIType          APIType // HTTP or REST
	CertificateArn   string
	OwnershipCertArn string
	Truststore       Truststore
	APIID, Stage     string
	BasePath         string
}

// CreateDomain creates a Regional TLS_1_2 domain with mTLS, and maps an API
// to it when asked.
func (c *Client) CreateDomain(ctx context.Context, in CreateInput, onRetry func(error, time.Duration)) error {
	err := c.retry(ctx, onRetry, func() error {
		if in.APIType == REST {
			req := &apigateway.CreateDomainNameInput{
				DomainName:             aws.String(in.Name),
				RegionalCertificateArn: aws.String(in.CertificateArn),
				EndpointConfiguration:  &v1types.EndpointConfiguration{Types: []v1types.EndpointType{v1types.EndpointTypeRegional}},
				SecurityPolicy:         v1types.SecurityPolicyTls12,
				MutualTlsAuthentication: &v1types.MutualTlsAuthenticationInput{
					TruststoreUri: aws.String(in.Truststore.URI), TruststoreVersion: optional(in.Truststore.Version)},
				OwnershipVerificationCertificateArn: optional(in.OwnershipCertArn),
			}
			_, err := c.V1.CreateDomainName(ctx, req)
			return classify(err, "create domain "+in.Name)
		}
		req := &apigatewayv2.CreateDomainNameInput{
			DomainName: aws.String(in.Name),
			DomainNameConfigurations: []v2types.DomainNameConfiguration{{
				CertificateArn: aws.String(in.CertificateArn), EndpointType: v2types.EndpointTypeRegional,
				SecurityPolicy: v2types.SecurityPolicyTls12, OwnershipVerificationCertificateArn: optional(in.OwnershipCertArn)}},
			MutualTlsAuthentication: &v2types.MutualTlsAuthenticationInput{TruststoreUri: aws.String(in.Truststore.URI), TruststoreVersion: optional(in.Truststore.Version)},
		}
		_, err := c.V2.CreateDomainName(ctx, req)
		return classify(err, "create domain "+in.Name)
	})
	if err != nil || in.APIID == "" {
		return err
	}
	if in.APIType == REST {
		_, err = c.V1.CreateBasePathMapping(ctx, &apigateway.CreateBasePathMappingInput{DomainName: aws.String(in.Name), RestApiId: aws.String(in.APIID), Stage: aws.String(in.Stage), BasePath: optional(in.BasePath)})
		return classify(err, "map API "+in.APIID+" to "+in.Name)
	}
	_, err = c.V2.CreateApiMapping(ctx, &apigatewayv2.CreateApiMappingInput{DomainName: aws.String(in.Name), ApiId: aws.String(in.APIID), Stage: aws.String(in.Stage), ApiMappingKey: optional(in.BasePath)})
	return classify(err, "map API "+in.APIID+" to "+in.Name)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
