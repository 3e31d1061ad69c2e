package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/plural"
)

// planner builds the steps of a deployment from what exists.
type planner struct {
	r           *Rollout
	in          AuthorizerInput
	o           *observed
	res         *AuthorizerResult
	roleArn     string
	functionArn string
	authID      string
	// finalAuth is the authorizer as it will be once the steps ran (nil
	// while it is still to be created, or on remove).
	finalAuth   *apigw.Authorizer
	finalRoutes []apigw.Route
	pending     []string
}

func (p *planner) add(step, target, detail string, do func(ctx context.Context) error) {
	p.res.Changes = append(p.res.Changes, Change{Step: step, Target: target, Detail: detail, do: do})
}

// selectRoutes checks the route keys asked for; none or "all" is every
// route.
func selectRoutes(routes []apigw.Route, want []string) (map[string]bool, error) {
	sel := map[string]bool{}
	if len(want) == 0 || (len(want) == 1 && want[0] == "all") {
		for _, rt := range routes {
			sel[rt.Key] = true
		}
		return sel, nil
	}
	var missing []string
	for _, w := range want {
		found := false
		for _, rt := range routes {
			found = found || rt.Key == w
		}
		if !found {
			missing = append(missing, fmt.Sprintf("%q", w))
		}
		sel[w] = true
	}
	if len(missing) > 0 {
		var keys []string
		for _, rt := range routes {
			keys = append(keys, rt.Key)
		}
		return nil, fmt.Errorf("the API has no route %s (its routes: %s); nothing was changed", strings.Join(missing, ", "), strings.Join(keys, ", "))
	}
	return sel, nil
}

// role plans the execution role: created, or its trust policy put back
// to Lambda only, and its inline policy as RolePolicy says.
func (p *planner) role() {
	name := RoleName(p.in.FunctionName)
	account := "ACCOUNT"
	if p.o.role != nil {
		p.roleArn = aws.ToString(p.o.role.Role.Arn)
		account = accountOf(p.roleArn)
		if canonical(decodeDoc(aws.ToString(p.o.role.Role.AssumeRolePolicyDocument))) != canonical(TrustPolicy) {
			p.add("update trust policy of role", name, "only lambda.amazonaws.com may assume it", func(ctx context.Context) error {
				return p.r.updateTrustPolicy(ctx, name)
			})
		}
	} else {
		p.add("create role", name, "execution role trusted by lambda.amazonaws.com only", func(ctx context.Context) error {
			arn, err := p.r.createRole(ctx, name, p.in.FunctionName)
			if err == nil {
				p.roleArn = arn
			}
			return err
		})
	}
	want := RolePolicy(p.in, account)
	p.res.RolePolicy = json.RawMessage(want)
	if p.o.role == nil || canonical(p.o.rolePolicy) != canonical(want) {
		p.add("put role policy", name+"/"+RolePolicyName, "read s3://"+p.in.Bucket+"/"+p.in.Key+" and s3://"+p.in.Bucket+"/"+p.in.Prefix+"*, write its own logs", func(ctx context.Context) error {
			doc := RolePolicy(p.in, accountOf(p.roleArn))
			p.res.RolePolicy = json.RawMessage(doc)
			return p.r.putRolePolicy(ctx, name, doc)
		})
	}
	p.res.RoleArn = p.roleArn
}

// functionSpec is the function as asked, with the role as it is when the
// step runs (a new role's ARN is known only then).
func (p *planner) functionSpec() functionSpec {
	return functionSpec{name: p.in.FunctionName, role: p.roleArn, apiID: p.in.APIID, arch: lambdaArch(p.in.Arch), zip: p.in.Package, env: Env(p.in)}
}

// function plans the function: created, or its code and configuration
// updated where they differ from what is asked.
func (p *planner) function() {
	fn := p.o.fn
	if fn == nil {
		p.newFunction()
		return
	}
	f := p.functionSpec()
	p.functionArn = aws.ToString(fn.FunctionArn)
	p.res.FunctionArn = p.functionArn
	newCode := len(f.zip) > 0 && aws.ToString(fn.CodeSha256) != codeSha(f.zip)
	if newCode || len(fn.Architectures) != 1 || fn.Architectures[0] != f.arch {
		p.add("update function code", f.name, "new bootstrap for "+string(f.arch), func(ctx context.Context) error {
			return p.r.updateFunctionCode(ctx, p.functionSpec())
		})
	}
	var have map[string]string
	if fn.Environment != nil {
		have = fn.Environment.Variables
	}
	if !maps.Equal(have, f.env) || string(fn.Runtime) != Runtime || aws.ToString(fn.Handler) != "bootstrap" || p.o.role == nil || aws.ToString(fn.Role) != p.roleArn {
		p.add("update function configuration", f.name, "environment "+envText(f.env), func(ctx context.Context) error {
			return p.r.updateFunctionConfiguration(ctx, p.functionSpec())
		})
	}
}

// newFunction plans the creation of the function; its ARN names the
// account once the role exists.
func (p *planner) newFunction() {
	f := p.functionSpec()
	account := accountOf(p.roleArn)
	if account == "" {
		account = "ACCOUNT" // known once the role exists
	}
	p.functionArn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", p.in.Region, account, f.name)
	p.add("create function", f.name, fmt.Sprintf("%s on %s, environment %s", Runtime, f.arch, envText(f.env)), func(ctx context.Context) error {
		arn, err := p.r.createFunction(ctx, p.functionSpec())
		if err == nil {
			p.functionArn = arn
		}
		return err
	})
	p.res.FunctionArn = p.functionArn
}

