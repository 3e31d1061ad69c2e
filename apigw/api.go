package apigw

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
		if d.Status == "" {
			msg = fmt.Sprintf("domain %s reports no status, not AVAILABLE", d.Name)
		}
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

// StageState is one stage of an API and whether its live deployment has
// the default endpoint closed.
type StageState struct {
	Name         string     `json:"stage"`
	AutoDeploy   bool       `json:"auto_deploy,omitempty"`
	DeploymentID string     `json:"deployment_id,omitempty"`
	DeployedAt   *time.Time `json:"deployed_at,omitempty"`
	// Closed says the stage serves a deployment made after the endpoint was
	// turned off (or deploys automatically), so execute-api is shut there.
	Closed bool `json:"closed"`
	// Changed says whether the API's methods or their authorization differ
	// from what the stage's deployment serves: what a redeploy would
	// publish beyond the closed endpoint. REST APIs only (from the
	// deployment's apiSummary); nil when it cannot be told.
	Changed *bool `json:"changed_since_deployment,omitempty"`
}

// EndpointPlan is what closing an API's default endpoint involves.
type EndpointPlan struct {
	APIID   string  `json:"api_id"`
	APIType APIType `json:"api_type"`
	// Enabled is the API's flag now.
	Enabled bool `json:"enabled"`
	// ClosedAt is when apimtls turned the flag off, read back from the
	// description of its deployments; nil when unknown.
	ClosedAt *time.Time   `json:"closed_at,omitempty"`
	Stages   []StageState `json:"stages"`
}

// NeedDeployment lists the stages still serving execute-api until they
// get a new deployment.
func (p *EndpointPlan) NeedDeployment() []string {
	var out []string
	for _, s := range p.Stages {
		if !s.Closed && !s.AutoDeploy {
			out = append(out, s.Name)
		}
	}
	return out
}

// deployMarker starts the description of apimtls's deployments; the time
// after it is when the flag was turned off, so a later run can tell which
// stages still serve a deployment from before the change.
const deployMarker = "apimtls: default execute-api endpoint closed at "

// PlanDefaultEndpoint reads the API's flag, its stages and their live
// deployments.
func (c *Client) PlanDefaultEndpoint(ctx context.Context, id string, t APIType) (*EndpointPlan, error) {
	on, err := c.DefaultEndpoint(ctx, id, t)
	if err != nil {
		return nil, err
	}
	plan := &EndpointPlan{APIID: id, APIType: t, Enabled: on, Stages: []StageState{}}
	stages, err := c.stages(ctx, id, t)
	if err != nil {
		return nil, err
	}
	deps, err := c.deployments(ctx, id, t)
	if err != nil {
		return nil, err
	}
	for _, d := range deps {
		if at, ok := strings.CutPrefix(d.description, deployMarker); ok {
			if ts, err := time.Parse(time.RFC3339, at); err == nil && (plan.ClosedAt == nil || ts.Before(*plan.ClosedAt)) {
				plan.ClosedAt = &ts
			}
		}
	}
	var current map[string]string
	if t == REST {
		if current, err = c.methodAuth(ctx, id); err != nil {
			return nil, err
		}
	}
	for _, st := range stages {
		if d, ok := deps[st.DeploymentID]; ok && d.created != nil {
			st.DeployedAt = d.created
		}
		if t == REST && st.DeploymentID != "" {
			if st.Changed, err = c.changedSince(ctx, id, st.DeploymentID, current); err != nil {
				return nil, err
			}
		}
		// Off, and deployed since (or by apimtls, or automatically).
		st.Closed = !on && (st.AutoDeploy || (st.DeployedAt != nil && plan.ClosedAt != nil && !st.DeployedAt.Before(*plan.ClosedAt)) ||
			strings.HasPrefix(deps[st.DeploymentID].description, deployMarker))
		plan.Stages = append(plan.Stages, st)
	}
	return plan, nil
}

// DisableResult says what DisableDefaultEndpoint changed.
type DisableResult struct {
	*EndpointPlan
	WasEnabled    bool     `json:"was_enabled"`
	Redeployed    []string `json:"redeployed_stages"`
	AutoDeployed  []string `json:"auto_deployed_stages,omitempty"`
	Pending       []string `json:"pending_stages,omitempty"`
	AlreadyClosed bool     `json:"already_closed"`
}

