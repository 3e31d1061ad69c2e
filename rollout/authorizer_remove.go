package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/apimtls/apimtls/internal/plural"
)

// RemoveAuthorizer undoes exactly what DeployAuthorizer did: it detaches
// the authorizer from the routes it guards (and from no other), deploys
// the stages, deletes the authorizer, removes this API's invoke
// permission, and deletes the function and its role when no other API's
// permission is left on the function.
func (r *Rollout) RemoveAuthorizer(ctx context.Context, in RemoveInput) (*AuthorizerResult, error) {
	t, err := r.apiType(ctx, in.APIID, in.APIType)
	if err != nil {
		return nil, err
	}
	o, err := r.observe(ctx, in.APIID, t, in.FunctionName)
	if err != nil {
		return nil, err
	}
	res := &AuthorizerResult{APIID: in.APIID, APIType: t, DryRun: in.DryRun, Changes: []Change{}}
	p := &planner{r: r, o: o, res: res, in: AuthorizerInput{APIID: in.APIID}}
	authID := ""
	if o.authorizer != nil {
		authID, res.AuthorizerID = o.authorizer.ID, o.authorizer.ID
	}
	for _, rt := range o.routes {
		final := rt
		// A route that names the authorizer, whatever its type (an update
		// of the type alone may have left the ID): AWS refuses to delete an
		// authorizer a route still names.
		if authID != "" && rt.AuthorizerID == authID {
			final.AuthorizationType, final.AuthorizerID = "NONE", ""
			rt := rt
			p.add("detach authorizer from", rt.Key, "", func(ctx context.Context) error {
				return r.API.SetRouteAuth(ctx, in.APIID, t, rt, "", r.controlWait)
			})
		}
		p.finalRoutes = append(p.finalRoutes, final)
	}
	if len(res.Changes) > 0 || authID != "" {
		p.deploy()
	}
	if authID != "" {
		p.add("delete authorizer", AuthorizerName, authID, func(ctx context.Context) error {
			return r.API.DeleteAuthorizer(ctx, in.APIID, t, authID, r.controlWait)
		})
	}
	// The invoke permissions other APIs hold on the function.
	others := o.statements
	if o.statement != "" {
		others--
	}
	if o.fn != nil {
		name := aws.ToString(o.fn.FunctionName)
		res.FunctionName, res.FunctionArn = name, aws.ToString(o.fn.FunctionArn)
		if o.statement != "" {
			p.add("remove invoke permission", StatementID(in.APIID), "from "+name, func(ctx context.Context) error {
				_, err := r.Lambda.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(name), StatementId: aws.String(StatementID(in.APIID))})
				if notFound(err) {
					return nil
				}
				return err
			})
		}
		if others > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("function %s is kept: %s of other APIs on it", name, plural.Count(others, "permission")))
		} else {
			p.add("delete function", name, "", func(ctx context.Context) error {
				_, err := r.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
				if notFound(err) {
					return nil
				}
				return err
			})
		}
	}
	if o.role != nil && (o.fn == nil || others == 0) {
		name := aws.ToString(o.role.Role.RoleName)
		if !strings.HasPrefix(aws.ToString(o.role.Role.Description), roleDescPrefix) {
			res.Notes = append(res.Notes, fmt.Sprintf("role %s was not made by apimtls: kept", name))
		} else {
			res.RoleArn = aws.ToString(o.role.Role.Arn)
			if o.rolePolicy != "" {
				p.add("delete role policy", name+"/"+RolePolicyName, "", func(ctx context.Context) error {
					_, err := r.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(RolePolicyName)})
					if notFound(err) {
						return nil
					}
					return err
				})
			}
			p.add("delete role", name, "", func(ctx context.Context) error {
				_, err := r.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)})
				if notFound(err) {
					return nil
				}
				return err
			})
		}
	}
	res.Routes = routeStates(p.finalRoutes, "", nil)
	if in.DryRun || len(res.Changes) == 0 {
		res.Summary = planSummary(res)
		if len(res.Changes) == 0 {
			res.Summary = fmt.Sprintf("no apimtls authorizer on %s: nothing to remove", in.APIID)
		}
		return res, nil
	}
	if err := p.execute(ctx); err != nil {
		return res, err
	}
	res.Summary = fmt.Sprintf("authorizer removed from %s: %s", in.APIID, plural.Count(len(res.Changes), "change"))
	return res, nil
}
