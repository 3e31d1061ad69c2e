package fakeapigw

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
)

// AWS's page sizes: a client that reads one page misses mappings.
func TestPaging(t *testing.T) {
	e := newEnv(t, Quotas{})
	f := e.f
	f.AddDomain(&Domain{Name: "d.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2"})
	stages := map[string]bool{}
	for i := range 30 {
		stages[fmt.Sprintf("s%02d", i)] = false
	}
	f.AddAPI(&API{ID: "h1", Stages: stages})
	f.AddAPI(&API{ID: "r1", REST: true, Stages: stages})
	for i := range 130 {
		f.Map("d.example.com", "h1", fmt.Sprintf("s%02d", i%30))
		f.AddRoutingRule("d.example.com", RoutingRule{Priority: 1000 - i, APIID: "r1", Stage: "s00"})
	}
	for i := range 30 {
		f.Deploy("r1", fmt.Sprintf("s%02d", i), "old", t0.Add(-time.Hour))
	}

	v1page := must(e.v1.GetBasePathMappings(ctx, &apigateway.GetBasePathMappingsInput{DomainName: aws.String("d.example.com")}))
	if len(v1page.Items) != 25 || v1page.Position == nil {
		t.Fatalf("v1 first page: %d items, position %v; want 25 and a position", len(v1page.Items), v1page.Position)
	}
	n := 0
	for p := apigateway.NewGetBasePathMappingsPaginator(e.v1, &apigateway.GetBasePathMappingsInput{DomainName: aws.String("d.example.com"), Limit: aws.Int32(500)}); p.HasMorePages(); {
		n += len(must(p.NextPage(ctx)).Items)
	}
	if n != 130 {
		t.Fatalf("v1 paginator saw %d mappings, want 130", n)
	}
	_, err := e.v1.GetBasePathMappings(ctx, &apigateway.GetBasePathMappingsInput{DomainName: aws.String("d.example.com"), Limit: aws.Int32(501)})
	wantErr(t, err, "BadRequestException", "Invalid limit")
	_, err = e.v1.GetBasePathMappings(ctx, &apigateway.GetBasePathMappingsInput{DomainName: aws.String("d.example.com"), Position: aws.String("made-up")})
	wantErr(t, err, "BadRequestException", "Invalid position")
	deps := must(e.v1.GetDeployments(ctx, &apigateway.GetDeploymentsInput{RestApiId: aws.String("r1")}))
	if len(deps.Items) != 25 || deps.Position == nil {
		t.Fatalf("v1 deployments: %d items, want a first page of 25", len(deps.Items))
	}
	if st := must(e.v1.GetStages(ctx, &apigateway.GetStagesInput{RestApiId: aws.String("r1")})); len(st.Item) != 30 {
		t.Fatalf("v1 GetStages returned %d stages, want all 30 (it is not paged)", len(st.Item))
	}

	// v2: default 25, at most 100 a page whatever is asked.
	m := must(e.v2.GetApiMappings(ctx, &apigatewayv2.GetApiMappingsInput{DomainName: aws.String("d.example.com")}))
	if len(m.Items) != 25 || m.NextToken == nil {
		t.Fatalf("v2 first page: %d items, want 25 and a token", len(m.Items))
	}
	m = must(e.v2.GetApiMappings(ctx, &apigatewayv2.GetApiMappingsInput{DomainName: aws.String("d.example.com"), MaxResults: aws.String("500")}))
	if len(m.Items) != 100 || m.NextToken == nil {
		t.Fatalf("v2 page of 500 asked: %d items, want 100 and a token", len(m.Items))
	}
	m = must(e.v2.GetApiMappings(ctx, &apigatewayv2.GetApiMappingsInput{DomainName: aws.String("d.example.com"), MaxResults: aws.String("500"), NextToken: m.NextToken}))
	if len(m.Items) != 30 || m.NextToken != nil {
		t.Fatalf("v2 last page: %d items, token %v", len(m.Items), m.NextToken)
	}
	_, err = e.v2.GetApiMappings(ctx, &apigatewayv2.GetApiMappingsInput{DomainName: aws.String("d.example.com"), NextToken: deps.Position})
	wantErr(t, err, "BadRequestException", "Invalid nextToken")
	if st := must(e.v2.GetStages(ctx, &apigatewayv2.GetStagesInput{ApiId: aws.String("h1")})); len(st.Items) != 25 || st.NextToken == nil {
		t.Fatalf("v2 GetStages: %d items, want a first page of 25", len(st.Items))
	}
	rules := must(e.v2.ListRoutingRules(ctx, &apigatewayv2.ListRoutingRulesInput{DomainName: aws.String("d.example.com")}))
	if len(rules.RoutingRules) != 25 || rules.NextToken == nil || *rules.RoutingRules[0].Priority != 871 {
		t.Fatalf("routing rules first page: %d rules, first priority %d", len(rules.RoutingRules), *rules.RoutingRules[0].Priority)
	}
	if a := rules.RoutingRules[0].Actions[0].InvokeApi; *a.ApiId != "r1" || *a.Stage != "s00" {
		t.Fatalf("rule action %s/%s", *a.ApiId, *a.Stage)
	}
}

