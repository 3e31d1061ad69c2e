package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/awserr"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/s3store"
)

// LambdaAPI lists the Lambda calls an authorizer deployment makes.
type LambdaAPI interface {
	GetFunction(context.Context, *lambda.GetFunctionInput, ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
	CreateFunction(context.Context, *lambda.CreateFunctionInput, ...func(*lambda.Options)) (*lambda.CreateFunctionOutput, error)
	UpdateFunctionCode(context.Context, *lambda.UpdateFunctionCodeInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error)
	UpdateFunctionConfiguration(context.Context, *lambda.UpdateFunctionConfigurationInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error)
	DeleteFunction(context.Context, *lambda.DeleteFunctionInput, ...func(*lambda.Options)) (*lambda.DeleteFunctionOutput, error)
	GetPolicy(context.Context, *lambda.GetPolicyInput, ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error)
	AddPermission(context.Context, *lambda.AddPermissionInput, ...func(*lambda.Options)) (*lambda.AddPermissionOutput, error)
	RemovePermission(context.Context, *lambda.RemovePermissionInput, ...func(*lambda.Options)) (*lambda.RemovePermissionOutput, error)
}

// IAMAPI lists the IAM calls an authorizer deployment makes.
type IAMAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
}

// Names apimtls gives what it deploys, so that a later run, status and
// remove find exactly its own things.
const (
	// AuthorizerName names the authorizer on the API.
	AuthorizerName = "apimtls-revocation"
	// RolePolicyName names the execution role's only inline policy.
	RolePolicyName = "apimtls-authorizer"
	// Runtime is the Lambda runtime of the authorizer.
	Runtime        = "provided.al2023"
	markerPrefix   = "apimtls authorizer "
	roleDescPrefix = "apimtls authorizer execution role for "
)

// DefaultFunctionName is the authorizer function of an API.
func DefaultFunctionName(apiID string) string { return "apimtls-authorizer-" + apiID }

// RoleName is the execution role of a function.
func RoleName(function string) string {
	n := function + "-role"
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// StatementID is the function policy statement that lets one API invoke it.
func StatementID(apiID string) string { return "apimtls-" + apiID }

// AuthorizerInput is what authorizer deploy needs.
type AuthorizerInput struct {
	APIID   string
	APIType apigw.APIType
	// Region of the API (and of the function, role policy and log group).
	Region string
	// Bucket, Key and Prefix locate the truststore and the CRLs the
	// authorizer reads; TruststoreVersion pins the truststore.
	Bucket, Key, Prefix, TruststoreVersion string
	FunctionName                           string
	// Routes are route keys ("GET /pets"); empty or "all" means every one.
	Routes   []string
	CacheTTL int32
	// Arch is arm64 or amd64.
	Arch string
	// Package is the deployment zip (authorizer package); a dry run may
	// have none, and then does not compare the function's code.
	Package []byte
	// ArchNote says which architecture was chosen and why, for the plan.
	ArchNote string
	DryRun   bool
}

// Change is one step of an authorizer plan.
type Change struct {
	Step   string `json:"step"`
	Target string `json:"target"`
	Detail string `json:"detail,omitempty"`
	// Done says the step was carried out.
	Done bool `json:"done"`
	do   func(ctx context.Context) error
}

// RouteState is a route or method and whether the authorizer guards it.
type RouteState struct {
	Route string `json:"route"`
	// State is "protected", "unprotected", "other" (another authorizer or
	// authorization type), or "pending deployment" (attached, not yet
	// served by every stage).
	State string `json:"state"`
	// By names the other authorization.
	By string `json:"by,omitempty"`
}

// AuthorizerResult is what deploy, status and remove report (their JSON).
type AuthorizerResult struct {
	APIID        string          `json:"api_id"`
	APIType      apigw.APIType   `json:"api_type"`
	FunctionName string          `json:"function_name"`
	FunctionArn  string          `json:"function_arn,omitempty"`
	RoleArn      string          `json:"role_arn,omitempty"`
	AuthorizerID string          `json:"authorizer_id,omitempty"`
	SourceArn    string          `json:"source_arn,omitempty"`
	RolePolicy   json.RawMessage `json:"role_policy,omitempty"`
	Changes      []Change        `json:"changes"`
	Routes       []RouteState    `json:"routes"`
	// PendingStages still serve a deployment without the change.
	PendingStages []string `json:"pending_stages,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	Changed       bool     `json:"changed"`
	DryRun        bool     `json:"dry_run"`
	Summary       string   `json:"-"`
}

// checkAuthorizerInput checks what authorizer deploy was asked.
func checkAuthorizerInput(in *AuthorizerInput) error {
	if in.APIID == "" {
		return errors.New("no API ID")
	}
	if err := s3store.CheckBucketName(in.Bucket); err != nil {
		return err
	}
	if in.Key == "" || strings.HasSuffix(in.Key, "/") {
		return fmt.Errorf("truststore key %q: name the object, as truststore.pem", in.Key)
	}
	if err := CheckCRLPrefix(in.Prefix); err != nil {
		return err
	}
	if in.FunctionName == "" {
		in.FunctionName = DefaultFunctionName(in.APIID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`).MatchString(in.FunctionName) {
		return fmt.Errorf("function name %q: use 1 to 64 letters, digits, hyphens and underscores", in.FunctionName)
	}
	if in.CacheTTL < 0 || in.CacheTTL > 3600 {
		return fmt.Errorf("cache TTL %d: must be 0 to 3600 seconds", in.CacheTTL)
	}
	if in.Arch != "arm64" && in.Arch != "amd64" {
		return fmt.Errorf("architecture %q: use arm64 or amd64", in.Arch)
	}
	if in.Region == "" {
		return errors.New("no AWS Region")
	}
	return nil
}