// DisableDefaultEndpoint turns off the execute-api endpoint if it is on,
// then deploys the chosen stages among those still serving a deployment
// from before the change (all of them with all). A deployment publishes
// the API's working definition to the stage, so only chosen stages get
// one; the others are listed as Pending. Deployments are paced by
// CreateDeployment's quota, and a re-run finishes what an earlier run left.
func (c *Client) DisableDefaultEndpoint(ctx context.Context, plan *EndpointPlan, chosen []string, all bool, onWait OnWait) (*DisableResult, error) {
	res := &DisableResult{EndpointPlan: plan, WasEnabled: plan.Enabled, Redeployed: []string{}}
	need := plan.NeedDeployment()
	deploy, err := selectStages(plan, need, chosen, all)
	if err != nil {
		return nil, err
	}
	for _, s := range plan.Stages {
		if s.AutoDeploy {
			res.AutoDeployed = append(res.AutoDeployed, s.Name)
		}
	}
	res.AlreadyClosed = !plan.Enabled && len(need) == 0
	if res.AlreadyClosed {
		return res, nil
	}
	closedAt := plan.ClosedAt
	if plan.Enabled {
		now := c.ClockOrReal().Now().UTC().Truncate(time.Second)
		if err := c.closeEndpoint(ctx, plan.APIID, plan.APIType); err != nil {
			return nil, err
		}
		// Read back: an endpoint that accepts the update and keeps the
		// flag would leave the bypass open while saying it is shut.
		on, err := c.DefaultEndpoint(ctx, plan.APIID, plan.APIType)
		if err != nil {
			return nil, fmt.Errorf("read back the default endpoint of %s: %w", plan.APIID, err)
		}
		if on {
			return nil, fmt.Errorf("the default endpoint of %s still reads as enabled after the update: %w", plan.APIID, ErrReadBack)
		}
		closedAt, plan.Enabled = &now, false
	}
	var why string
	if closedAt != nil {
		why = deployMarker + closedAt.Format(time.RFC3339)
	} else {
		// Closed by someone else, at a time nobody recorded: a deployment
		// now is after it, whenever it was.
		why = deployMarker + c.ClockOrReal().Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	for _, name := range deploy {
		err := c.write(ctx, deployment, onWait, func() error { return c.createDeployment(ctx, plan.APIID, plan.APIType, name, why) })
		if err != nil {
			res.Pending = remove(need, res.Redeployed)
			return res, withStages(err, plan.APIID, res.Pending)
		}
		res.Redeployed = append(res.Redeployed, name)
	}
	res.Pending = remove(need, res.Redeployed)
	return res, nil
}

// Deployments says in words which stages were deployed: "redeployed
// prod, dev", or why none was.
func (r *DisableResult) Deployments() string {
	switch {
	case len(r.Redeployed) > 0:
		return "redeployed " + strings.Join(r.Redeployed, ", ")
	case len(r.AutoDeployed) > 0 && len(r.AutoDeployed) == len(r.Stages):
		return "no stage needed a deployment (auto-deploy)"
	case len(r.Pending) > 0:
		return "no stage deployed; still serving execute-api: " + strings.Join(r.Pending, ", ")
	}
	return "no stage needed a deployment"
}

// selectStages checks the chosen stage names before anything changes.
func selectStages(plan *EndpointPlan, need, chosen []string, all bool) ([]string, error) {
	if all {
		return need, nil
	}
	var out []string
	for _, name := range chosen {
		found := false
		for _, s := range plan.Stages {
			found = found || s.Name == name
		}
		if !found {
			return nil, fmt.Errorf("API %s has no stage %q: nothing was changed", plan.APIID, name)
		}
		if slices.Contains(need, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func remove(from, these []string) []string {
	var out []string
	for _, s := range from {
		if !slices.Contains(these, s) {
			out = append(out, s)
		}
	}
	return out
}

func withStages(err error, id string, pending []string) error {
	return fmt.Errorf("%w (stages of %s still serving execute-api: %s; run the command again to finish them)", err, id, strings.Join(pending, ", "))
}

func (c *Client) closeEndpoint(ctx context.Context, id string, t APIType) error {
	var err error
	if t == HTTP {
		_, err = c.V2.UpdateApi(ctx, &apigatewayv2.UpdateApiInput{ApiId: aws.String(id), DisableExecuteApiEndpoint: aws.Bool(true)})
	} else {
		_, err = c.V1.UpdateRestApi(ctx, &apigateway.UpdateRestApiInput{RestApiId: aws.String(id), PatchOperations: []v1types.PatchOperation{
			{Op: v1types.OpReplace, Path: aws.String("/disableExecuteApiEndpoint"), Value: aws.String("True")}}})
	}
	return classify(err, "disable the default endpoint of "+id)
}

func (c *Client) createDeployment(ctx context.Context, id string, t APIType, stage, why string) error {
	var err error
	if t == HTTP {
		_, err = c.V2.CreateDeployment(ctx, &apigatewayv2.CreateDeploymentInput{ApiId: aws.String(id), StageName: aws.String(stage), Description: aws.String(why)}, noRetryV2)
	} else {
		_, err = c.V1.CreateDeployment(ctx, &apigateway.CreateDeploymentInput{RestApiId: aws.String(id), StageName: aws.String(stage), Description: aws.String(why)}, noRetryV1)
	}
	return classify(err, "deploy stage "+stage+" of "+id)
}

// stages lists every stage of an API with its live deployment.
func (c *Client) stages(ctx context.Context, id string, t APIType) ([]StageState, error) {
	var all []StageState
	if t == REST {
		out, err := c.V1.GetStages(ctx, &apigateway.GetStagesInput{RestApiId: aws.String(id)})
		if err != nil {
			return nil, classify(err, "list the stages of "+id)
		}
		for _, s := range out.Item {
			all = append(all, StageState{Name: aws.ToString(s.StageName), DeploymentID: aws.ToString(s.DeploymentId)})
		}
		return all, nil
	}
	return every(func(token *string) ([]StageState, *string, error) {
		page, err := c.V2.GetStages(ctx, &apigatewayv2.GetStagesInput{ApiId: aws.String(id), NextToken: token})
		if err != nil {
			return nil, nil, classify(err, "list the stages of "+id)
		}
		var out []StageState
		for _, s := range page.Items {
			out = append(out, StageState{Name: aws.ToString(s.StageName), AutoDeploy: aws.ToBool(s.AutoDeploy), DeploymentID: aws.ToString(s.DeploymentId)})
		}
		return out, page.NextToken, nil
	})
}

type deploymentInfo struct {
	created     *time.Time
	description string
}

type deploymentWithID struct {
	id string
	deploymentInfo
}

// deployments reads every page of an API's deployments.
func (c *Client) deployments(ctx context.Context, id string, t APIType) (map[string]deploymentInfo, error) {
	var all []deploymentWithID
	var err error
	if t == REST {
		all, err = every(func(pos *string) ([]deploymentWithID, *string, error) {
			page, err := c.V1.GetDeployments(ctx, &apigateway.GetDeploymentsInput{RestApiId: aws.String(id), Limit: aws.Int32(500), Position: pos})
			if err != nil {
				return nil, nil, classify(err, "list the deployments of "+id)
			}
			var out []deploymentWithID
			for _, d := range page.Items {
				out = append(out, deploymentWithID{aws.ToString(d.Id), deploymentInfo{d.CreatedDate, aws.ToString(d.Description)}})
			}
			return out, page.Position, nil
		})
	} else {
		all, err = every(func(token *string) ([]deploymentWithID, *string, error) {
			page, err := c.V2.GetDeployments(ctx, &apigatewayv2.GetDeploymentsInput{ApiId: aws.String(id), NextToken: token})
			if err != nil {
				return nil, nil, classify(err, "list the deployments of "+id)
			}
			var out []deploymentWithID
			for _, d := range page.Items {
				out = append(out, deploymentWithID{aws.ToString(d.DeploymentId), deploymentInfo{d.CreatedDate, aws.ToString(d.Description)}})
			}
			return out, page.NextToken, nil
		})
	}
	out := map[string]deploymentInfo{}
	for _, d := range all {
		out[d.id] = d.deploymentInfo
	}
	return out, err
}

// methodAuth is every method of a REST API now, "METHOD /path" to its
// authorization type.
func (c *Client) methodAuth(ctx context.Context, id string) (map[string]string, error) {
	routes, err := c.Routes(ctx, id, REST)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range routes {
		out[r.Key] = r.AuthorizationType
	}
	return out, nil
}

// changedSince compares a deployment's apiSummary with the methods now.
func (c *Client) changedSince(ctx context.Context, id, deployment string, current map[string]string) (*bool, error) {
	out, err := c.V1.GetDeployment(ctx, &apigateway.GetDeploymentInput{RestApiId: aws.String(id), DeploymentId: aws.String(deployment), Embed: []string{"apisummary"}})
	if err != nil {
		return nil, classify(err, "read deployment "+deployment+" of "+id)
	}
	deployed := map[string]string{}
	for path, methods := range out.ApiSummary {
		for method, m := range methods {
			deployed[method+" "+path] = aws.ToString(m.AuthorizationType)
		}
	}
	changed := len(deployed) != len(current)
	for k, v := range current {
		changed = changed || deployed[k] != v
	}
	return &changed, nil
}
