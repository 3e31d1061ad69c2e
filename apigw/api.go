package apigw

import (
	"context"
	"fmt"

	"errors"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
)

// DomainProblems lists why a domain cannot take mTLS as it is: it must be
// Regional, on TLS_1_2 (not an enhanced SecurityPolicy_*), and AVAILABLE.
func DomainProblems(d *Domain) []string {
	var p []string
	if d.EndpointType != "REGIONAL" {
		p = append(p, fmt.Sprintf("domain %s is %s: mutual TLS needs a Regional custom domain", d.Name, d.EndpointType))
	}
	if d.SecurityPolicy != RequiredPolicy {
		p = append(p, fmt.Sprintf("domain %s uses security policy %s: mutual TLS needs TLS_1_2", d.Name, d.SecurityPolicy))
	}
	if d.Status != StatusAvailable {
		msg := fmt.Sprintf("domain %s is %s, not AVAILABLE", d.Name, d.Status)
		if d.StatusMessage != "" {
			msg += ": " + d.StatusMessage
		}
		p = append(p, msg)
	}
	return p
}

// OwnershipProblem checks whether the domain's server certificate needs an
// ownership verification certificate (imported into ACM, or from a private
// CA) and whether a fit one is set or given: a public ACM certificate,
// issued. It returns "" when all is well.
func (c *Client) OwnershipProblem(ctx context.Context, d *Domain, given string) (string, error) {
	if d.CertificateArn == "" {
		return "", nil
	}
	out, err := c.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(d.CertificateArn)})
	if err != nil {
		return "", classify(err, "describe the server certificate "+d.CertificateArn)
	}
	if out.Certificate == nil || out.Certificate.Type == acmtypes.CertificateTypeAmazonIssued {
		return "", nil
	}
	arn := given
	if arn == "" {
		arn = d.OwnershipCertArn
	}
	if arn == "" {
		return fmt.Sprintf("the server certificate of %s is %s, so mutual TLS needs an ownership verification certificate: give --ownership-cert-arn with a public ACM certificate for %s", d.Name, out.Certificate.Type, d.Name), nil
	}
	own, err := c.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		return "", classify(err, "describe the ownership certificate "+arn)
	}
	if own.Certificate.Type != acmtypes.CertificateTypeAmazonIssued || own.Certificate.Status != acmtypes.CertificateStatusIssued {
		return fmt.Sprintf("ownership certificate %s is %s and %s: it must be a public ACM certificate, ISSUED", arn, own.Certificate.Type, own.Certificate.Status), nil
	}
	return "", nil
}

// DefaultEndpoint says whether an API's execute-api endpoint is on.
func (c *Client) DefaultEndpoint(ctx context.Context, id string, t APIType) (bool, error) {
	if t == HTTP {
		out, err := c.V2.GetApi(ctx, &apigatewayv2.GetApiInput{ApiId: aws.String(id)})
		if err != nil {
			return false, classify(err, "get API "+id)
		}
		return !aws.ToBool(out.DisableExecuteApiEndpoint), nil
	}
	out, err := c.V1.GetRestApi(ctx, &apigateway.GetRestApiInput{RestApiId: aws.String(id)})
	if err != nil {
		return false, classify(err, "get REST API "+id)
	}
	return !out.DisableExecuteApiEndpoint, nil
}

