package fakeapigw

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
	"github.com/aws/smithy-go"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a fake with a test clock, an in-memory object store and the real
// SDK clients (retries off, so every refusal reaches the test).
type env struct {
	f       *Fake
	clock   *TestClock
	objects map[string][]byte // "bucket/key@version"; version "" is the newest
	denied  map[string]bool   // caller access key IDs that may not read
	callers []string          // who the fake read objects as
	v1      *apigateway.Client
	v2      *apigatewayv2.Client
}

func newEnv(t *testing.T, quotas Quotas) *env {
	t.Helper()
	e := &env{clock: NewTestClock(t0), objects: map[string][]byte{}, denied: map[string]bool{}}
	e.f = New(func(_ context.Context, caller, bucket, key, version string) ([]byte, error) {
		e.callers = append(e.callers, caller)
		if e.denied[caller] {
			return nil, ErrAccessDenied
		}
		if data, ok := e.objects[bucket+"/"+key+"@"+version]; ok {
			return data, nil
		}
		return nil, errors.New("NoSuchVersion")
	})
	t.Cleanup(e.f.Close)
	e.f.Clock, e.f.Quotas = e.clock, quotas
	e.v1, e.v2 = e.clients("AKIDTEST")
	return e
}

func (e *env) clients(akid string) (*apigateway.Client, *apigatewayv2.Client) {
	creds := credentials.NewStaticCredentialsProvider(akid, "secret", "")
	return apigateway.New(apigateway.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.f.URL()), Credentials: creds, RetryMaxAttempts: 1}),
		apigatewayv2.New(apigatewayv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.f.URL()), Credentials: creds, RetryMaxAttempts: 1})
}

// wantErr fails unless err is an API error with code and a message
// containing msg.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("err = %v, want %s with %q", err, code, msg)
	}
}

// must returns v, or panics (failing the test) on an unexpected error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var (
	ctx = context.Background()
	cfg = v2types.DomainNameConfiguration{CertificateArn: aws.String("arn:c"), EndpointType: v2types.EndpointTypeRegional, SecurityPolicy: v2types.SecurityPolicyTls12}
)

func mtlsIn2(uri string, version *string) *v2types.MutualTlsAuthenticationInput {
	return &v2types.MutualTlsAuthenticationInput{TruststoreUri: aws.String(uri), TruststoreVersion: version}
}

func replace(path, value string) v1types.PatchOperation {
	return v1types.PatchOperation{Op: v1types.OpReplace, Path: aws.String(path), Value: aws.String(value)}
}

// settle polls a domain until it is AVAILABLE again.
func (e *env) settle(t *testing.T, name string) {
	t.Helper()
	for range e.f.UpdatingPolls + 1 {
		must(e.v2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String(name)}))
	}
}

// The fake must be as strict as API Gateway, or tests against it prove
// nothing: each case sends what AWS refuses, through the real SDK clients.
func TestFakeIsStrict(t *testing.T) {
	e := newEnv(t, Quotas{})
	f := e.f
	e.objects["b/ts.pem@v1"] = goodCA(t)
	f.AddDomain(&Domain{Name: "http.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	f.AddDomain(&Domain{Name: "edge.example.com", EndpointType: "EDGE", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	f.AddDomain(&Domain{Name: "rest.example.com", REST: true, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	v1, v2 := e.v1, e.v2

	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"v2 update without a configuration", "BadRequestException", "Expected one domain name configuration", func() error {
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), MutualTlsAuthentication: mtlsIn2("s3://b/ts.pem", aws.String("v1"))})
			return err
		}},
		{"v2 update with two configurations", "BadRequestException", "Expected one domain name configuration", func() error {
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg, cfg}})
			return err
		}},
		{"missing truststore version", "BadRequestException", "Invalid truststore URI/versionId specified.", func() error {
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}, MutualTlsAuthentication: mtlsIn2("s3://b/ts.pem", aws.String("v9"))})
			return err
		}},
		{"mTLS on an edge domain", "BadRequestException", "only supported for REGIONAL", func() error {
			edge := cfg
			edge.EndpointType = v2types.EndpointTypeEdge
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("edge.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{edge}, MutualTlsAuthentication: mtlsIn2("s3://b/ts.pem", aws.String("v1"))})
			return err
		}},
		{"unknown domain", "NotFoundException", "Invalid domain name identifier", func() error {
			_, err := v1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String("nope.example.com")})
			return err
		}},
		{"v1 create of an existing name", "BadRequestException", "The domain name you provided already exists.", func() error {
			_, err := v1.CreateDomainName(ctx, &apigateway.CreateDomainNameInput{DomainName: aws.String("http.example.com"), RegionalCertificateArn: aws.String("arn:c"),
				EndpointConfiguration: &v1types.EndpointConfiguration{Types: []v1types.EndpointType{v1types.EndpointTypeRegional}}})
			return err
		}},
		{"v2 create of an existing name", "BadRequestException", "The domain name you provided already exists.", func() error {
			_, err := v2.CreateDomainName(ctx, &apigatewayv2.CreateDomainNameInput{DomainName: aws.String("rest.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}})
			return err
		}},
		{"truststore that is not PEM", "BadRequestException", "no PEM certificates", func() error {
			e.objects["b/junk.txt@"] = []byte("hello")
			_, err := v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("rest.example.com"), PatchOperations: []v1types.PatchOperation{
				replace("/mutualTlsAuthentication/truststoreUri", "s3://b/junk.txt")}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.call(), tc.code, tc.msg) })
	}

	// A valid update: UPDATING, a second update refused with AWS's words
	// until AVAILABLE.
	out := must(v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"),
		DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}, MutualTlsAuthentication: mtlsIn2("s3://b/ts.pem", aws.String("v1"))}))
	if len(out.MutualTlsAuthentication.TruststoreWarnings) != 0 || out.DomainNameConfigurations[0].DomainNameStatus != v2types.DomainNameStatusUpdating {
		t.Fatalf("after update: warnings %q, status %s", out.MutualTlsAuthentication.TruststoreWarnings, out.DomainNameConfigurations[0].DomainNameStatus)
	}
	_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}})
	wantErr(t, err, "ConflictException", "There is already an update in progress")
	e.settle(t, "http.example.com")
	if d := f.Domain("http.example.com"); d.Status != "AVAILABLE" {
		t.Fatalf("status %s after polling, want AVAILABLE", d.Status)
	}
	f.Conflict("http.example.com", 1)
	_, err = v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}})
	wantErr(t, err, "ConflictException", "Unable to complete operation due to concurrent modification. Please try again later.")
	if n := len(f.MutatingRequests()); n != 10 {
		t.Fatalf("%d mutating requests recorded, want 10", n)
	}
}

