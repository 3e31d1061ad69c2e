// Package apigw changes API Gateway custom domains and APIs the way
// docs/apigateway-rules.md says they must be changed (#custom-domains,
// #routing, #default-endpoint, #quotas): in place, one update at a time,
// spaced by the account's quotas, resending the full configuration to HTTP
// APIs, waiting for AVAILABLE, and reading the truststore warnings. It talks to both
// services (apigatewayv2 for HTTP APIs, apigateway for REST APIs) and ACM
// through small interfaces over the SDK clients, so the same code runs
// against AWS and the in-process fake control plane of the tests.
package apigw

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/apimtls/apimtls/internal/errkind"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/smithy-go"

	"github.com/apimtls/apimtls/internal/awserr"
)

// APIType is the kind of API behind a domain.
type APIType string

// API types: HTTP APIs live in apigatewayv2, REST APIs in apigateway.
const (
	HTTP APIType = "http"
	REST APIType = "rest"
	Auto APIType = "auto"
)

// ParseAPIType reads --api-type.
func ParseAPIType(s string) (APIType, error) {
	switch t := APIType(strings.ToLower(s)); t {
	case HTTP, REST, Auto:
		return t, nil
	}
	return "", fmt.Errorf("unknown API type %q: use auto, http or rest", s)
}

// Domain statuses.
const (
	StatusAvailable = "AVAILABLE"
	StatusUpdating  = "UPDATING"
)

// RequiredPolicy is the only security policy with which mTLS works.
const RequiredPolicy = "TLS_1_2"

// Domain is a custom domain as both services describe it.
type Domain struct {
	Name              string   `json:"domain"`
	APIType           APIType  `json:"api_type"`
	EndpointType      string   `json:"endpoint_type"`
	SecurityPolicy    string   `json:"security_policy"`
	Status            string   `json:"status"`
	StatusMessage     string   `json:"status_message,omitempty"`
	CertificateArn    string   `json:"certificate_arn,omitempty"`
	OwnershipCertArn  string   `json:"ownership_verification_certificate_arn,omitempty"`
	TruststoreURI     string   `json:"truststore_uri,omitempty"`
	TruststoreVersion string   `json:"truststore_version,omitempty"`
	Warnings          []string `json:"truststore_warnings,omitempty"`
	// RoutingMode says whether requests are routed by API mappings, by
	// routing rules, or rules first (docs/apigateway-rules.md).
	RoutingMode string `json:"routing_mode,omitempty"`
	// RoutingRulesUnknown says why the routing rules of a domain whose
	// mode uses them could not be read ("" when they were).
	RoutingRulesUnknown string    `json:"routing_rules_unknown,omitempty"`
	Mappings            []Mapping `json:"mappings,omitempty"`
	// Tags are the domain's tags, as GetDomainName returns them.
	Tags map[string]string `json:"tags,omitempty"`
	// CloudFormation is the stack that manages the domain, read from the
	// tags CloudFormation puts on what it creates; nil when none says so.
	CloudFormation *Stack `json:"cloudformation,omitempty"`
}

// Stack is the CloudFormation stack and resource a domain belongs to.
type Stack struct {
	Name      string `json:"stack_name"`
	ID        string `json:"stack_id,omitempty"`
	LogicalID string `json:"logical_id,omitempty"`
}

// The tags CloudFormation adds to every resource it creates that takes
// tags ("Resource tag", AWS CloudFormation User Guide: "aws:" tags are
// reserved and set by CloudFormation itself).
const (
	TagStackName = "aws:cloudformation:stack-name"
	TagStackID   = "aws:cloudformation:stack-id"
	TagLogicalID = "aws:cloudformation:logical-id"
)

// stackOf reads the managing stack from a domain's tags; nil when no
// CloudFormation tag is there. Terraform leaves no such mark, so a domain
// it manages is not recognised.
func stackOf(tags map[string]string) *Stack {
	s := &Stack{Name: tags[TagStackName], ID: tags[TagStackID], LogicalID: tags[TagLogicalID]}
	if *s == (Stack{}) {
		return nil
	}
	if s.Name == "" {
		// arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID
		if _, rest, ok := strings.Cut(s.ID, ":stack/"); ok {
			s.Name, _, _ = strings.Cut(rest, "/")
		}
	}
	return s
}

// MTLSEnabled reports whether the domain has a truststore.
func (d *Domain) MTLSEnabled() bool { return d.TruststoreURI != "" }

// Mapping is an API mapped to the domain, and whether its default
// endpoint still bypasses the domain's mTLS.
type Mapping struct {
	APIID                  string `json:"api_id"`
	Stage                  string `json:"stage"`
	BasePath               string `json:"base_path,omitempty"`
	DefaultEndpointEnabled bool   `json:"default_endpoint_enabled"`
	// APIType is the mapped API's own type: one domain can serve REST and
	// HTTP APIs together.
	APIType APIType `json:"api_type,omitempty"`
	// Via is "mapping" or "routing rule".
	Via string `json:"via,omitempty"`
	// Unused marks an API mapping the domain's routing mode ignores
	// (ROUTING_RULE_ONLY): it routes no traffic.
	Unused bool `json:"unused,omitempty"`
}

