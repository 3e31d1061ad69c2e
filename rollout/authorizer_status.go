package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/plural"
)

// AuthorizerStatus says which routes the revocation authorizer guards,
// which stages do not serve it yet, and what of the deployment exists.
func (r *Rollout) AuthorizerStatus(ctx context.Context, apiID string, t apigw.APIType) (*AuthorizerResult, error) {
	o, err := r.observe(ctx, apiID, t, "")
	if err != nil {
		return nil, err
	}
	res := &AuthorizerResult{APIID: apiID, APIType: o.t, Changes: []Change{}}
	authID := ""
	if o.authorizer != nil {
		authID, res.AuthorizerID = o.authorizer.ID, o.authorizer.ID
	}
	if o.fn != nil {
		res.FunctionName, res.FunctionArn = aws.ToString(o.fn.FunctionName), aws.ToString(o.fn.FunctionArn)
		if o.statement == "" {
			res.Notes = append(res.Notes, "the function has no permission for this API: API Gateway cannot invoke it and every guarded request fails")
		}
		res.SourceArn = o.statement
	} else if o.authorizer != nil {
		res.Notes = append(res.Notes, "the authorizer's function does not exist: every guarded request fails")
	}
	if o.role != nil {
		res.RoleArn = aws.ToString(o.role.Role.Arn)
		if o.rolePolicy != "" {
			res.RolePolicy = json.RawMessage(canonical(o.rolePolicy))
		}
	}
	if authID != "" {
		res.PendingStages = pendingStages(o.stages, o.routes, o.authorizer)
	}
	res.Routes = routeStates(o.routes, authID, res.PendingStages)
	res.Summary = statusSummary(res, authID)
	return res, nil
}

// statusSummary is the one line authorizer status says: with the routes
// a request reaches unchecked named, so that "attached" never reads as
// done beside an unprotected route.
func statusSummary(res *AuthorizerResult, authID string) string {
	n := 0
	var open []string
	for _, rt := range res.Routes {
		switch rt.State {
		case "protected":
			n++
		case "unprotected":
			open = append(open, rt.Route)
		}
	}
	var line string
	switch {
	case authID == "":
		return fmt.Sprintf("%s has no apimtls authorizer: no route is checked for revocation", res.APIID)
	case len(res.PendingStages) > 0:
		line = fmt.Sprintf("%s: authorizer %s attached, but stages %s still serve a deployment without it", res.APIID, authID, strings.Join(res.PendingStages, ", "))
	default:
		line = fmt.Sprintf("%s: %d of %d routes protected by authorizer %s", res.APIID, n, len(res.Routes), authID)
	}
	if len(open) > 0 {
		line += fmt.Sprintf("; %s unprotected: %s", plural.Count(len(open), "route"), strings.Join(open, ", "))
	}
	return line
}

// Unchecked is the routes a request reaches without the revocation
// check: unprotected, or attached but not yet served by every stage
// (pending deployment). A route another authorizer guards is the
// operator's choice, and not among them.
func (res *AuthorizerResult) Unchecked() []RouteState {
	var out []RouteState
	for _, rt := range res.Routes {
		if rt.State == "unprotected" || rt.State == "pending deployment" {
			out = append(out, rt)
		}
	}
	return out
}