// One domain can map REST and HTTP APIs; both views list every mapping;
// routing modes and rules show in both views.
func TestMixedMappingsAndRouting(t *testing.T) {
	e := newEnv(t, Quotas{})
	f := e.f
	f.AddDomain(&Domain{Name: "m.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2"})
	f.AddAPI(&API{ID: "h1", Stages: map[string]bool{"prod": false}})
	f.AddAPI(&API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false}})
	f.Map("m.example.com", "h1", "prod")
	must(e.v2.CreateApiMapping(ctx, &apigatewayv2.CreateApiMappingInput{DomainName: aws.String("m.example.com"), ApiId: aws.String("r1"), Stage: aws.String("prod"), ApiMappingKey: aws.String("rest")}))
	v2m := must(e.v2.GetApiMappings(ctx, &apigatewayv2.GetApiMappingsInput{DomainName: aws.String("m.example.com")}))
	v1m := must(e.v1.GetBasePathMappings(ctx, &apigateway.GetBasePathMappingsInput{DomainName: aws.String("m.example.com")}))
	if len(v2m.Items) != 2 || len(v1m.Items) != 2 || *v1m.Items[0].RestApiId != "h1" {
		t.Fatalf("v2 lists %d, v1 lists %d mappings; want both to list the HTTP and the REST mapping", len(v2m.Items), len(v1m.Items))
	}
	_, err := e.v1.CreateBasePathMapping(ctx, &apigateway.CreateBasePathMappingInput{DomainName: aws.String("m.example.com"), RestApiId: aws.String("r1"), Stage: aws.String("prod"), BasePath: aws.String("v1")})
	wantErr(t, err, "BadRequestException", "Mixing of REST APIs and HTTP APIs on the same domain name")
	_, err = e.v2.CreateApiMapping(ctx, &apigatewayv2.CreateApiMappingInput{DomainName: aws.String("m.example.com"), ApiId: aws.String("h1"), Stage: aws.String("prod"), ApiMappingKey: aws.String("rest")})
	wantErr(t, err, "ConflictException", "ApiMapping key already exists for this domain name")

	if d := must(e.v2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String("m.example.com")})); d.RoutingMode != v2types.RoutingModeApiMappingOnly {
		t.Fatalf("v2 default routing mode %q", d.RoutingMode)
	}
	f.SetRoutingMode("m.example.com", RoutingRuleThenAPIMapping)
	if d := must(e.v1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String("m.example.com")})); d.RoutingMode != v1types.RoutingModeRoutingRuleThenBasePathMapping {
		t.Fatalf("v1 routing mode %q", d.RoutingMode)
	}
	f.SetRoutingMode("m.example.com", RoutingRuleOnly)
	f.AddRoutingRule("m.example.com", RoutingRule{Priority: 5, APIID: "r1", Stage: "prod"})
	_, err = e.v2.CreateApiMapping(ctx, &apigatewayv2.CreateApiMappingInput{DomainName: aws.String("m.example.com"), ApiId: aws.String("r1"), Stage: aws.String("prod"), ApiMappingKey: aws.String("other")})
	wantErr(t, err, "BadRequestException", "ROUTING_RULE_ONLY")
	if d := must(e.v2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String("m.example.com")})); d.RoutingMode != v2types.RoutingModeRoutingRuleOnly {
		t.Fatalf("v2 routing mode %q", d.RoutingMode)
	}
	if r := must(e.v2.ListRoutingRules(ctx, &apigatewayv2.ListRoutingRulesInput{DomainName: aws.String("m.example.com")})); len(r.RoutingRules) != 1 {
		t.Fatalf("%d routing rules", len(r.RoutingRules))
	}
}