// Routing modes of a domain.
const (
	RoutingMappingOnly     = "API_MAPPING_ONLY"
	RoutingRuleOnly        = "ROUTING_RULE_ONLY"
	RoutingRuleThenMapping = "ROUTING_RULE_THEN_API_MAPPING"
)

// V2API lists the apigatewayv2 calls apimtls makes.
type V2API interface {
	GetDomainName(context.Context, *apigatewayv2.GetDomainNameInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.GetDomainNameOutput, error)
	CreateDomainName(context.Context, *apigatewayv2.CreateDomainNameInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.CreateDomainNameOutput, error)
	UpdateDomainName(context.Context, *apigatewayv2.UpdateDomainNameInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.UpdateDomainNameOutput, error)
	GetApiMappings(context.Context, *apigatewayv2.GetApiMappingsInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.GetApiMappingsOutput, error)
	CreateApiMapping(context.Context, *apigatewayv2.CreateApiMappingInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.CreateApiMappingOutput, error)
	GetApi(context.Context, *apigatewayv2.GetApiInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.GetApiOutput, error)
	UpdateApi(context.Context, *apigatewayv2.UpdateApiInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.UpdateApiOutput, error)
	GetStages(context.Context, *apigatewayv2.GetStagesInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.GetStagesOutput, error)
	GetDeployments(context.Context, *apigatewayv2.GetDeploymentsInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.GetDeploymentsOutput, error)
	CreateDeployment(context.Context, *apigatewayv2.CreateDeploymentInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.CreateDeploymentOutput, error)
	ListRoutingRules(context.Context, *apigatewayv2.ListRoutingRulesInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.ListRoutingRulesOutput, error)
	GetRoutes(context.Context, *apigatewayv2.GetRoutesInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.GetRoutesOutput, error)
	UpdateRoute(context.Context, *apigatewayv2.UpdateRouteInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.UpdateRouteOutput, error)
	GetAuthorizers(context.Context, *apigatewayv2.GetAuthorizersInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.GetAuthorizersOutput, error)
	CreateAuthorizer(context.Context, *apigatewayv2.CreateAuthorizerInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.CreateAuthorizerOutput, error)
	UpdateAuthorizer(context.Context, *apigatewayv2.UpdateAuthorizerInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.UpdateAuthorizerOutput, error)
	DeleteAuthorizer(context.Context, *apigatewayv2.DeleteAuthorizerInput, ...func(*apigatewayv2.Options)) (*apigatewayv2.DeleteAuthorizerOutput, error)
}

// V1API lists the apigateway calls apimtls makes.
type V1API interface {
	GetDomainName(context.Context, *apigateway.GetDomainNameInput, ...func(*apigateway.Options)) (*apigateway.GetDomainNameOutput, error)
	CreateDomainName(context.Context, *apigateway.CreateDomainNameInput, ...func(*apigateway.Options)) (*apigateway.CreateDomainNameOutput, error)
	UpdateDomainName(context.Context, *apigateway.UpdateDomainNameInput, ...func(*apigateway.Options)) (*apigateway.UpdateDomainNameOutput, error)
	GetBasePathMappings(context.Context, *apigateway.GetBasePathMappingsInput, ...func(*apigateway.Options)) (*apigateway.GetBasePathMappingsOutput, error)
	CreateBasePathMapping(context.Context, *apigateway.CreateBasePathMappingInput, ...func(*apigateway.Options)) (*apigateway.CreateBasePathMappingOutput, error)
	GetRestApi(context.Context, *apigateway.GetRestApiInput, ...func(*apigateway.Options)) (*apigateway.GetRestApiOutput, error)
	UpdateRestApi(context.Context, *apigateway.UpdateRestApiInput, ...func(*apigateway.Options)) (*apigateway.UpdateRestApiOutput, error)
	GetStages(context.Context, *apigateway.GetStagesInput, ...func(*apigateway.Options)) (*apigateway.GetStagesOutput, error)
	GetDeployments(context.Context, *apigateway.GetDeploymentsInput, ...func(*apigateway.Options)) (*apigateway.GetDeploymentsOutput, error)
	GetDeployment(context.Context, *apigateway.GetDeploymentInput, ...func(*apigateway.Options)) (*apigateway.GetDeploymentOutput, error)
	CreateDeployment(context.Context, *apigateway.CreateDeploymentInput, ...func(*apigateway.Options)) (*apigateway.CreateDeploymentOutput, error)
	GetResources(context.Context, *apigateway.GetResourcesInput, ...func(*apigateway.Options)) (*apigateway.GetResourcesOutput, error)
	UpdateMethod(context.Context, *apigateway.UpdateMethodInput, ...func(*apigateway.Options)) (*apigateway.UpdateMethodOutput, error)
	GetAuthorizers(context.Context, *apigateway.GetAuthorizersInput, ...func(*apigateway.Options)) (*apigateway.GetAuthorizersOutput, error)
	CreateAuthorizer(context.Context, *apigateway.CreateAuthorizerInput, ...func(*apigateway.Options)) (*apigateway.CreateAuthorizerOutput, error)
	UpdateAuthorizer(context.Context, *apigateway.UpdateAuthorizerInput, ...func(*apigateway.Options)) (*apigateway.UpdateAuthorizerOutput, error)
	DeleteAuthorizer(context.Context, *apigateway.DeleteAuthorizerInput, ...func(*apigateway.Options)) (*apigateway.DeleteAuthorizerOutput, error)
}

