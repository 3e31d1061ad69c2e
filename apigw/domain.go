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

// GetDomain reads a domain and everything that routes traffic through it.
// Both services see the same Regional domains, so Auto reads it through
// apigatewayv2 (falling back to apigateway) and then goes by the APIs
// behind it: only REST APIs make it a REST domain, updated with patch
// operations; none, HTTP APIs or a mix, an HTTP one, updated through
// apigatewayv2. Every mapping is typed by its own API, every page of
// mappings is read, and routing rules count as well as mappings
// (docs/apigateway-rules.md, "Routing").
func (c *Client) GetDomain(ctx context.Context, name string, t APIType) (*Domain, error) {
	if t == "" {
		t = Auto
	}
	d, err := c.readDomain(ctx, name, t)
	if err != nil {
		return nil, err
	}
	if d.Mappings, err = c.mappings(ctx, d); err != nil {
		return nil, err
	}
	// Routing rules route traffic only in the modes that use them
	// (API_MAPPING_ONLY, the default, ignores them); an endpoint, Region
	// or role without ListRoutingRules leaves them unknown, said why.
	if usesRules(d.RoutingMode) {
		rules, err := c.routingRules(ctx, name)
		if err != nil {
			d.RoutingRulesUnknown = err.Error()
		}
		d.Mappings = append(d.Mappings, rules...)
	}
	types := map[string]APIType{}
	for i, m := range d.Mappings {
		if types[m.APIID] == "" {
			if types[m.APIID], err = c.DetectAPI(ctx, m.APIID); err != nil {
				return nil, err
			}
		}
		d.Mappings[i].APIType = types[m.APIID]
		d.Mappings[i].Unused = m.Via == ViaMapping && d.RoutingMode == RoutingRuleOnly
	}
	if t == Auto {
		d.APIType = domainType(d.Mappings)
	}
	return d, nil
}

// usesRules reports whether a routing mode sends traffic by routing rules
// (apigateway spells ROUTING_RULE_THEN_API_MAPPING with BASE_PATH_MAPPING).
func usesRules(mode string) bool {
	return mode == RoutingRuleOnly || mode == RoutingRuleThenMapping || mode == "ROUTING_RULE_THEN_BASE_PATH_MAPPING"
}

// How an API is routed through a domain (Mapping.Via).
const (
	ViaMapping = "mapping"
	ViaRule    = "routing rule"
)

// domainType is REST when only REST APIs are mapped, else HTTP.
func domainType(ms []Mapping) APIType {
	rest := 0
	for _, m := range ms {
		if m.APIType == REST {
			rest++
		}
	}
	if rest > 0 && rest == len(ms) {
		return REST
	}
	return HTTP
}

// readDomain reads the domain alone, through the service of its type.
func (c *Client) readDomain(ctx context.Context, name string, t APIType) (*Domain, error) {
	if t == REST {
		return c.getV1(ctx, name)
	}
	d, err := c.getV2(ctx, name)
	if t == Auto && errors.Is(err, ErrNotFound) {
		return c.getV1(ctx, name)
	}
	return d, err
}

func (c *Client) getV2(ctx context.Context, name string) (*Domain, error) {
	out, err := c.V2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String(name)})
	if err != nil {
		return nil, classify(err, "get domain "+name)
	}
	d := &Domain{Name: name, APIType: HTTP, RoutingMode: string(out.RoutingMode), Tags: out.Tags, CloudFormation: stackOf(out.Tags)}
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
	return d, nil
}

func (c *Client) getV1(ctx context.Context, name string) (*Domain, error) {
	out, err := c.V1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String(name)})
	if err != nil {
		return nil, classify(err, "get domain "+name)
	}
	d := &Domain{Name: name, APIType: REST, SecurityPolicy: string(out.SecurityPolicy), Status: string(out.DomainNameStatus),
		StatusMessage: aws.ToString(out.DomainNameStatusMessage), CertificateArn: aws.ToString(out.RegionalCertificateArn),
		OwnershipCertArn: aws.ToString(out.OwnershipVerificationCertificateArn), RoutingMode: string(out.RoutingMode),
		Tags: out.Tags, CloudFormation: stackOf(out.Tags)}
	if d.CertificateArn == "" {
		d.CertificateArn = aws.ToString(out.CertificateArn)
	}
	if out.EndpointConfiguration != nil && len(out.EndpointConfiguration.Types) > 0 {
		d.EndpointType = string(out.EndpointConfiguration.Types[0])
	}
	if m := out.MutualTlsAuthentication; m != nil {
		d.TruststoreURI, d.TruststoreVersion, d.Warnings = aws.ToString(m.TruststoreUri), aws.ToString(m.TruststoreVersion), m.TruststoreWarnings
	}
	return d, nil
}