// TrustPolicy lets Lambda, and nothing else, assume the execution role.
const TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// RolePolicy is the execution role's whole permission: read the truststore
// object and the CRLs under the prefix (each version too, for a pinned
// truststore), and write the function's own log group. No s3:ListBucket:
// without it a missing CRL reads as 403 instead of 404, and the authorizer
// denies either way.
func RolePolicy(in AuthorizerInput, account string) string {
	logs := fmt.Sprintf("arn:aws:logs:%s:%s:log-group:/aws/lambda/%s:*", in.Region, account, in.FunctionName)
	p := map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "ReadTruststore", "Effect": "Allow", "Action": []string{"s3:GetObject", "s3:GetObjectVersion"},
			"Resource": "arn:aws:s3:::" + in.Bucket + "/" + in.Key},
		map[string]any{"Sid": "ReadCRLs", "Effect": "Allow", "Action": []string{"s3:GetObject", "s3:GetObjectVersion"},
			"Resource": "arn:aws:s3:::" + in.Bucket + "/" + in.Prefix + "*"},
		map[string]any{"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
			"Resource": logs},
	}}
	b, _ := json.Marshal(p)
	return string(b)
}

// Env is the function's environment: what the authorizer reads
// (authorizer/config.go).
func Env(in AuthorizerInput) map[string]string {
	env := map[string]string{
		authorizer.EnvTruststoreURI: "s3://" + in.Bucket + "/" + in.Key,
		authorizer.EnvCRLURI:        "s3://" + in.Bucket + "/" + in.Prefix,
	}
	if in.TruststoreVersion != "" {
		env[authorizer.EnvTruststoreVersion] = in.TruststoreVersion
	}
	// With result caching the answer must name every method: the
	// authorizer reads the TTL to know.
	if in.CacheTTL > 0 {
		env[authorizer.EnvResultCacheTTL] = strconv.Itoa(int(in.CacheTTL))
	}
	return env
}

// identitySource keys the result cache on the client certificate when
// caching is on; without caching there is none, since a request lacking an
// identity source is refused with 401 before the authorizer runs.
func identitySource(t apigw.APIType, ttl int32) []string {
	if ttl == 0 {
		return nil
	}
	if t == apigw.REST {
		return []string{"context.identity.clientCert.serialNumber"}
	}
	return []string{"$context.identity.clientCert.serialNumber"}
}

