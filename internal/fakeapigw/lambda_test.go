package fakeapigw

import (
	"archive/zip"
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

const trustLambda = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func (e *env) lambdaIAM() (*lambda.Client, *iam.Client) {
	creds := credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	return lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.f.URL()), Credentials: creds, RetryMaxAttempts: 1}),
		iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.f.URL()), Credentials: creds, RetryMaxAttempts: 1})
}

func testZip(t *testing.T, name string, mode uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(0o755)
	if mode != 0 {
		h.SetMode(0o644)
	}
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("#!/bin/sh\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// IAM in the query protocol, through the SDK: documents come back
// URL-encoded; AWS's refusals.
func TestIAMRoles(t *testing.T) {
	e := newEnv(t, AWSQuotas)
	_, im := e.lambdaIAM()
	out := must(im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("auth-role"), AssumeRolePolicyDocument: aws.String(trustLambda)}))
	if *out.Role.Arn != "arn:aws:iam::111122223333:role/auth-role" {
		t.Fatalf("role ARN %s", *out.Role.Arn)
	}
	_, err := im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("auth-role"), AssumeRolePolicyDocument: aws.String(trustLambda)})
	wantErr(t, err, "EntityAlreadyExists", "Role with name auth-role already exists.")
	_, err = im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("bad"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17"}`)})
	wantErr(t, err, "MalformedPolicyDocument", "Syntax errors in policy")
	_, err = im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nobody")})
	wantErr(t, err, "NoSuchEntity", "The role with name nobody cannot be found.")
	got := must(im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("auth-role")}))
	if doc, _ := url.QueryUnescape(*got.Role.AssumeRolePolicyDocument); doc != trustLambda || *got.Role.AssumeRolePolicyDocument == trustLambda {
		t.Fatalf("trust policy came back as %q: want it URL-encoded, as IAM sends it", *got.Role.AssumeRolePolicyDocument)
	}
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/k"}]}`
	_, err = im.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("auth-role"), PolicyName: aws.String("p"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}`)})
	wantErr(t, err, "MalformedPolicyDocument", "must specify a Resource")
	must(im.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("auth-role"), PolicyName: aws.String("p"), PolicyDocument: aws.String(pol)}))
	rp := must(im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("auth-role"), PolicyName: aws.String("p")}))
	if doc, _ := url.QueryUnescape(*rp.PolicyDocument); doc != pol {
		t.Fatalf("policy %q", doc)
	}
	if names := must(im.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("auth-role")})).PolicyNames; len(names) != 1 || names[0] != "p" {
		t.Fatalf("policies %q", names)
	}
	_, err = im.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("auth-role")})
	wantErr(t, err, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	must(im.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("auth-role"), PolicyName: aws.String("p")}))
	must(im.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("auth-role")}))
	if _, ok := e.f.Role("auth-role"); ok {
		t.Fatal("role still there")
	}
	// Reads are not mutations; the rest are.
	n := 0
	for _, r := range e.f.MutatingRequests() {
		if r.Action != "" {
			n++
		}
	}
	if n != 8 {
		t.Fatalf("%d mutating IAM calls recorded, want 8", n)
	}
}

// Lambda: the role must have propagated; states; permissions.
func TestLambdaFunctions(t *testing.T) {
	e := newEnv(t, AWSQuotas)
	lc, im := e.lambdaIAM()
	role := must(im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustLambda)})).Role
	in := &lambda.CreateFunctionInput{FunctionName: aws.String("auth"), Role: role.Arn, Runtime: ltypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Architectures: []ltypes.Architecture{ltypes.ArchitectureArm64}, Code: &ltypes.FunctionCode{ZipFile: testZip(t, "bootstrap", 0)},
		Environment: &ltypes.Environment{Variables: map[string]string{"APIMTLS_CRL_URI": "s3://b/crl/"}}}
	_, err := lc.CreateFunction(ctx, in)
	wantErr(t, err, "InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda.")
	e.clock.Advance(DefaultRolePropagation)

	bad := *in
	bad.Code = &ltypes.FunctionCode{ZipFile: []byte("not a zip")}
	_, err = lc.CreateFunction(ctx, &bad)
	wantErr(t, err, "InvalidParameterValueException", "Could not unzip uploaded file")
	bad = *in
	bad.Environment = &ltypes.Environment{Variables: map[string]string{"X": strings.Repeat("a", 4100)}}
	_, err = lc.CreateFunction(ctx, &bad)
	wantErr(t, err, "InvalidParameterValueException", "exceeded the 4KB limit")

	out := must(lc.CreateFunction(ctx, in))
	if *out.FunctionArn != "arn:aws:lambda:us-east-1:111122223333:function:auth" || out.State != ltypes.StatePending {
		t.Fatalf("created %s in state %s", *out.FunctionArn, out.State)
	}
	_, err = lc.CreateFunction(ctx, in)
	wantErr(t, err, "ResourceConflictException", "Function already exist: auth")
	_, err = lc.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("auth"), Timeout: aws.Int32(5)})
	wantErr(t, err, "ResourceConflictException", "in the following state: Pending")
	e.clock.Advance(DefaultFunctionSettle)
	must(lc.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("auth"), Timeout: aws.Int32(5)}))
	_, err = lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("auth"), ZipFile: testZip(t, "bootstrap", 0)})
	wantErr(t, err, "ResourceConflictException", "An update is in progress for resource")
	e.clock.Advance(DefaultFunctionSettle)
	got := must(lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("auth")}))
	if c := got.Configuration; c.State != ltypes.StateActive || c.LastUpdateStatus != ltypes.LastUpdateStatusSuccessful || *c.Timeout != 5 || c.Environment.Variables["APIMTLS_CRL_URI"] != "s3://b/crl/" {
		t.Fatalf("function %+v", c)
	}
	if fn, _ := e.f.Function("auth"); !fn.HasBootstrap || fn.Architecture != "arm64" {
		t.Fatalf("bootstrap %v arch %s", fn.HasBootstrap, fn.Architecture)
	}
	must(lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("auth"), ZipFile: testZip(t, "bootstrap", 1)}))
	if fn, _ := e.f.Function("auth"); fn.HasBootstrap {
		t.Fatal("a bootstrap that is not executable counted as one")
	}

	_, err = lc.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("auth")})
	wantErr(t, err, "ResourceNotFoundException", "The resource you requested does not exist.")
	perm := &lambda.AddPermissionInput{FunctionName: aws.String("auth"), StatementId: aws.String("apigw"), Action: aws.String("lambda:InvokeFunction"),
		Principal: aws.String("apigateway.amazonaws.com"), SourceArn: aws.String("arn:aws:execute-api:us-east-1:111122223333:h1/*")}
	must(lc.AddPermission(ctx, perm))
	_, err = lc.AddPermission(ctx, perm)
	wantErr(t, err, "ResourceConflictException", "The statement id (apigw) provided already exists")
	pol := must(lc.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String("auth")}))
	if !strings.Contains(*pol.Policy, `"AWS:SourceArn":"arn:aws:execute-api:us-east-1:111122223333:h1/*"`) {
		t.Fatalf("policy %s", *pol.Policy)
	}
	must(lc.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("auth"), StatementId: aws.String("apigw")}))
	_, err = lc.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String("auth"), StatementId: aws.String("apigw")})
	wantErr(t, err, "ResourceNotFoundException", "is not found")
	must(lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("auth")}))
	_, err = lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("auth")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found")
}

// Authorizers and attachment refuse what AWS refuses, in both services.
func TestAuthorizers(t *testing.T) {
	e := newEnv(t, Quotas{})
	lc, im := e.lambdaIAM()
	role := must(im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustLambda)})).Role
	e.clock.Advance(time.Minute)
	fn := must(lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("auth"), Role: role.Arn, Runtime: ltypes.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: &ltypes.FunctionCode{ZipFile: testZip(t, "bootstrap", 0)}}))
	uri := "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/" + *fn.FunctionArn + "/invocations"
	e.f.AddAPI(&API{ID: "h1", Stages: map[string]bool{"$default": true, "manual": false}})
	e.f.AddRoutes("h1", "GET /pets", "POST /pets")
	e.f.AddAPI(&API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false}})
	e.f.AddRoutes("r1", "GET /pets", "POST /pets", "GET /pets/{id}")

	// HTTP API.
	req := func(mod func(*apigatewayv2.CreateAuthorizerInput)) error {
		in := &apigatewayv2.CreateAuthorizerInput{ApiId: aws.String("h1"), Name: aws.String("mtls"), AuthorizerType: v2types.AuthorizerTypeRequest,
			AuthorizerUri: aws.String(uri), AuthorizerPayloadFormatVersion: aws.String("2.0"), EnableSimpleResponses: aws.Bool(true), AuthorizerResultTtlInSeconds: aws.Int32(0),
			IdentitySource: []string{}}
		mod(in)
		_, err := e.v2.CreateAuthorizer(ctx, in)
		return err
	}
	wantErr(t, req(func(in *apigatewayv2.CreateAuthorizerInput) { in.AuthorizerUri = fn.FunctionArn }), "BadRequestException", "Invalid Authorizer URI")
	wantErr(t, req(func(in *apigatewayv2.CreateAuthorizerInput) {
		in.AuthorizerUri = aws.String(strings.Replace(uri, ":auth/", ":gone/", 1))
	}), "BadRequestException", "does not exist")
	wantErr(t, req(func(in *apigatewayv2.CreateAuthorizerInput) { in.AuthorizerPayloadFormatVersion = nil }), "BadRequestException", "must be 1.0 or 2.0")
	wantErr(t, req(func(in *apigatewayv2.CreateAuthorizerInput) { in.AuthorizerPayloadFormatVersion = aws.String("1.0") }), "BadRequestException", "only supported with authorizerPayloadFormatVersion 2.0")
	wantErr(t, req(func(in *apigatewayv2.CreateAuthorizerInput) { in.AuthorizerResultTtlInSeconds = aws.Int32(60) }), "BadRequestException", "Identity source is required when caching is enabled")
	wantErr(t, req(func(in *apigatewayv2.CreateAuthorizerInput) {
		in.AuthorizerResultTtlInSeconds, in.IdentitySource = aws.Int32(60), []string{"method.request.header.X"}
	}), "BadRequestException", "Invalid identity source")
	z := must(e.v2.CreateAuthorizer(ctx, &apigatewayv2.CreateAuthorizerInput{ApiId: aws.String("h1"), Name: aws.String("mtls"), AuthorizerType: v2types.AuthorizerTypeRequest,
		AuthorizerUri: aws.String(uri), AuthorizerPayloadFormatVersion: aws.String("2.0"), EnableSimpleResponses: aws.Bool(true), IdentitySource: []string{}, AuthorizerResultTtlInSeconds: aws.Int32(0)}))
	routes := must(e.v2.GetRoutes(ctx, &apigatewayv2.GetRoutesInput{ApiId: aws.String("h1")}))
	if len(routes.Items) != 2 {
		t.Fatalf("%d routes", len(routes.Items))
	}
	_, err := e.v2.UpdateRoute(ctx, &apigatewayv2.UpdateRouteInput{ApiId: aws.String("h1"), RouteId: aws.String("nope"), AuthorizationType: v2types.AuthorizationTypeCustom, AuthorizerId: z.AuthorizerId})
	wantErr(t, err, "NotFoundException", "Invalid route identifier")
	_, err = e.v2.UpdateRoute(ctx, &apigatewayv2.UpdateRouteInput{ApiId: aws.String("h1"), RouteId: routes.Items[0].RouteId, AuthorizationType: v2types.AuthorizationTypeCustom, AuthorizerId: aws.String("au9999")})
	wantErr(t, err, "BadRequestException", "requires a valid authorizer")
	must(e.v2.UpdateRoute(ctx, &apigatewayv2.UpdateRouteInput{ApiId: aws.String("h1"), RouteId: routes.Items[0].RouteId, AuthorizationType: v2types.AuthorizationTypeCustom, AuthorizerId: z.AuthorizerId}))
	if got := e.f.StageAuth("h1", "$default"); got["GET /pets"] != "CUSTOM:"+*z.AuthorizerId || got["POST /pets"] != "NONE" {
		t.Fatalf("auto-deploy stage serves %v", got)
	}
	if got := e.f.StageAuth("h1", "manual"); got != nil {
		t.Fatalf("a stage without autoDeploy got a deployment: %v", got)
	}
	_, err = e.v2.DeleteAuthorizer(ctx, &apigatewayv2.DeleteAuthorizerInput{ApiId: aws.String("h1"), AuthorizerId: z.AuthorizerId})
	wantErr(t, err, "ConflictException", "is referenced in route: GET /pets")
	// NONE alone keeps the authorizer ID, which still blocks the delete;
	// an explicit empty ID clears it.
	must(e.v2.UpdateRoute(ctx, &apigatewayv2.UpdateRouteInput{ApiId: aws.String("h1"), RouteId: routes.Items[0].RouteId, AuthorizationType: v2types.AuthorizationTypeNone}))
	_, err = e.v2.DeleteAuthorizer(ctx, &apigatewayv2.DeleteAuthorizerInput{ApiId: aws.String("h1"), AuthorizerId: z.AuthorizerId})
	wantErr(t, err, "ConflictException", "is referenced in route: GET /pets")
	must(e.v2.UpdateRoute(ctx, &apigatewayv2.UpdateRouteInput{ApiId: aws.String("h1"), RouteId: routes.Items[0].RouteId, AuthorizationType: v2types.AuthorizationTypeNone, AuthorizerId: aws.String("")}))
	must(e.v2.DeleteAuthorizer(ctx, &apigatewayv2.DeleteAuthorizerInput{ApiId: aws.String("h1"), AuthorizerId: z.AuthorizerId}))

	// REST API.
	_, err = e.v1.CreateAuthorizer(ctx, &apigateway.CreateAuthorizerInput{RestApiId: aws.String("r1"), Name: aws.String("mtls"), Type: v1types.AuthorizerTypeRequest, AuthorizerUri: aws.String("https://example.com")})
	wantErr(t, err, "BadRequestException", "Invalid Authorizer URI")
	_, err = e.v1.CreateAuthorizer(ctx, &apigateway.CreateAuthorizerInput{RestApiId: aws.String("r1"), Name: aws.String("mtls"), Type: v1types.AuthorizerTypeRequest, AuthorizerUri: aws.String(uri)})
	wantErr(t, err, "BadRequestException", "Identity source is required when caching is enabled") // REST's default TTL is 300
	z1 := must(e.v1.CreateAuthorizer(ctx, &apigateway.CreateAuthorizerInput{RestApiId: aws.String("r1"), Name: aws.String("mtls"), Type: v1types.AuthorizerTypeRequest,
		AuthorizerUri: aws.String(uri), AuthorizerResultTtlInSeconds: aws.Int32(0)}))
	res := must(e.v1.GetResources(ctx, &apigateway.GetResourcesInput{RestApiId: aws.String("r1")}))
	if len(res.Items) != 2 || res.Items[0].ResourceMethods["GET"].AuthorizationType != nil {
		t.Fatalf("resources without embed: %d, %+v", len(res.Items), res.Items[0].ResourceMethods["GET"])
	}
	res = must(e.v1.GetResources(ctx, &apigateway.GetResourcesInput{RestApiId: aws.String("r1"), Embed: []string{"methods"}}))
	if m := res.Items[0].ResourceMethods["GET"]; aws.ToString(m.AuthorizationType) != "NONE" {
		t.Fatalf("method %+v", m)
	}
	patch := func(rid, verb, typ, id string) error {
		_, err := e.v1.UpdateMethod(ctx, &apigateway.UpdateMethodInput{RestApiId: aws.String("r1"), ResourceId: aws.String(rid), HttpMethod: aws.String(verb), PatchOperations: []v1types.PatchOperation{
			{Op: v1types.OpReplace, Path: aws.String("/authorizationType"), Value: aws.String(typ)}, {Op: v1types.OpReplace, Path: aws.String("/authorizerId"), Value: aws.String(id)}}})
		return err
	}
	wantErr(t, patch(*res.Items[0].Id, "DELETE", "CUSTOM", *z1.Id), "NotFoundException", "Invalid Method identifier specified")
	if err := patch(*res.Items[0].Id, "GET", "CUSTOM", *z1.Id); err != nil {
		t.Fatal(err)
	}
	if got := e.f.RouteAuth("r1"); got["GET /pets"] != "CUSTOM:"+*z1.Id {
		t.Fatalf("REST methods %v", got)
	}
	if got := e.f.StageAuth("r1", "prod"); got != nil {
		t.Fatalf("REST stage changed without a deployment: %v", got)
	}
	must(e.v1.CreateDeployment(ctx, &apigateway.CreateDeploymentInput{RestApiId: aws.String("r1"), StageName: aws.String("prod")}))
	if got := e.f.StageAuth("r1", "prod"); got["GET /pets"] != "CUSTOM:"+*z1.Id || got["POST /pets"] != "NONE" {
		t.Fatalf("deployed REST stage serves %v", got)
	}
	// The deployment snapshots the authorizer: a later change is not
	// served until the next deployment.
	must(e.v1.UpdateAuthorizer(ctx, &apigateway.UpdateAuthorizerInput{RestApiId: aws.String("r1"), AuthorizerId: z1.Id, PatchOperations: []v1types.PatchOperation{
		{Op: v1types.OpReplace, Path: aws.String("/identitySource"), Value: aws.String("context.identity.clientCert.serialNumber")},
		{Op: v1types.OpReplace, Path: aws.String("/authorizerResultTtlInSeconds"), Value: aws.String("300")}}}))
	if served, _ := e.f.StageAuthorizer("r1", "prod", *z1.Id); served.TTL != 0 {
		t.Fatalf("prod serves an undeployed change: %+v", served)
	}
	_, err = e.v1.UpdateAuthorizer(ctx, &apigateway.UpdateAuthorizerInput{RestApiId: aws.String("r1"), AuthorizerId: z1.Id, PatchOperations: []v1types.PatchOperation{
		{Op: v1types.OpReplace, Path: aws.String("/identitySource"), Value: aws.String("")}}})
	wantErr(t, err, "BadRequestException", "cannot be empty")
	_, err = e.v1.DeleteAuthorizer(ctx, &apigateway.DeleteAuthorizerInput{RestApiId: aws.String("r1"), AuthorizerId: z1.Id})
	wantErr(t, err, "ConflictException", "is referenced in method: GET//pets")
}
