package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/apimtls/apimtls/apigw"
)

// observed is what exists now.
type observed struct {
	t          apigw.APIType
	role       *iam.GetRoleOutput
	rolePolicy string
	fn         *ltypes.FunctionConfiguration
	statement  string // our statement's SourceArn, "" if absent
	statements int    // statements in the function policy
	authorizer *apigw.Authorizer
	routes     []apigw.Route
	stages     []apigw.StageDeployment
}

// observe reads what a deployment is made of: the API's type (unless
// given), routes,
// authorizers and stages, the function (the one our authorizer invokes,
// else function, else the default) with its policy, and its role.
func (r *Rollout) observe(ctx context.Context, apiID string, t apigw.APIType, function string) (*observed, error) {
	t, err := r.apiType(ctx, apiID, t)
	if err != nil {
		return nil, err
	}
	o := &observed{t: t}
	if o.routes, err = r.API.Routes(ctx, apiID, t); err != nil {
		return nil, err
	}
	auths, err := r.API.Authorizers(ctx, apiID, t)
	if err != nil {
		return nil, err
	}
	o.authorizer = ours(auths)
	if o.stages, err = r.API.StageDeployments(ctx, apiID, t); err != nil {
		return nil, err
	}
	if o.authorizer != nil && function == "" {
		if i := strings.LastIndex(o.authorizer.URI, ":function:"); i >= 0 {
			function = strings.TrimSuffix(o.authorizer.URI[i+len(":function:"):], "/invocations")
		}
	}
	if function == "" {
		function = DefaultFunctionName(apiID)
	}
	fn, err := r.getFunction(ctx, function)
	if err != nil {
		return nil, err
	}
	if fn != nil {
		o.fn = fn.Configuration
		if o.statement, o.statements, err = r.invokeStatement(ctx, function, StatementID(apiID)); err != nil {
			return nil, err
		}
	}
	roleName := RoleName(function)
	if o.role, err = r.getRole(ctx, roleName); err != nil {
		return nil, err
	}
	if o.role != nil {
		if o.rolePolicy, err = r.getRolePolicy(ctx, roleName); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// findStatement returns the SourceArn of statement sid and how many
// statements the policy has.
func findStatement(policy, sid string) (string, int) {
	var p struct {
		Statement []struct {
			Sid       string
			Condition map[string]map[string]string
		}
	}
	if json.Unmarshal([]byte(policy), &p) != nil {
		return "", 0
	}
	for _, s := range p.Statement {
		if s.Sid == sid {
			src := s.Condition["ArnLike"]["AWS:SourceArn"]
			if src == "" {
				src = "(unscoped)"
			}
			return src, len(p.Statement)
		}
	}
	return "", len(p.Statement)
}

// marker is the description of the deployments apimtls makes: it names
// the routes' authorization and the authorizer's settings it deploys, so a
// later run can tell which stages serve them. A deployment snapshots the
// authorizers too: a changed TTL or function is served only after the next
// deployment of a REST stage or of an HTTP stage without auto-deploy
// (docs/aws.md). Without an authorizer the marker is the routes' alone.
func marker(routes []apigw.Route, auth *apigw.Authorizer) string {
	h := sha256.New()
	for _, rt := range routes {
		fmt.Fprintf(h, "%s=%s:%s\n", rt.Key, rt.AuthorizationType, rt.AuthorizerID)
	}
	if auth != nil {
		fmt.Fprintf(h, "authorizer %s %s %s ttl=%d source=%s payload=%s simple=%v\n", auth.ID, auth.Type, auth.URI, auth.TTL,
			strings.Join(auth.IdentitySource, ","), auth.PayloadVersion, auth.SimpleResponses)
	}
	return markerPrefix + hex.EncodeToString(h.Sum(nil))[:16]
}

// pendingStages are the stages without auto-deploy whose deployment does
// not carry the routes' authorization and the authorizer as they are.
func pendingStages(stages []apigw.StageDeployment, routes []apigw.Route, auth *apigw.Authorizer) []string {
	want := marker(routes, auth)
	var out []string
	for _, s := range stages {
		if !s.AutoDeploy && s.Description != want {
			out = append(out, s.Name)
		}
	}
	return out
}

// ours is apimtls's authorizer among an API's, or nil.
func ours(auths []apigw.Authorizer) *apigw.Authorizer {
	for i := range auths {
		if auths[i].Name == AuthorizerName {
			return &auths[i]
		}
	}
	return nil
}

// currentMarker reads the routes and the authorizer as the API holds them
// now and names them as a deployment of them will be described.
func (r *Rollout) currentMarker(ctx context.Context, apiID string, t apigw.APIType) (string, error) {
	routes, err := r.API.Routes(ctx, apiID, t)
	if err != nil {
		return "", err
	}
	auths, err := r.API.Authorizers(ctx, apiID, t)
	if err != nil {
		return "", err
	}
	return marker(routes, ours(auths)), nil
}

func (r *Rollout) apiType(ctx context.Context, id string, t apigw.APIType) (apigw.APIType, error) {
	if t == apigw.HTTP || t == apigw.REST {
		return t, nil
	}
	return r.API.DetectAPI(ctx, id)
}