func (r *Rollout) wantAuthorizer(t apigw.APIType, functionArn string, ttl int32) apigw.Authorizer {
	a := apigw.Authorizer{Name: AuthorizerName, Type: "REQUEST", TTL: ttl, IdentitySource: identitySource(t, ttl),
		URI: fmt.Sprintf("arn:aws:apigateway:%s:lambda:path/2015-03-31/functions/%s/invocations", regionOf(functionArn), functionArn)}
	if t == apigw.HTTP {
		a.PayloadVersion, a.SimpleResponses = "2.0", true
	}
	return a
}

func regionOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 3 {
		return parts[3]
	}
	return ""
}

func accountOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 4 {
		return parts[4]
	}
	return ""
}

func notFound(err error) bool {
	c := awserr.Code(err)
	return c == "NoSuchEntity" || c == "ResourceNotFoundException" || c == "NotFoundException"
}

// canonical re-encodes a JSON document so two encodings compare equal.
func canonical(doc string) string {
	var v any
	if json.Unmarshal([]byte(doc), &v) != nil {
		return doc
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func decodeDoc(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

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

func (r *Rollout) observe(ctx context.Context, apiID string, t apigw.APIType, function string) (*observed, error) {
	o := &observed{t: t}
	var err error
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
	fn, err := r.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(function)})
	switch {
	case notFound(err):
	case err != nil:
		return nil, fmt.Errorf("get function %s: %w", function, err)
	default:
		o.fn = fn.Configuration
		pol, err := r.Lambda.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(function)})
		if err != nil && !notFound(err) {
			return nil, fmt.Errorf("get the policy of %s: %w", function, err)
		}
		if err == nil {
			o.statement, o.statements = findStatement(aws.ToString(pol.Policy), StatementID(apiID))
		}
	}
	roleName := RoleName(function)
	role, err := r.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleName)})
	switch {
	case notFound(err):
	case err != nil:
		return nil, fmt.Errorf("get role %s: %w", roleName, err)
	default:
		o.role = role
		rp, err := r.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String(RolePolicyName)})
		if err != nil && !notFound(err) {
			return nil, fmt.Errorf("get the policy of role %s: %w", roleName, err)
		}
		if err == nil {
			o.rolePolicy = decodeDoc(aws.ToString(rp.PolicyDocument))
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

// DeployAuthorizer puts the revocation authorizer in front of an API:
// execution role and its policy, function, invoke permission, authorizer,
// attachment to the chosen routes, deployment of the stages that need it.
// It reads everything first and plans only what differs, so a second run
// changes nothing; a run cut short is finished by the next.
func (r *Rollout) DeployAuthorizer(ctx context.Context, in AuthorizerInput) (*AuthorizerResult, error) {
	if err := checkAuthorizerInput(&in); err != nil {
		return nil, err
	}
	if len(in.Package) == 0 && !in.DryRun {
		return nil, errors.New("no deployment package: give --zip, or build one with apimtls authorizer package")
	}
	t, err := r.apiType(ctx, in.APIID, in.APIType)
	if err != nil {
		return nil, err
	}
	o, err := r.observe(ctx, in.APIID, t, in.FunctionName)
	if err != nil {
		return nil, err
	}
	res := &AuthorizerResult{APIID: in.APIID, APIType: t, FunctionName: in.FunctionName, DryRun: in.DryRun, Changes: []Change{}}
	if in.ArchNote != "" {
		res.Notes = append(res.Notes, in.ArchNote)
	}
	if len(in.Package) == 0 {
		res.Notes = append(res.Notes, "no deployment package: the function's code is not compared")
	}
	selected, err := selectRoutes(o.routes, in.Routes)
	if err != nil {
		return nil, err
	}
	p := &planner{r: r, in: in, o: o, res: res}
	p.role()
	p.function()
	p.permission()
	p.authorizer()
	p.attach(selected)
	p.deploy()
	res.Routes = routeStates(p.finalRoutes, p.authID, p.pending)
	if in.DryRun || len(res.Changes) == 0 {
		res.Summary = planSummary(res)
		return res, nil
	}
	if err := p.execute(ctx); err != nil {
		return res, err
	}
	if err := p.readBack(ctx, selected); err != nil {
		return res, err
	}
	res.Summary = fmt.Sprintf("authorizer %s deployed on %s: %s", AuthorizerName, in.APIID, plural.Count(len(res.Changes), "change"))
	return res, nil
}

// readBack reads the API after the run and reports from what it holds,
// not from the plan (whose new authorizer had no ID yet): the authorizer
// must have the settings sent, every route attached must name it, and
// every stage must serve it.
func (p *planner) readBack(ctx context.Context, selected map[string]bool) error {
	o, err := p.r.observe(ctx, p.in.APIID, p.o.t, p.in.FunctionName)
	if err != nil {
		return fmt.Errorf("read back the authorizer: %w", err)
	}
	p.res.Routes = routeStates(o.routes, p.authID, nil)
	want := p.r.wantAuthorizer(p.o.t, p.functionArn, p.in.CacheTTL)
	a := o.authorizer
	switch {
	case a == nil:
		return fmt.Errorf("API %s has no authorizer %s after the run: %w", p.in.APIID, AuthorizerName, apigw.ErrReadBack)
	case a.ID != p.authID || a.URI != want.URI || a.TTL != want.TTL || a.Type != want.Type || a.PayloadVersion != want.PayloadVersion || a.SimpleResponses != want.SimpleResponses:
		return fmt.Errorf("authorizer %s of %s reads %s, not %s: %w", a.ID, p.in.APIID, authorizerDetail(*a), authorizerDetail(want), apigw.ErrReadBack)
	}
	var wrong []string
	planned := "(new)"
	if p.o.authorizer != nil {
		planned = p.o.authorizer.ID
	}
	for _, rt := range p.finalRoutes {
		if !selected[rt.Key] || rt.AuthorizationType != "CUSTOM" || rt.AuthorizerID != planned {
			continue
		}
		for _, got := range o.routes {
			if got.Key == rt.Key && (got.AuthorizationType != "CUSTOM" || got.AuthorizerID != a.ID) {
				wrong = append(wrong, fmt.Sprintf("%s (%s %s)", got.Key, got.AuthorizationType, got.AuthorizerID))
			}
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("routes of %s not guarded by authorizer %s after the run (%s): %w", p.in.APIID, a.ID, strings.Join(wrong, ", "), apigw.ErrReadBack)
	}
	if pending := pendingStages(o.stages, o.routes, a); len(pending) > 0 {
		p.res.PendingStages = pending
		p.res.Routes = routeStates(o.routes, p.authID, pending)
		return fmt.Errorf("stages %s of %s do not serve the authorizer after the run: %w", strings.Join(pending, ", "), p.in.APIID, apigw.ErrReadBack)
	}
	return nil
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

func lambdaArch(arch string) ltypes.Architecture {
	if arch == "amd64" {
		return ltypes.ArchitectureX8664
	}
	return ltypes.ArchitectureArm64
}

func codeSha(zip []byte) string {
	h := sha256.Sum256(zip)
	return base64.StdEncoding.EncodeToString(h[:])
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

func envText(env map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		parts = append(parts, k+"="+env[k])
	}
	return strings.Join(parts, " ")
}

// SourceArn scopes the invoke permission to the authorizers of one API.
func SourceArn(region, account, apiID string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/authorizers/*", region, account, apiID)
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

func authorizerDetail(a apigw.Authorizer) string {
	s := fmt.Sprintf("%s, result cache %d s", a.Type, a.TTL)
	if a.PayloadVersion != "" {
		s += ", payload " + a.PayloadVersion
	}
	if a.SimpleResponses {
		s += ", simple responses"
	}
	if len(a.IdentitySource) > 0 {
		s += ", keyed on " + strings.Join(a.IdentitySource, ",")
	}
	return s
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

// retryRole retries a call that Lambda refuses because IAM has not yet
// propagated a new role to it, for up to RoleWait.
func (r *Rollout) retryRole(ctx context.Context, fn func() error) error {
	deadline := r.clock().Now().Add(RoleWait)
	for {
		err := fn()
		if err == nil || awserr.Code(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "cannot be assumed") || !r.clock().Now().Before(deadline) {
			if err != nil && strings.Contains(err.Error(), "cannot be assumed") {
				return fmt.Errorf("%w (waited %s for IAM to propagate the new role)", err, RoleWait)
			}
			return err
		}
		r.events().Wait(apigw.Wait{Reason: "IAM has not propagated the new role to Lambda yet", Err: err, For: 3 * time.Second})
		if err := r.clock().Sleep(ctx, 3*time.Second); err != nil {
			return err
		}
	}
}

// RoleWait bounds the wait for a new role to reach Lambda: IAM documents
// "a few seconds"; Terraform waits up to 2 minutes.
const RoleWait = 2 * time.Minute

// waitFunction waits until the function takes an update: not Pending and
// no update in progress. Active and Inactive (idle for weeks, its
// resources reclaimed) both take one ("Lambda function states").
func (r *Rollout) waitFunction(ctx context.Context, name string) error {
	deadline := r.clock().Now().Add(5 * time.Minute)
	for {
		out, err := r.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			return err
		}
		c := out.Configuration
		if c.State == ltypes.StateFailed || c.LastUpdateStatus == ltypes.LastUpdateStatusFailed {
			return fmt.Errorf("function %s is %s/%s: %s", name, c.State, c.LastUpdateStatus, aws.ToString(c.StateReason)+aws.ToString(c.LastUpdateStatusReason))
		}
		if c.State != ltypes.StatePending && c.LastUpdateStatus != ltypes.LastUpdateStatusInProgress {
			return nil
		}
		if !r.clock().Now().Before(deadline) {
			return fmt.Errorf("function %s still %s/%s after 5 minutes", name, c.State, c.LastUpdateStatus)
		}
		r.events().Wait(apigw.Wait{Reason: "function not ready", Err: fmt.Errorf("function %s is %s, last update %s", name, c.State, c.LastUpdateStatus), For: time.Second})
		if err := r.clock().Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

func (r *Rollout) clock() apigw.Clock { return r.API.ClockOrReal() }

// AuthorizerStatus says which routes the revocation authorizer guards,
// which stages do not serve it yet, and what of the deployment exists.
func (r *Rollout) AuthorizerStatus(ctx context.Context, apiID string, t apigw.APIType) (*AuthorizerResult, error) {
	t, err := r.apiType(ctx, apiID, t)
	if err != nil {
		return nil, err
	}
	o, err := r.observe(ctx, apiID, t, "")
	if err != nil {
		return nil, err
	}
	res := &AuthorizerResult{APIID: apiID, APIType: t, Changes: []Change{}}
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
	n := 0
	for _, rt := range res.Routes {
		if rt.State == "protected" {
			n++
		}
	}
	switch {
	case authID == "":
		res.Summary = fmt.Sprintf("%s has no apimtls authorizer: no route is checked for revocation", apiID)
	case len(res.PendingStages) > 0:
		res.Summary = fmt.Sprintf("%s: authorizer %s attached, but stages %s still serve a deployment without it", apiID, authID, strings.Join(res.PendingStages, ", "))
	default:
		res.Summary = fmt.Sprintf("%s: %d of %d routes protected by authorizer %s", apiID, n, len(res.Routes), authID)
	}
	return res, nil
}

// RemoveInput asks to undo authorizer deploy.
type RemoveInput struct {
	APIID   string
	APIType apigw.APIType
	// FunctionName is needed only when the authorizer is already gone
	// and the function was not given its default name.
	FunctionName string
	DryRun       bool
}

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

// execute carries out the planned changes in order, saying each; a
// failure says how far it got, and running the command again finishes.
func (p *planner) execute(ctx context.Context) error {
	res := p.res
	for i := range res.Changes {
		c := &res.Changes[i]
		p.r.events().Note(c.Step + " " + c.Target)
		if err := c.do(ctx); err != nil {
			return fmt.Errorf("%s %s: %w (%d of %d steps done; run the command again to finish)", c.Step, c.Target, err, i, len(res.Changes))
		}
		c.Done, res.Changed = true, true
	}
	res.PendingStages = nil
	return nil
}

// controlWait tells the waits of authorizer and route changes, except the
// sub-second pacing between them (10 requests per second), which would
// print a line per route.
func (r *Rollout) controlWait(w apigw.Wait) {
	if w.Reason == "pacing" && w.For < time.Second {
		return
	}
	r.events().Wait(w)
}