// mappings reads every page of the domain's API mappings, through the
// service the domain was read with.
func (c *Client) mappings(ctx context.Context, d *Domain) ([]Mapping, error) {
	if d.APIType == REST {
		return every(func(pos *string) ([]Mapping, *string, error) {
			page, err := c.V1.GetBasePathMappings(ctx, &apigateway.GetBasePathMappingsInput{DomainName: aws.String(d.Name), Limit: aws.Int32(500), Position: pos})
			if err != nil {
				return nil, nil, classify(err, "get the base path mappings of "+d.Name)
			}
			var out []Mapping
			for _, m := range page.Items {
				// API Gateway v1 says "(none)" for the root, which v2 and
				// CreateBasePathMapping say as no base path at all.
				path := aws.ToString(m.BasePath)
				if path == "(none)" {
					path = ""
				}
				out = append(out, Mapping{APIID: aws.ToString(m.RestApiId), Stage: aws.ToString(m.Stage), BasePath: path, Via: ViaMapping})
			}
			return out, page.Position, nil
		})
	}
	return every(func(token *string) ([]Mapping, *string, error) {
		page, err := c.V2.GetApiMappings(ctx, &apigatewayv2.GetApiMappingsInput{DomainName: aws.String(d.Name), NextToken: token})
		if err != nil {
			return nil, nil, classify(err, "get the API mappings of "+d.Name)
		}
		var out []Mapping
		for _, m := range page.Items {
			out = append(out, Mapping{APIID: aws.ToString(m.ApiId), Stage: aws.ToString(m.Stage), BasePath: aws.ToString(m.ApiMappingKey), Via: ViaMapping})
		}
		return out, page.NextToken, nil
	})
}

// routingRules reads every page of the domain's routing rules, each one an
// API stage that receives traffic through the domain.
func (c *Client) routingRules(ctx context.Context, name string) ([]Mapping, error) {
	return every(func(token *string) ([]Mapping, *string, error) {
		page, err := c.V2.ListRoutingRules(ctx, &apigatewayv2.ListRoutingRulesInput{DomainName: aws.String(name), NextToken: token})
		if err != nil {
			return nil, nil, classify(err, "list the routing rules of "+name)
		}
		var out []Mapping
		for _, r := range page.RoutingRules {
			for _, a := range r.Actions {
				if a.InvokeApi != nil {
					out = append(out, Mapping{APIID: aws.ToString(a.InvokeApi.ApiId), Stage: aws.ToString(a.InvokeApi.Stage), Via: ViaRule})
				}
			}
		}
		return out, page.NextToken, nil
	})
}

// Truststore is a truststore URI and version; an empty URI turns mTLS off.
type Truststore struct {
	URI     string `json:"uri"`
	Version string `json:"version,omitempty"`
}

// Update is one change of a domain's mutual TLS.
type Update struct {
	Truststore Truststore
	// OwnershipCertArn, when set and different from the domain's, is sent
	// in the same update: one update, not two, against the 30-second quota.
	OwnershipCertArn string
}

// SetTruststore points the domain at u.Truststore in place, in exactly one
// update: for HTTP APIs the full, single domain configuration read from
// GetDomainName is sent again with the new truststore, as API Gateway
// otherwise answers "Expected one domain name configuration"; for REST
// APIs, patch operations. The version is always sent when mTLS stays on,
// empty to clear it, so a rollback to a truststore that had no version
// does not keep the newer one. The update is paced by the domain quota;
// throttling and a concurrent update are retried.
func (c *Client) SetTruststore(ctx context.Context, d *Domain, u Update, onWait OnWait) error {
	return c.write(ctx, domainWrite, onWait, func() error {
		if d.APIType == HTTP {
			return c.setV2(ctx, d.Name, u)
		}
		return c.setV1(ctx, d, u)
	})
}

func (c *Client) setV2(ctx context.Context, name string, u Update) error {
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
	if u.OwnershipCertArn != "" {
		send.OwnershipVerificationCertificateArn = aws.String(u.OwnershipCertArn)
	}
	mtls := &v2types.MutualTlsAuthenticationInput{TruststoreUri: aws.String(u.Truststore.URI)}
	if u.Truststore.URI != "" {
		mtls.TruststoreVersion = aws.String(u.Truststore.Version)
	}
	_, err = c.V2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{
		DomainName:               aws.String(name),
		DomainNameConfigurations: []v2types.DomainNameConfiguration{send},
		MutualTlsAuthentication:  mtls,
	}, noRetryV2)
	return classify(err, "update domain "+name)
}