// DetectAPI finds whether id is an HTTP API or a REST API.
func (c *Client) DetectAPI(ctx context.Context, id string) (APIType, error) {
	if _, err := c.DefaultEndpoint(ctx, id, HTTP); err == nil {
		return HTTP, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	if _, err := c.DefaultEndpoint(ctx, id, REST); err != nil {
		return "", err
	}
	return REST, nil
}

// DisableResult says what DisableDefaultEndpoint changed.
type DisableResult struct {
	APIID         string   `json:"api_id"`
	APIType       APIType  `json:"api_type"`
	WasEnabled    bool     `json:"was_enabled"`
	Redeployed    []string `json:"redeployed_stages"`
	AutoDeployed  []string `json:"auto_deployed_stages,omitempty"`
	AlreadyClosed bool     `json:"already_closed"`
}

// DisableDefaultEndpoint turns off the execute-api endpoint and deploys so
// that it takes effect: HTTP API stages without auto-deploy and every REST
// API stage (or only stage, when given) get a new deployment. It is
// idempotent: an API whose endpoint is already off is left alone.
func (c *Client) DisableDefaultEndpoint(ctx context.Context, id string, t APIType, stage string, dryRun bool) (*DisableResult, error) {
	on, err := c.DefaultEndpoint(ctx, id, t)
	if err != nil {
		return nil, err
	}
	res := &DisableResult{APIID: id, APIType: t, WasEnabled: on, AlreadyClosed: !on, Redeployed: []string{}}
	if !on || dryRun {
		return res, nil
	}
	// Stages first, so that a wrong --stage changes nothing.
	stages, err := c.stages(ctx, id, t, stage)
	if err != nil {
		return nil, err
	}
	if t == HTTP {
		_, err = c.V2.UpdateApi(ctx, &apigatewayv2.UpdateApiInput{ApiId: aws.String(id), DisableExecuteApiEndpoint: aws.Bool(true)})
	} else {
		_, err = c.V1.UpdateRestApi(ctx, &apigateway.UpdateRestApiInput{RestApiId: aws.String(id), PatchOperations: []v1types.PatchOperation{
			{Op: v1types.OpReplace, Path: aws.String("/disableExecuteApiEndpoint"), Value: aws.String("True")}}})
	}
	if err != nil {
		return nil, classify(err, "disable the default endpoint of "+id)
	}
	const why = "apimtls: disable the default execute-api endpoint"
	for _, st := range stages {
		// An HTTP API stage with auto-deploy picks the change up by itself;
		// any other stage, and every REST API stage, needs a deployment.
		if st.autoDeploy {
			res.AutoDeployed = append(res.AutoDeployed, st.name)
			continue
		}
		if t == HTTP {
			_, err = c.V2.CreateDeployment(ctx, &apigatewayv2.CreateDeploymentInput{ApiId: aws.String(id), StageName: aws.String(st.name), Description: aws.String(why)})
		} else {
			_, err = c.V1.CreateDeployment(ctx, &apigateway.CreateDeploymentInput{RestApiId: aws.String(id), StageName: aws.String(st.name), Description: aws.String(why)})
		}
		if err != nil {
			return nil, classify(err, "deploy stage "+st.name+" of "+id)
		}
		res.Redeployed = append(res.Redeployed, st.name)
	}
	return res, nil
}

type stageInfo struct {
	name       string
	autoDeploy bool
}

// stages lists an API's stages, or only the one named, which must exist.
func (c *Client) stages(ctx context.Context, id string, t APIType, only string) ([]stageInfo, error) {
	var all []stageInfo
	if t == HTTP {
		out, err := c.V2.GetStages(ctx, &apigatewayv2.GetStagesInput{ApiId: aws.String(id)})
		if err != nil {
			return nil, classify(err, "list the stages of "+id)
		}
		for _, s := range out.Items {
			all = append(all, stageInfo{aws.ToString(s.StageName), aws.ToBool(s.AutoDeploy)})
		}
	} else {
		out, err := c.V1.GetStages(ctx, &apigateway.GetStagesInput{RestApiId: aws.String(id)})
		if err != nil {
			return nil, classify(err, "list the stages of "+id)
		}
		for _, s := range out.Item {
			all = append(all, stageInfo{name: aws.ToString(s.StageName)})
		}
	}
	if only == "" {
		return all, nil
	}
	for _, s := range all {
		if s.name == only {
			return []stageInfo{s}, nil
		}
	}
	return nil, fmt.Errorf("API %s has no stage %q: nothing was changed", id, only)
}