// Stages carry their current deployment and dates; CreateDeployment keeps
// a description and the clock's time; auto-deploy stages take none.
func TestDeployments(t *testing.T) {
	e := newEnv(t, Quotas{})
	f := e.f
	f.AddAPI(&API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false, "dev": false}})
	f.AddAPI(&API{ID: "h1", Stages: map[string]bool{"prod": false, "auto": true}})
	old := t0.Add(-72 * time.Hour)
	f.Deploy("r1", "prod", "held back", old)

	st := must(e.v1.GetStages(ctx, &apigateway.GetStagesInput{RestApiId: aws.String("r1")}))
	var prod v1types.Stage
	for _, s := range st.Item {
		if *s.StageName == "prod" {
			prod = s
		}
	}
	if prod.DeploymentId == nil || !prod.LastUpdatedDate.Equal(old) || !prod.CreatedDate.Equal(old) {
		t.Fatalf("prod stage: deployment %v, created %v, updated %v", prod.DeploymentId, prod.CreatedDate, prod.LastUpdatedDate)
	}
	e.clock.Advance(time.Hour)
	dep := must(e.v1.CreateDeployment(ctx, &apigateway.CreateDeploymentInput{RestApiId: aws.String("r1"), StageName: aws.String("dev"), Description: aws.String("apimtls: close the default endpoint")}))
	if !dep.CreatedDate.Equal(t0.Add(time.Hour)) || *dep.Description != "apimtls: close the default endpoint" {
		t.Fatalf("deployment %+v", dep)
	}
	a := f.API("r1")
	if a.StageDeployment["dev"] != *dep.Id || a.StageDeployment["prod"] == *dep.Id || len(a.Deployments) != 1 || len(a.DeploymentLog) != 2 {
		t.Fatalf("API state after deploying dev: %+v", a)
	}
	deps := must(e.v1.GetDeployments(ctx, &apigateway.GetDeploymentsInput{RestApiId: aws.String("r1")}))
	if len(deps.Items) != 2 || *deps.Items[0].Description != "held back" || !deps.Items[0].CreatedDate.Equal(old) {
		t.Fatalf("deployments %+v", deps.Items)
	}

	_, err := e.v2.CreateDeployment(ctx, &apigatewayv2.CreateDeploymentInput{ApiId: aws.String("h1"), StageName: aws.String("auto")})
	wantErr(t, err, "BadRequestException", "autoDeploy")
	must(e.v2.CreateDeployment(ctx, &apigatewayv2.CreateDeploymentInput{ApiId: aws.String("h1"), StageName: aws.String("prod"), Description: aws.String("d")}))
	v2st := must(e.v2.GetStages(ctx, &apigatewayv2.GetStagesInput{ApiId: aws.String("h1")}))
	if len(v2st.Items) != 2 || !*v2st.Items[0].AutoDeploy || v2st.Items[1].DeploymentId == nil || !v2st.Items[1].LastUpdatedDate.Equal(t0.Add(time.Hour)) {
		t.Fatalf("v2 stages %+v", v2st.Items)
	}
	if d := must(e.v2.GetDeployments(ctx, &apigatewayv2.GetDeploymentsInput{ApiId: aws.String("h1")})); len(d.Items) != 1 || *d.Items[0].Description != "d" {
		t.Fatalf("v2 deployments %+v", d.Items)
	}

	// The endpoint change is timed, and only a change counts.
	e.clock.Advance(time.Minute)
	must(e.v1.UpdateRestApi(ctx, &apigateway.UpdateRestApiInput{RestApiId: aws.String("r1"), PatchOperations: []v1types.PatchOperation{replace("/disableExecuteApiEndpoint", "True")}}))
	e.clock.Advance(time.Minute)
	must(e.v1.UpdateRestApi(ctx, &apigateway.UpdateRestApiInput{RestApiId: aws.String("r1"), PatchOperations: []v1types.PatchOperation{replace("/disableExecuteApiEndpoint", "True")}}))
	if got := f.API("r1").EndpointChangedAt; !got.Equal(t0.Add(time.Hour + time.Minute)) {
		t.Fatalf("EndpointChangedAt %s", got)
	}
	must(e.v2.UpdateApi(ctx, &apigatewayv2.UpdateApiInput{ApiId: aws.String("h1"), DisableExecuteApiEndpoint: aws.Bool(true)}))
	if got := f.API("h1").EndpointChangedAt; !got.Equal(t0.Add(time.Hour + 2*time.Minute)) {
		t.Fatalf("HTTP API EndpointChangedAt %s", got)
	}
}