func (c *Client) setV1(ctx context.Context, d *Domain, u Update) error {
	var ops []v1types.PatchOperation
	if u.OwnershipCertArn != "" && u.OwnershipCertArn != d.OwnershipCertArn {
		ops = append(ops, v1types.PatchOperation{Op: v1types.OpReplace, Path: aws.String("/ownershipVerificationCertificateArn"), Value: aws.String(u.OwnershipCertArn)})
	}
	ops = append(ops, v1types.PatchOperation{Op: v1types.OpReplace, Path: aws.String("/mutualTlsAuthentication/truststoreUri"), Value: aws.String(u.Truststore.URI)})
	if u.Truststore.URI != "" {
		ops = append(ops, v1types.PatchOperation{Op: v1types.OpReplace, Path: aws.String("/mutualTlsAuthentication/truststoreVersion"), Value: aws.String(u.Truststore.Version)})
	}
	_, err := c.V1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String(d.Name), PatchOperations: ops}, noRetryV1)
	return classify(err, "update domain "+d.Name)
}

// Waiting statuses: the domain is being changed and will settle.
func waiting(status string) bool { return status == StatusUpdating || status == "PENDING" }

// WaitAvailable polls the domain until it leaves UPDATING, for at most
// timeout, calling progress with each status seen. It returns the domain as
// last read, with its mappings.
func (c *Client) WaitAvailable(ctx context.Context, d *Domain, timeout time.Duration, progress func(status string)) (*Domain, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	deadline := c.ClockOrReal().Now().Add(timeout)
	for {
		cur, err := c.readDomain(ctx, d.Name, d.APIType)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(cur.Status)
		}
		if !waiting(cur.Status) {
			cur.APIType, cur.Mappings = d.APIType, d.Mappings
			return cur, nil
		}
		if !c.ClockOrReal().Now().Before(deadline) {
			return cur, fmt.Errorf("domain %s is still %s after %s: %w", d.Name, cur.Status, timeout, ErrTimeout)
		}
		if err := c.ClockOrReal().Sleep(ctx, poll); err != nil {
			return cur, fmt.Errorf("domain %s is still %s: %w", d.Name, cur.Status, err)
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
}

// CreateDomain creates a Regional TLS_1_2 domain with mTLS, paced by the
// domain quota.
func (c *Client) CreateDomain(ctx context.Context, in CreateInput, onWait OnWait) error {
	return c.write(ctx, domainWrite, onWait, func() error {
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
			_, err := c.V1.CreateDomainName(ctx, req, noRetryV1)
			return classify(err, "create domain "+in.Name)
		}
		req := &apigatewayv2.CreateDomainNameInput{
			DomainName: aws.String(in.Name),
			DomainNameConfigurations: []v2types.DomainNameConfiguration{{
				CertificateArn: aws.String(in.CertificateArn), EndpointType: v2types.EndpointTypeRegional,
				SecurityPolicy: v2types.SecurityPolicyTls12, OwnershipVerificationCertificateArn: optional(in.OwnershipCertArn)}},
			MutualTlsAuthentication: &v2types.MutualTlsAuthenticationInput{TruststoreUri: aws.String(in.Truststore.URI), TruststoreVersion: optional(in.Truststore.Version)},
		}
		_, err := c.V2.CreateDomainName(ctx, req, noRetryV2)
		return classify(err, "create domain "+in.Name)
	})
}

// Map maps an API stage to the domain (the domain's own type decides the
// service, as for its updates).
func (c *Client) Map(ctx context.Context, domain string, t APIType, m Mapping) error {
	if t == REST {
		_, err := c.V1.CreateBasePathMapping(ctx, &apigateway.CreateBasePathMappingInput{DomainName: aws.String(domain), RestApiId: aws.String(m.APIID), Stage: aws.String(m.Stage), BasePath: optional(m.BasePath)})
		return classify(err, "map API "+m.APIID+" to "+domain)
	}
	_, err := c.V2.CreateApiMapping(ctx, &apigatewayv2.CreateApiMappingInput{DomainName: aws.String(domain), ApiId: aws.String(m.APIID), Stage: aws.String(m.Stage), ApiMappingKey: optional(m.BasePath)})
	return classify(err, "map API "+m.APIID+" to "+domain)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
