package rollout

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/fakeapigw"
)

// withLambda gives the env's rollout Lambda and IAM clients on the fake.
func (e *env) withLambda() {
	creds := credentials.NewStaticCredentialsProvider("AKIDCALLER", "secret", "")
	ep := aws.String(e.fake.URL())
	e.r.Lambda = lambda.New(lambda.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1})
	e.r.IAM = iam.New(iam.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1})
}

func bootstrapZip(t *testing.T, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func authInput(t *testing.T, api string) AuthorizerInput {
	return AuthorizerInput{APIID: api, Region: "eu-west-1", Bucket: "pki-bucket", Key: "truststore.pem", Prefix: "crl/", Arch: "arm64", Package: bootstrapZip(t, "v1")}
}

// The exact least privilege: read the truststore object and the CRL
// prefix, write its own logs; nothing else.
const wantRolePolicy = `{"Statement":[` +
	`{"Action":["s3:GetObject","s3:GetObjectVersion"],"Effect":"Allow","Resource":"arn:aws:s3:::pki-bucket/truststore.pem","Sid":"ReadTruststore"},` +
	`{"Action":["s3:GetObject","s3:GetObjectVersion"],"Effect":"Allow","Resource":"arn:aws:s3:::pki-bucket/crl/*","Sid":"ReadCRLs"},` +
	`{"Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Effect":"Allow","Resource":"arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/apimtls-authorizer-h1:*","Sid":"WriteOwnLogs"}],` +
	`"Version":"2012-10-17"}`

func httpAPI(e *env) {
	e.fake.AddAPI(&fakeapigw.API{ID: "h1", Stages: map[string]bool{"$default": true, "manual": false}})
	e.fake.AddRoutes("h1", "GET /pets", "POST /pets", "DELETE /pets/{id}")
}

func TestDeployAuthorizerHTTP(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	httpAPI(e)
	res, err := e.r.DeployAuthorizer(ctx, authInput(t, "h1"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.APIType != apigw.HTTP {
		t.Fatalf("changed %v type %s", res.Changed, res.APIType)
	}
	role, ok := e.fake.Role("apimtls-authorizer-h1-role")
	if !ok || canonical(role.AssumeRolePolicy) != canonical(TrustPolicy) {
		t.Fatalf("role %v trust %s", ok, role.AssumeRolePolicy)
	}
	if len(role.Policies) != 1 || canonical(role.Policies[RolePolicyName]) != wantRolePolicy {
		t.Fatalf("role policies %v\nwant %s", role.Policies, wantRolePolicy)
	}
	fn, ok := e.fake.Function("apimtls-authorizer-h1")
	if !ok || fn.Runtime != "provided.al2023" || fn.Architecture != "arm64" || fn.Handler != "bootstrap" || !fn.HasBootstrap || fn.Role != role.Arn {
		t.Fatalf("function %+v", fn)
	}
	wantEnv := map[string]string{"APIMTLS_TRUSTSTORE_URI": "s3://pki-bucket/truststore.pem", "APIMTLS_CRL_URI": "s3://pki-bucket/crl/"}
	if len(fn.Env) != len(wantEnv) || fn.Env["APIMTLS_TRUSTSTORE_URI"] != wantEnv["APIMTLS_TRUSTSTORE_URI"] || fn.Env["APIMTLS_CRL_URI"] != wantEnv["APIMTLS_CRL_URI"] {
		t.Fatalf("env %v", fn.Env)
	}
	if len(fn.Policy) != 1 || fn.Policy[0] != (fakeapigw.Permission{Sid: "apimtls-h1", Principal: "apigateway.amazonaws.com", Action: "lambda:InvokeFunction",
		SourceArn: "arn:aws:execute-api:eu-west-1:111122223333:h1/authorizers/*", SourceAccount: "111122223333"}) {
		t.Fatalf("function policy %+v", fn.Policy)
	}
	auths := e.fake.Authorizers("h1")
	if len(auths) != 1 {
		t.Fatalf("%d authorizers", len(auths))
	}
	a := auths[0]
	if a.Type != "REQUEST" || a.PayloadVersion != "2.0" || !a.SimpleResponses || a.TTL != 0 || len(a.IdentitySource) != 0 ||
		a.URI != "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"+fn.Arn+"/invocations" {
		t.Fatalf("authorizer %+v", a)
	}
	for _, stage := range []string{"$default", "manual"} {
		served := e.fake.StageAuth("h1", stage)
		for _, k := range []string{"GET /pets", "POST /pets", "DELETE /pets/{id}"} {
			if served[k] != "CUSTOM:"+a.ID {
				t.Fatalf("stage %s serves %s as %q", stage, k, served[k])
			}
		}
	}
	waited := false
	for _, w := range e.events.waits() {
		waited = waited || strings.Contains(w.Reason, "IAM has not propagated")
	}
	if !waited {
		t.Fatal("no wait for IAM propagation: the fake refuses a new role for seconds, so CreateFunction cannot have succeeded at once")
	}

	// Idempotent.
	before := len(e.fake.MutatingRequests())
	res, err = e.r.DeployAuthorizer(ctx, authInput(t, "h1"))
	if err != nil || res.Changed || len(res.Changes) != 0 || !strings.Contains(res.Summary, "nothing to change") {
		t.Fatalf("second run: %v changed %v changes %+v", err, res.Changed, res.Changes)
	}
	if n := len(e.fake.MutatingRequests()) - before; n != 0 {
		t.Fatalf("second run made %d changes", n)
	}
	st, err := e.r.AuthorizerStatus(ctx, "h1", apigw.Auto)
	if err != nil || len(st.PendingStages) != 0 || len(st.Routes) != 3 {
		t.Fatalf("status %v %+v", err, st)
	}
	for _, rt := range st.Routes {
		if rt.State != "protected" {
			t.Fatalf("status route %+v", rt)
		}
	}

	// New code and a cache TTL: only what differs changes.
	in := authInput(t, "h1")
	in.Package, in.CacheTTL = bootstrapZip(t, "v2"), 30
	res, err = e.r.DeployAuthorizer(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, c := range res.Changes {
		steps = append(steps, c.Step)
	}
	// The TTL reaches the function (its policy must then name the whole
	// stage), and the manual stage serves the changed authorizer only
	// once deployed.
	if strings.Join(steps, ",") != "update function code,update function configuration,update authorizer,deploy stage" {
		t.Fatalf("steps %q", steps)
	}
	a = e.fake.Authorizers("h1")[0]
	if a.TTL != 30 || strings.Join(a.IdentitySource, ",") != "$context.identity.clientCert.serialNumber" {
		t.Fatalf("authorizer %+v", a)
	}
	for _, stage := range []string{"$default", "manual"} {
		if served, ok := e.fake.StageAuthorizer("h1", stage, a.ID); !ok || served.TTL != 30 {
			t.Fatalf("stage %s serves the authorizer %+v (%v), want TTL 30", stage, served, ok)
		}
	}
}

// routesState is every route's state as reported.
func routesState(res *AuthorizerResult) string {
	var out []string
	for _, rt := range res.Routes {
		out = append(out, rt.Route+"="+rt.State)
	}
	return strings.Join(out, ",")
}

// The first deploy reports its routes from what AWS holds after the run,
// not with the plan's placeholder ID.
func TestFirstDeployReportsProtected(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	httpAPI(e)
	res, err := e.r.DeployAuthorizer(ctx, authInput(t, "h1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := routesState(res); got != "DELETE /pets/{id}=protected,GET /pets=protected,POST /pets=protected" {
		t.Fatalf("first deploy reports %s", got)
	}
	for _, rt := range res.Routes {
		if rt.By != "" {
			t.Fatalf("route %+v", rt)
		}
	}
}

// A changed authorizer (here its cache TTL) reaches a REST API only with a
// deployment: the plan says so and makes it, and status tells a stage
// still serving the old authorizer.
func TestAuthorizerChangeIsDeployed(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	e.fake.AddAPI(&fakeapigw.API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false}})
	e.fake.AddRoutes("r1", "GET /pets", "POST /pets")
	if _, err := e.r.DeployAuthorizer(ctx, authInput(t, "r1")); err != nil {
		t.Fatal(err)
	}
	in := authInput(t, "r1")
	in.CacheTTL, in.DryRun = 300, true
	plan, err := e.r.DeployAuthorizer(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, c := range plan.Changes {
		steps = append(steps, c.Step+" "+c.Target)
	}
	if got := strings.Join(steps, ","); got != "update function configuration apimtls-authorizer-r1,update authorizer apimtls-revocation,deploy stage prod" {
		t.Fatalf("plan %q", got)
	}
	in.DryRun = false
	deps := len(e.fake.API("r1").Deployments)
	res, err := e.r.DeployAuthorizer(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.API("r1").Deployments) - deps; n != 1 {
		t.Fatalf("%d deployments, want 1", n)
	}
	id := e.fake.Authorizers("r1")[0].ID
	if served, ok := e.fake.StageAuthorizer("r1", "prod", id); !ok || served.TTL != 300 {
		t.Fatalf("prod serves %+v", served)
	}
	if got := routesState(res); got != "GET /pets=protected,POST /pets=protected" {
		t.Fatalf("reported %s", got)
	}
	if fn, _ := e.fake.Function("apimtls-authorizer-r1"); fn.Env["APIMTLS_RESULT_CACHE_TTL"] != "300" {
		t.Fatalf("function env %v", fn.Env)
	}
	// Someone changes the authorizer without deploying: status says prod
	// still serves the old one, and the next deploy deploys it.
	a := e.fake.Authorizers("r1")[0]
	_, err = e.r.API.PutAuthorizer(ctx, "r1", apigw.REST, apigw.Authorizer{ID: a.ID, Name: a.Name, Type: a.Type, URI: a.URI, TTL: 60, IdentitySource: a.IdentitySource}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.r.AuthorizerStatus(ctx, "r1", apigw.REST)
	if err != nil || strings.Join(st.PendingStages, ",") != "prod" || st.Routes[0].State != "pending deployment" {
		t.Fatalf("status %v: pending %v routes %+v", err, st.PendingStages, st.Routes)
	}
	// Back to no caching: the REST authorizer keeps an identity source
	// (the API takes no empty one), and a second run changes nothing.
	in.CacheTTL = 0
	if _, err := e.r.DeployAuthorizer(ctx, in); err != nil {
		t.Fatal(err)
	}
	if a := e.fake.Authorizers("r1")[0]; a.TTL != 0 {
		t.Fatalf("authorizer %+v", a)
	}
	again, err := e.r.DeployAuthorizer(ctx, in)
	if err != nil || len(again.Changes) != 0 {
		t.Fatalf("second run at TTL 0: %v %+v", err, again.Changes)
	}
}

// An update of an Inactive function (idle for weeks) is allowed: no wait.
func TestRedeployInactiveFunction(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	httpAPI(e)
	if _, err := e.r.DeployAuthorizer(ctx, authInput(t, "h1")); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	e.fake.MarkInactive("apimtls-authorizer-h1")
	before := len(e.events.waits())
	in := authInput(t, "h1")
	in.Package = bootstrapZip(t, "v2")
	if _, err := e.r.DeployAuthorizer(ctx, in); err != nil {
		t.Fatal(err)
	}
	for _, w := range e.events.waits()[before:] {
		if w.Reason == "function not ready" {
			t.Fatalf("waited for an Inactive function: %v", w.Err)
		}
	}
}

// remove clears the authorizer ID of every route it detaches, so the
// delete that follows is accepted in one run, with no waiting.
func TestRemoveClearsAuthorizerIDs(t *testing.T) {
	for _, rest := range []bool{false, true} {
		e := newEnv(t)
		e.withLambda()
		id := "h1"
		if rest {
			id = "r1"
			e.fake.AddAPI(&fakeapigw.API{ID: id, REST: true, Stages: map[string]bool{"prod": false}})
			e.fake.AddRoutes(id, "GET /pets", "POST /pets")
		} else {
			httpAPI(e)
		}
		if _, err := e.r.DeployAuthorizer(ctx, authInput(t, id)); err != nil {
			t.Fatal(err)
		}
		before := len(e.events.waits())
		if _, err := e.r.RemoveAuthorizer(ctx, RemoveInput{APIID: id}); err != nil {
			t.Fatalf("rest %v: %v", rest, err)
		}
		for k, v := range e.fake.RouteAuthorizerIDs(id) {
			if v != "" {
				t.Fatalf("rest %v: %s still names authorizer %s", rest, k, v)
			}
		}
		for _, w := range e.events.waits()[before:] {
			if w.Reason != "pacing" {
				t.Fatalf("rest %v: remove waited: %+v", rest, w)
			}
		}
	}
}

// A delete refused because a route still names the authorizer is its own
// error, not "another update is in progress", and is not retried.
func TestDeleteReferencedAuthorizer(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	httpAPI(e)
	if _, err := e.r.DeployAuthorizer(ctx, authInput(t, "h1")); err != nil {
		t.Fatal(err)
	}
	a := e.fake.Authorizers("h1")[0]
	var waits []apigw.Wait
	err := e.r.API.DeleteAuthorizer(ctx, "h1", apigw.HTTP, a.ID, func(w apigw.Wait) { waits = append(waits, w) })
	if !errors.Is(err, apigw.ErrReferenced) || errors.Is(err, apigw.ErrConflict) || !strings.Contains(err.Error(), "is referenced in route: ") {
		t.Fatalf("err %v", err)
	}
	for _, w := range waits {
		if w.Reason != "pacing" {
			t.Fatalf("retried: %+v", w)
		}
	}
}

func TestDeployAuthorizerRESTSomeRoutes(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	e.fake.AddAPI(&fakeapigw.API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false, "dev": false}})
	e.fake.AddRoutes("r1", "GET /pets", "POST /pets", "GET /health")
	in := authInput(t, "r1")
	in.Routes = []string{"GET /pets", "POST /nope"}
	if _, err := e.r.DeployAuthorizer(ctx, in); err == nil || !strings.Contains(err.Error(), `no route "POST /nope"`) {
		t.Fatalf("unknown route: %v", err)
	}
	if n := len(e.fake.MutatingRequests()); n != 0 {
		t.Fatalf("refused run changed %d things", n)
	}
	in.Routes = []string{"GET /pets", "POST /pets"}
	in.DryRun = true
	res, err := e.r.DeployAuthorizer(ctx, in)
	if err != nil || len(res.Changes) != 9 || len(e.fake.MutatingRequests()) != 0 {
		t.Fatalf("dry run: %v, %d steps, %d changes", err, len(res.Changes), len(e.fake.MutatingRequests()))
	}
	in.DryRun = false
	if _, err = e.r.DeployAuthorizer(ctx, in); err != nil {
		t.Fatal(err)
	}
	a := e.fake.Authorizers("r1")[0]
	if a.Type != "REQUEST" || a.PayloadVersion != "" || a.TTL != 0 {
		t.Fatalf("REST authorizer %+v", a)
	}
	for _, stage := range []string{"prod", "dev"} {
		served := e.fake.StageAuth("r1", stage)
		if served["GET /pets"] != "CUSTOM:"+a.ID || served["POST /pets"] != "CUSTOM:"+a.ID || served["GET /health"] != "NONE" {
			t.Fatalf("stage %s serves %v", stage, served)
		}
	}
	if d := e.fake.API("r1").Deployments; len(d) != 2 {
		t.Fatalf("deployments %v", d)
	}
	st, _ := e.r.AuthorizerStatus(ctx, "r1", apigw.REST)
	if st.Routes[0].Route != "GET /health" || st.Routes[0].State != "unprotected" || st.Routes[1].State != "protected" {
		t.Fatalf("status %+v", st.Routes)
	}
}

// failing makes one Lambda call fail, as a crash or a refusal would.
type failing struct {
	LambdaAPI
	addPermission int
}

func (f *failing) AddPermission(ctx context.Context, in *lambda.AddPermissionInput, o ...func(*lambda.Options)) (*lambda.AddPermissionOutput, error) {
	if f.addPermission > 0 {
		f.addPermission--
		return nil, errors.New("connection reset")
	}
	return f.LambdaAPI.AddPermission(ctx, in, o...)
}

func TestDeployAuthorizerResumes(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	httpAPI(e)
	e.r.Lambda = &failing{LambdaAPI: e.r.Lambda, addPermission: 1}
	_, err := e.r.DeployAuthorizer(ctx, authInput(t, "h1"))
	if err == nil || !strings.Contains(err.Error(), "run the command again") {
		t.Fatalf("err %v", err)
	}
	res, err := e.r.DeployAuthorizer(ctx, authInput(t, "h1"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, c := range res.Changes {
		steps = append(steps, c.Step)
	}
	if steps[0] != "add invoke permission" || strings.Contains(strings.Join(steps, ","), "create") && !strings.Contains(strings.Join(steps, ","), "create authorizer") {
		t.Fatalf("resumed with %q", steps)
	}
	if fn, _ := e.fake.Function("apimtls-authorizer-h1"); len(fn.Policy) != 1 || len(e.fake.Authorizers("h1")) != 1 {
		t.Fatalf("duplicates: %d statements, %d authorizers", len(fn.Policy), len(e.fake.Authorizers("h1")))
	}
}

func TestRemoveAuthorizer(t *testing.T) {
	e := newEnv(t)
	e.withLambda()
	httpAPI(e)
	e.fake.AddAPI(&fakeapigw.API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false}})
	e.fake.AddRoutes("r1", "GET /pets")
	if _, err := e.r.DeployAuthorizer(ctx, authInput(t, "h1")); err != nil {
		t.Fatal(err)
	}
	// A second API shares the function.
	in := authInput(t, "r1")
	in.FunctionName = "apimtls-authorizer-h1"
	if _, err := e.r.DeployAuthorizer(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.RemoveAuthorizer(ctx, RemoveInput{APIID: "h1"}); err != nil {
		t.Fatal(err)
	}
	fn, ok := e.fake.Function("apimtls-authorizer-h1")
	if !ok || len(fn.Policy) != 1 || fn.Policy[0].Sid != "apimtls-r1" {
		t.Fatalf("shared function: kept %v, policy %+v", ok, fn.Policy)
	}
	if len(e.fake.Authorizers("h1")) != 0 {
		t.Fatal("authorizer left on h1")
	}
	for _, stage := range []string{"$default", "manual"} {
		for k, v := range e.fake.StageAuth("h1", stage) {
			if v != "NONE" {
				t.Fatalf("stage %s still serves %s as %s", stage, k, v)
			}
		}
	}
	if _, err := e.r.RemoveAuthorizer(ctx, RemoveInput{APIID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.fake.Function("apimtls-authorizer-h1"); ok {
		t.Fatal("function left after its last API")
	}
	if _, ok := e.fake.Role("apimtls-authorizer-h1-role"); ok {
		t.Fatal("role left after its function")
	}
	if got := e.fake.StageAuth("r1", "prod"); got["GET /pets"] != "NONE" {
		t.Fatalf("REST stage serves %v", got)
	}
	before := len(e.fake.MutatingRequests())
	res, err := e.r.RemoveAuthorizer(ctx, RemoveInput{APIID: "h1"})
	if err != nil || res.Changed || len(e.fake.MutatingRequests()) != before || !strings.Contains(res.Summary, "nothing to remove") {
		t.Fatalf("second remove: %v %+v", err, res)
	}
}
