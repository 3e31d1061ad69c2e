package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/apimtls/apimtls/apigw"
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

// statusSummary is the one line authorizer status says.
func statusSummary(res *AuthorizerResult, authID string) string {
	n := 0
	for _, rt := range res.Routes {
		if rt.State == "protected" {
			n++
		}
	}
	switch {
	case authID == "":
		return fmt.Sprintf("%s has no apimtls authorizer: no route is checked for revocation", res.APIID)
	case len(res.PendingStages) > 0:
		return fmt.Sprintf("%s: authorizer %s attached, but stages %s still serve a deployment without it", res.APIID, authID, strings.Join(res.PendingStages, ", "))
	}
	return fmt.Sprintf("%s: %d of %d routes protected by authorizer %s", res.APIID, n, len(res.Routes), authID)
}