// Imported and private server certificates need a public ownership
// certificate: none is refused, a bad one leaves the domain
// PENDING_OWNERSHIP_VERIFICATION, and sending it with the truststore in one
// update works (no invented "set it first" rule).
func TestOwnershipVerification(t *testing.T) {
	e := newEnv(t, Quotas{})
	f := e.f
	e.objects["b/ts.pem@v1"] = goodCA(t)
	f.AddCertificate(&Certificate{Arn: "arn:imported", Type: "IMPORTED", Status: "ISSUED"})
	f.AddCertificate(&Certificate{Arn: "arn:private", Type: "PRIVATE", Status: "ISSUED"})
	f.AddCertificate(&Certificate{Arn: "arn:owner", Domain: "*.example.com", Type: "AMAZON_ISSUED", Status: "ISSUED"})
	f.AddCertificate(&Certificate{Arn: "arn:pending", Type: "AMAZON_ISSUED", Status: "PENDING_VALIDATION"})
	f.AddDomain(&Domain{Name: "r.example.com", REST: true, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:imported"})
	f.AddDomain(&Domain{Name: "h.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:private"})
	truststore := []v1types.PatchOperation{replace("/mutualTlsAuthentication/truststoreUri", "s3://b/ts.pem"), replace("/mutualTlsAuthentication/truststoreVersion", "v1")}

	_, err := e.v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("r.example.com"), PatchOperations: truststore})
	wantErr(t, err, "BadRequestException", "Missing ownershipVerificationCertificate.")
	out := must(e.v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("r.example.com"),
		PatchOperations: append(truststore, replace("/ownershipVerificationCertificateArn", "arn:owner"))}))
	if out.DomainNameStatus != v1types.DomainNameStatusUpdating || *out.MutualTlsAuthentication.TruststoreVersion != "v1" || *out.OwnershipVerificationCertificateArn != "arn:owner" {
		t.Fatalf("v1 update with both: %s %+v", out.DomainNameStatus, out.MutualTlsAuthentication)
	}

	private := cfg
	private.CertificateArn = aws.String("arn:private")
	_, err = e.v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("h.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{private},
		MutualTlsAuthentication: mtlsIn2("s3://b/ts.pem", aws.String("v1"))})
	wantErr(t, err, "BadRequestException", "Missing ownershipVerificationCertificate.")
	pending := private
	pending.OwnershipVerificationCertificateArn = aws.String("arn:pending")
	o2 := must(e.v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("h.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{pending},
		MutualTlsAuthentication: mtlsIn2("s3://b/ts.pem", aws.String("v1"))}))
	if o2.DomainNameConfigurations[0].DomainNameStatus != v2types.DomainNameStatusPendingOwnershipVerification {
		t.Fatalf("with an unissued ownership certificate: status %s", o2.DomainNameConfigurations[0].DomainNameStatus)
	}
	if d := must(e.v1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String("h.example.com")})); d.DomainNameStatus != v1types.DomainNameStatusPendingOwnershipVerification || d.DomainNameStatusMessage == nil {
		t.Fatalf("v1 view: %s", d.DomainNameStatus)
	}
	_, err = e.v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("h.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{pending}})
	wantErr(t, err, "BadRequestException", "PENDING_OWNERSHIP_VERIFICATION")
	good := private
	good.OwnershipVerificationCertificateArn = aws.String("arn:owner")
	o2 = must(e.v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("h.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{good}}))
	if o2.DomainNameConfigurations[0].DomainNameStatus != v2types.DomainNameStatusUpdating {
		t.Fatalf("after a valid ownership certificate: %s", o2.DomainNameConfigurations[0].DomainNameStatus)
	}
}

// Strict version semantics: sending the URI alone keeps the version; an
// explicit empty version selects the newest.
func TestTruststoreVersionIsKept(t *testing.T) {
	e := newEnv(t, Quotas{})
	f := e.f
	for _, v := range []string{"v1", "v2", ""} {
		e.objects["b/ts.pem@"+v] = goodCA(t)
	}
	f.AddDomain(&Domain{Name: "r.example.com", REST: true, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	f.AddDomain(&Domain{Name: "h.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	v1update := func(ops ...v1types.PatchOperation) string {
		t.Helper()
		must(e.v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("r.example.com"), PatchOperations: ops}))
		e.settle(t, "r.example.com")
		d := f.Domain("r.example.com")
		return d.TruststoreURI + "@" + d.TruststoreVersion
	}
	uri := replace("/mutualTlsAuthentication/truststoreUri", "s3://b/ts.pem")
	if got := v1update(uri, replace("/mutualTlsAuthentication/truststoreVersion", "v2")); got != "s3://b/ts.pem@v2" {
		t.Fatal(got)
	}
	if got := v1update(uri); got != "s3://b/ts.pem@v2" {
		t.Fatalf("v1 patch of the URI alone: %s, want the version kept", got)
	}
	if got := v1update(uri, replace("/mutualTlsAuthentication/truststoreVersion", "")); got != "s3://b/ts.pem@" {
		t.Fatalf("v1 explicit empty version: %s, want it cleared", got)
	}
	if got := v1update(replace("/mutualTlsAuthentication/truststoreUri", "")); got != "@" {
		t.Fatalf("v1 empty URI: %s, want mTLS off", got)
	}

	v2update := func(version *string) string {
		t.Helper()
		must(e.v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("h.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg},
			MutualTlsAuthentication: mtlsIn2("s3://b/ts.pem", version)}))
		e.settle(t, "h.example.com")
		d := f.Domain("h.example.com")
		return d.TruststoreURI + "@" + d.TruststoreVersion
	}
	if got := v2update(aws.String("v1")); got != "s3://b/ts.pem@v1" {
		t.Fatal(got)
	}
	if got := v2update(nil); got != "s3://b/ts.pem@v1" {
		t.Fatalf("v2 without truststoreVersion: %s, want the version kept", got)
	}
	if got := v2update(aws.String("")); got != "s3://b/ts.pem@" {
		t.Fatalf("v2 explicit empty version: %s, want it cleared", got)
	}
}

// The truststore is read as the caller: a caller the bucket denies gets
// AWS's "Unable to access truststore URI" refusal.
func TestTruststoreReadAsCaller(t *testing.T) {
	e := newEnv(t, Quotas{})
	e.objects["b/ts.pem@v1"] = goodCA(t)
	e.objects["b/ts.pem@"] = goodCA(t)
	e.f.AddDomain(&Domain{Name: "r.example.com", REST: true, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	e.denied["AKIDDENIED"] = true
	denied, _ := e.clients("AKIDDENIED")
	_, err := denied.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("r.example.com"), PatchOperations: []v1types.PatchOperation{
		replace("/mutualTlsAuthentication/truststoreUri", "s3://b/ts.pem")}})
	wantErr(t, err, "BadRequestException", "Unable to access truststore URI s3://b/ts.pem version N/A")
	_, err = denied.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("r.example.com"), PatchOperations: []v1types.PatchOperation{
		replace("/mutualTlsAuthentication/truststoreUri", "s3://b/ts.pem"), replace("/mutualTlsAuthentication/truststoreVersion", "v1")}})
	wantErr(t, err, "BadRequestException", "Unable to access truststore URI s3://b/ts.pem version v1")
	must(e.v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("r.example.com"), PatchOperations: []v1types.PatchOperation{
		replace("/mutualTlsAuthentication/truststoreUri", "s3://b/ts.pem")}}))
	if got := strings.Join(e.callers, ","); got != "AKIDDENIED,AKIDDENIED,AKIDTEST" {
		t.Fatalf("read as %s", got)
	}
}