// permission plans this API's invoke permission on the function, scoped
// to its authorizers; one scoped otherwise is replaced.
func (p *planner) permission() {
	sid := StatementID(p.in.APIID)
	src := func() string { return SourceArn(p.in.Region, accountOf(p.functionArn), p.in.APIID) }
	p.res.SourceArn = src()
	if p.o.fn != nil && p.o.statement == src() {
		return
	}
	detail := "lambda:InvokeFunction for apigateway.amazonaws.com from " + src()
	if p.o.statement != "" {
		p.add("replace invoke permission", sid, detail, func(ctx context.Context) error {
			if err := p.r.removePermission(ctx, p.in.FunctionName, sid); err != nil {
				return err
			}
			return p.addPermission(ctx, sid, src())
		})
		return
	}
	p.add("add invoke permission", sid, detail, func(ctx context.Context) error { return p.addPermission(ctx, sid, src()) })
}

func (p *planner) addPermission(ctx context.Context, sid, src string) error {
	return p.r.addPermission(ctx, p.in.FunctionName, sid, src, accountOf(p.functionArn))
}

func (p *planner) authorizer() {
	want := p.r.wantAuthorizer(p.o.t, p.functionArn, p.in.CacheTTL)
	if a := p.o.authorizer; a != nil {
		p.authID = a.ID
		want.ID = a.ID
		// A REST authorizer takes no empty identity source: going back to
		// TTL 0, it keeps the client certificate's serial, which every
		// mTLS request carries (docs/aws.md).
		if p.o.t == apigw.REST && want.TTL == 0 && len(a.IdentitySource) > 0 {
			want.IdentitySource = identitySource(apigw.REST, 1)
		}
		p.finalAuth = &want
		p.res.AuthorizerID = a.ID
		if a.Same(want) {
			return
		}
		p.add("update authorizer", AuthorizerName, authorizerDetail(want), func(ctx context.Context) error {
			_, err := p.r.API.PutAuthorizer(ctx, p.in.APIID, p.o.t, want, p.r.controlWait)
			return err
		})
		return
	}
	p.authID = "(new)"
	p.add("create authorizer", AuthorizerName, authorizerDetail(want), func(ctx context.Context) error {
		id, err := p.r.API.PutAuthorizer(ctx, p.in.APIID, p.o.t, p.r.wantAuthorizer(p.o.t, p.functionArn, p.in.CacheTTL), p.r.controlWait)
		p.authID, p.res.AuthorizerID = id, id
		return err
	})
}

// attach protects the selected routes that are not protected yet; a route
// guarded by another authorizer is left alone and said so.
func (p *planner) attach(selected map[string]bool) {
	for _, rt := range p.o.routes {
		final := rt
		switch {
		case !selected[rt.Key]:
		case rt.AuthorizationType == "CUSTOM" && rt.AuthorizerID == p.authID:
		case rt.AuthorizationType != "NONE":
			p.res.Notes = append(p.res.Notes, fmt.Sprintf("%s is guarded by %s %s: left alone (a route takes one authorizer)", rt.Key, rt.AuthorizationType, rt.AuthorizerID))
		default:
			final.AuthorizationType, final.AuthorizerID = "CUSTOM", p.authID
			rt := rt
			p.add("attach authorizer to", rt.Key, "", func(ctx context.Context) error {
				return p.r.API.SetRouteAuth(ctx, p.in.APIID, p.o.t, rt, p.authID, p.r.controlWait)
			})
		}
		p.finalRoutes = append(p.finalRoutes, final)
	}
}

// deploy plans a deployment of every stage (without auto-deploy) that
// does not serve the final routes yet. The marker is computed from what
// the API holds once the steps ran, since a new authorizer's ID is known
// only then.
func (p *planner) deploy() {
	if p.authID == "(new)" {
		p.pending = nil
		for _, s := range p.o.stages {
			if !s.AutoDeploy {
				p.pending = append(p.pending, s.Name)
			}
		}
	} else {
		p.pending = pendingStages(p.o.stages, p.finalRoutes, p.finalAuth)
	}
	p.res.PendingStages = p.pending
	detail := "publishes the API's current definition to the stage"
	if p.o.authorizer != nil && p.finalAuth != nil && !p.o.authorizer.Same(*p.finalAuth) {
		detail = "the authorizer's change is served only after a deployment; " + detail
	}
	for _, stage := range p.pending {
		stage := stage
		p.add("deploy stage", stage, detail, func(ctx context.Context) error {
			m, err := p.r.currentMarker(ctx, p.in.APIID, p.o.t)
			if err != nil {
				return err
			}
			return p.r.API.Deploy(ctx, p.in.APIID, p.o.t, stage, m, p.r.controlWait)
		})
	}
}

func routeStates(after []apigw.Route, authID string, pending []string) []RouteState {
	out := []RouteState{}
	for _, rt := range after {
		st := RouteState{Route: rt.Key}
		switch {
		case rt.AuthorizationType == "CUSTOM" && rt.AuthorizerID == authID:
			st.State = "protected"
			if len(pending) > 0 {
				st.State = "pending deployment"
			}
		case rt.AuthorizationType == "NONE":
			st.State = "unprotected"
		default:
			st.State, st.By = "other", rt.AuthorizationType+" "+rt.AuthorizerID
		}
		out = append(out, st)
	}
	return out
}

func planSummary(res *AuthorizerResult) string {
	if len(res.Changes) == 0 {
		return fmt.Sprintf("authorizer on %s is as asked: nothing to change", res.APIID)
	}
	lines := []string{fmt.Sprintf("plan for %s (%s):", res.APIID, plural.Count(len(res.Changes), "step"))}
	for _, c := range res.Changes {
		line := "  " + c.Step + " " + c.Target
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}
