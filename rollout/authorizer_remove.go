package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/apimtls/apimtls/internal/plural"
)

// RemoveAuthorizer undoes exactly what DeployAuthorizer did: it detaches
// the authorizer from the routes it guards (and from no other), deploys
// the stages, deletes the authorizer, removes this API's invoke
// permission, and deletes the function and its role when no other API's
// permission is left on the function.
func (r *Rollout) RemoveAuthorizer(ctx context.Context, in RemoveInput) (*AuthorizerResult, error) {
	o, err := r.observe(ctx, in.APIID, in.APIType, in.FunctionName)
	if err != nil {
		return nil, err
	}
	res := &AuthorizerResult{APIID: in.APIID, APIType: o.t, DryRun: in.DryRun, Changes: []Change{}}
	p := &planner{r: r, o: o, res: res, in: AuthorizerInput{APIID: in.APIID}}
	p.removeAuthorizer()
	// The invoke permissions other APIs hold on the function.
	others := o.statements
	if o.statement != "" {
		others--
	}
	if o.fn != nil {
		p.removeFunction(others)
	}
	if o.role != nil && (o.fn == nil || others == 0) {
		p.removeRole()
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

// removeAuthorizer plans the authorizer's detachment from every route
// that names it, the deployment of the stages, and its deletion.
func (p *planner) removeAuthorizer() {
	o, apiID := p.o, p.in.APIID
	authID := ""
	if o.authorizer != nil {
		authID, p.res.AuthorizerID = o.authorizer.ID, o.authorizer.ID
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
				return p.r.API.SetRouteAuth(ctx, apiID, o.t, rt, "", p.r.controlWait)
			})
		}
		p.finalRoutes = append(p.finalRoutes, final)
	}
	if len(p.res.Changes) > 0 || authID != "" {
		p.deploy()
	}
	if authID != "" {
		p.add("delete authorizer", AuthorizerName, authID, func(ctx context.Context) error {
			return p.r.API.DeleteAuthorizer(ctx, apiID, o.t, authID, p.r.controlWait)
		})
	}
}

// removeFunction plans the removal of this API's invoke permission, and
// of the function unless other APIs hold permissions on it.
func (p *planner) removeFunction(others int) {
	name, sid := aws.ToString(p.o.fn.FunctionName), StatementID(p.in.APIID)
	p.res.FunctionName, p.res.FunctionArn = name, aws.ToString(p.o.fn.FunctionArn)
	if p.o.statement != "" {
		p.add("remove invoke permission", sid, "from "+name, func(ctx context.Context) error {
			return p.r.removePermission(ctx, name, sid)
		})
	}
	if others > 0 {
		p.res.Notes = append(p.res.Notes, fmt.Sprintf("function %s is kept: %s of other APIs on it", name, plural.Count(others, "permission")))
		return
	}
	p.add("delete function", name, "", func(ctx context.Context) error { return p.r.deleteFunction(ctx, name) })
}

// removeRole plans the deletion of the execution role and its policy, if
// apimtls made the role.
func (p *planner) removeRole() {
	role := p.o.role.Role
	name := aws.ToString(role.RoleName)
	if !strings.HasPrefix(aws.ToString(role.Description), roleDescPrefix) {
		p.res.Notes = append(p.res.Notes, fmt.Sprintf("role %s was not made by apimtls: kept", name))
		return
	}
	p.res.RoleArn = aws.ToString(role.Arn)
	if p.o.rolePolicy != "" {
		p.add("delete role policy", name+"/"+RolePolicyName, "", func(ctx context.Context) error { return p.r.deleteRolePolicy(ctx, name) })
	}
	p.add("delete role", name, "", func(ctx context.Context) error { return p.r.deleteRole(ctx, name) })
}