func TestTestClock(t *testing.T) {
	c := NewTestClock(t0)
	if err := c.Sleep(ctx, 90*time.Second); err != nil || !c.Now().Equal(t0.Add(90*time.Second)) {
		t.Fatalf("Sleep: err %v, now %s", err, c.Now())
	}
	c.Advance(time.Second)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Sleep(cancelled, time.Hour); !errors.Is(err, context.Canceled) || !c.Now().Equal(t0.Add(91*time.Second)) {
		t.Fatalf("Sleep on a cancelled context: err %v, now %s", err, c.Now())
	}
}

// AWS's quotas: one domain write per 30 s per account across both
// services, one deployment per 5 s, 10 rps with a burst of 40; over quota,
// 429 with Retry-After.
func TestQuotas(t *testing.T) {
	e := newEnv(t, AWSQuotas)
	e.objects["b/ts.pem@v1"] = goodCA(t)
	e.f.AddDomain(&Domain{Name: "a.example.com", REST: true, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	e.f.AddAPI(&API{ID: "r1", REST: true, Stages: map[string]bool{"prod": false, "dev": false}})
	update := func() error {
		_, err := e.v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("a.example.com"),
			PatchOperations: []v1types.PatchOperation{replace("/securityPolicy", "TLS_1_2")}})
		return err
	}
	retryAfter := func(err error) string {
		t.Helper()
		var tm *v1types.TooManyRequestsException
		if !errors.As(err, &tm) || tm.RetryAfterSeconds == nil {
			t.Fatalf("err = %v, want TooManyRequestsException with Retry-After", err)
		}
		return *tm.RetryAfterSeconds
	}
	if err := update(); err != nil {
		t.Fatal(err)
	}
	e.settle(t, "a.example.com")
	if got := retryAfter(update()); got != "30" {
		t.Fatalf("Retry-After %s, want 30", got)
	}
	e.clock.Advance(29*time.Second + 100*time.Millisecond)
	if got := retryAfter(update()); got != "1" { // 0.9 s rounds up
		t.Fatalf("Retry-After %s, want 1", got)
	}
	// The window counts per account: a v2 create is a domain write too.
	_, err := e.v2.CreateDomainName(ctx, &apigatewayv2.CreateDomainNameInput{DomainName: aws.String("b.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}})
	wantErr(t, err, "TooManyRequestsException", "Too Many Requests")
	// Refused calls did not restart the window: 30 s after the first, a write passes.
	e.clock.Advance(time.Second)
	if err := update(); err != nil {
		t.Fatalf("30 s after the last admitted write: %v", err)
	}

	deploy := func(stage string) error {
		_, err := e.v1.CreateDeployment(ctx, &apigateway.CreateDeploymentInput{RestApiId: aws.String("r1"), StageName: aws.String(stage)})
		return err
	}
	if err := deploy("prod"); err != nil {
		t.Fatal(err)
	}
	if got := retryAfter(deploy("dev")); got != "5" {
		t.Fatalf("second deployment: Retry-After %s, want 5", got)
	}
	e.clock.Advance(5 * time.Second)
	if err := deploy("dev"); err != nil {
		t.Fatalf("5 s later: %v", err)
	}

	// Burst 40, then 10 per second.
	e.clock.Advance(time.Minute)
	get := func() error {
		_, err := e.v1.GetRestApi(ctx, &apigateway.GetRestApiInput{RestApiId: aws.String("r1")})
		return err
	}
	for i := range 40 {
		if err := get(); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	if got := retryAfter(get()); got != "1" {
		t.Fatalf("41st call: Retry-After %s, want 1", got)
	}
	e.clock.Advance(100 * time.Millisecond)
	if err := get(); err != nil {
		t.Fatalf("a token later: %v", err)
	}

	// The zero Quotas switch them off.
	e.f.Quotas = Quotas{}
	for range 50 {
		if err := get(); err != nil {
			t.Fatal(err)
		}
	}
	if err := deploy("prod"); err != nil {
		t.Fatal(err)
	}
	if err := deploy("dev"); err != nil {
		t.Fatal(err)
	}
}