// ACMAPI lists the ACM call apimtls makes.
type ACMAPI interface {
	DescribeCertificate(context.Context, *acm.DescribeCertificateInput, ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error)
}

// Errors a caller acts on.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "not found")
	ErrConflict = errkind.New(errkind.Conflict, "another update is in progress")
	// ErrReferenced is a delete AWS refuses because something still
	// uses the thing (409 ConflictException "... is referenced in ..."):
	// waiting does not help, so it is never retried.
	ErrReferenced   = errkind.New(errkind.Conflict, "still referenced")
	ErrThrottled    = errkind.New(errkind.External, "throttled")
	ErrAccessDenied = errkind.New(errkind.External, "access denied")
	ErrBadRequest   = errkind.New(errkind.External, "refused by API Gateway")
	ErrEndpointDown = errkind.New(errkind.External, "cannot reach the endpoint")
	ErrTimeout      = errkind.New(errkind.External, "timed out")
	// ErrReadBack is a change AWS accepted that does not read back as
	// sent (an emulator that drops fields, a concurrent change).
	ErrReadBack = errkind.New(errkind.External, "the change does not read back as sent")
	// ErrTruststoreAccess is API Gateway failing to read the truststore
	// object on the caller's behalf (docs/apigateway-rules.md, "Reading the
	// truststore").
	ErrTruststoreAccess = errkind.New(errkind.External, "API Gateway cannot read the truststore")
)

// Client is API Gateway in one Region.
type Client struct {
	V1  V1API
	V2  V2API
	ACM ACMAPI
	// Clock is what waits and polls go by (default: the wall clock).
	Clock Clock
	// Quotas space the calls that change things (default: AWSQuotas).
	Quotas *Quotas
	// Backoff paces retries after throttling and conflicts when AWS does
	// not say how long to wait (default: DefaultBackoff).
	Backoff Backoff
	// Poll is the interval between reads while waiting for a domain
	// (default: 5 s).
	Poll  time.Duration
	pacer pacer
}

// noRetryV1 and noRetryV2 turn the SDK's retries off for one call: apigw
// retries the quota-bound calls itself, with AWS's intervals and a message
// per wait; the SDK's quick retries would only burn the quota.
func noRetryV1(o *apigateway.Options)   { o.RetryMaxAttempts = 1 }
func noRetryV2(o *apigatewayv2.Options) { o.RetryMaxAttempts = 1 }

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

// classify maps SDK errors to the errors above, keeping AWS's message,
// which users search for verbatim.
func classify(err error, doing string) error {
	if err == nil {
		return nil
	}
	var kind error
	switch awserr.Code(err) {
	case "NotFoundException", "ResourceNotFoundException":
		kind = ErrNotFound
	case "ConflictException":
		kind = ErrConflict
		if strings.Contains(apiMessage(err), "is referenced in") {
			kind = ErrReferenced
		}
	case "TooManyRequestsException", "ThrottlingException", "LimitExceededException":
		kind = ErrThrottled
	case "AccessDeniedException", "UnauthorizedException", "AccessDenied":
		kind = ErrAccessDenied
	case "BadRequestException", "ValidationException", "InvalidParameterException":
		kind = ErrBadRequest
		if strings.Contains(apiMessage(err), "Unable to access truststore") {
			kind = ErrTruststoreAccess
		}
	default:
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			return fmt.Errorf("%s: %w: %v", doing, ErrEndpointDown, opErr)
		}
		return fmt.Errorf("%s: %w", doing, err)
	}
	return &awsError{msg: fmt.Sprintf("%s: %v: %s", doing, kind, apiMessage(err)), kind: kind, cause: err}
}

// awsError is a classified SDK error: it matches its kind (errors.Is) and
// still holds the SDK's error, whose HTTP response carries Retry-After.
type awsError struct {
	msg         string
	kind, cause error
}

func (e *awsError) Error() string   { return e.msg }
func (e *awsError) Unwrap() []error { return []error{e.kind, e.cause} }
