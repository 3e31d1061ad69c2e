package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

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

func (p *planner) role() {
	name := RoleName(p.in.FunctionName)
	account := "ACCOUNT"
	if p.o.role != nil {
		p.roleArn = aws.ToString(p.o.role.Role.Arn)
		account = accountOf(p.roleArn)
		if canonical(decodeDoc(aws.ToString(p.o.role.Role.AssumeRolePolicyDocument))) != canonical(TrustPolicy) {
			p.add("update trust policy of role", name, "only lambda.amazonaws.com may assume it", func(ctx context.Context) error {
				_, err := p.r.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(TrustPolicy)})
				return err
			})
		}
	} else {
		p.add("create role", name, "execution role trusted by lambda.amazonaws.com only", func(ctx context.Context) error {
			out, err := p.r.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(TrustPolicy),
				Description: aws.String(roleDescPrefix + p.in.FunctionName)})
			if err == nil {
				p.roleArn = aws.ToString(out.Role.Arn)
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
			_, err := p.r.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(RolePolicyName), PolicyDocument: aws.String(doc)})
			return err
		})
	}
	p.res.RoleArn = p.roleArn
}

func (p *planner) function() {
	name, env, arch := p.in.FunctionName, Env(p.in), lambdaArch(p.in.Arch)
	fn := p.o.fn
	if fn == nil {
		account := accountOf(p.roleArn)
		if account == "" {
			account = "ACCOUNT" // known once the role exists
		}
		p.functionArn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", p.in.Region, account, name)
		p.add("create function", name, fmt.Sprintf("%s on %s, environment %s", Runtime, arch, envText(env)), func(ctx context.Context) error {
			var out *lambda.CreateFunctionOutput
			err := p.r.retryRole(ctx, func() error {
				var err error
				out, err = p.r.Lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: aws.String(p.roleArn),
					Runtime: ltypes.Runtime(Runtime), Handler: aws.String("bootstrap"), Architectures: []ltypes.Architecture{arch},
					Code: &ltypes.FunctionCode{ZipFile: p.in.Package}, Environment: &ltypes.Environment{Variables: env}, Timeout: aws.Int32(10), MemorySize: aws.Int32(256),
					Description: aws.String("apimtls revocation authorizer for API " + p.in.APIID)})
				return err
			})
			if err == nil {
				p.functionArn = aws.ToString(out.FunctionArn)
			}
			return err
		})
		p.res.FunctionArn = p.functionArn
		return
	}
	p.functionArn = aws.ToString(fn.FunctionArn)
	p.res.FunctionArn = p.functionArn
	newCode := len(p.in.Package) > 0 && aws.ToString(fn.CodeSha256) != codeSha(p.in.Package)
	if newCode || len(fn.Architectures) != 1 || fn.Architectures[0] != arch {
		p.add("update function code", name, "new bootstrap for "+string(arch), func(ctx context.Context) error {
			if err := p.r.waitFunction(ctx, name); err != nil {
				return err
			}
			_, err := p.r.Lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: p.in.Package, Architectures: []ltypes.Architecture{arch}})
			return err
		})
	}
	var have map[string]string
	if fn.Environment != nil {
		have = fn.Environment.Variables
	}
	if !maps.Equal(have, env) || string(fn.Runtime) != Runtime || aws.ToString(fn.Handler) != "bootstrap" || p.o.role == nil || aws.ToString(fn.Role) != p.roleArn {
		p.add("update function configuration", name, "environment "+envText(env), func(ctx context.Context) error {
			if err := p.r.waitFunction(ctx, name); err != nil {
				return err
			}
			return p.r.retryRole(ctx, func() error {
				_, err := p.r.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Role: aws.String(p.roleArn),
					Runtime: ltypes.Runtime(Runtime), Handler: aws.String("bootstrap"), Environment: &ltypes.Environment{Variables: env}})
				return err
			})
		})
	}
}

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
			if _, err := p.r.Lambda.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(p.in.FunctionName), StatementId: aws.String(sid)}); err != nil && !notFound(err) {
				return err
			}
			return p.addPermission(ctx, sid, src())
		})
		return
	}
	p.add("add invoke permission", sid, detail, func(ctx context.Context) error { return p.addPermission(ctx, sid, src()) })
}

func (p *planner) addPermission(ctx context.Context, sid, src string) error {
	_, err := p.r.Lambda.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String(p.in.FunctionName), StatementId: aws.String(sid),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("apigateway.amazonaws.com"), SourceArn: aws.String(src),
		SourceAccount: aws.String(accountOf(p.functionArn))})
	return err
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
