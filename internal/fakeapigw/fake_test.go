package fakeapigw

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
	"github.com/aws/smithy-go"
)

// The fake must be as strict as API Gateway, or tests against it prove
// nothing: each case sends what AWS refuses, through the real SDK clients.
func TestFakeIsStrict(t *testing.T) {
	objects := map[string][]byte{}
	f := New(func(_ context.Context, bucket, key, version string) ([]byte, error) {
		if data, ok := objects[bucket+"/"+key+"@"+version]; ok {
			return data, nil
		}
		return nil, errors.New("not found")
	})
	defer f.Close()
	objects["b/ts.pem@v1"] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	f.AddDomain(&Domain{Name: "http.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	f.AddDomain(&Domain{Name: "edge.example.com", EndpointType: "EDGE", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	f.AddDomain(&Domain{Name: "rest.example.com", REST: true, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:c"})
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	v2 := apigatewayv2.New(apigatewayv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL()), Credentials: creds, RetryMaxAttempts: 1})
	v1 := apigateway.New(apigateway.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL()), Credentials: creds, RetryMaxAttempts: 1})
	ctx := context.Background()
	cfg := v2types.DomainNameConfiguration{CertificateArn: aws.String("arn:c"), EndpointType: v2types.EndpointTypeRegional, SecurityPolicy: v2types.SecurityPolicyTls12}
	mtls := func(uri, version string) *v2types.MutualTlsAuthenticationInput {
		return &v2types.MutualTlsAuthenticationInput{TruststoreUri: aws.String(uri), TruststoreVersion: aws.String(version)}
	}

	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"v2 update without a configuration", "BadRequestException", "Expected one domain name configuration", func() error {
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), MutualTlsAuthentication: mtls("s3://b/ts.pem", "v1")})
			return err
		}},
		{"v2 update with two configurations", "BadRequestException", "Expected one domain name configuration", func() error {
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg, cfg}})
			return err
		}},
		{"missing truststore version", "BadRequestException", "Invalid truststore URI/versionId specified.", func() error {
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}, MutualTlsAuthentication: mtls("s3://b/ts.pem", "v9")})
			return err
		}},
		{"mTLS on an edge domain", "BadRequestException", "only supported for REGIONAL", func() error {
			edge := cfg
			edge.EndpointType = v2types.EndpointTypeEdge
			_, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("edge.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{edge}, MutualTlsAuthentication: mtls("s3://b/ts.pem", "v1")})
			return err
		}},
		{"REST ownership certificate with the truststore", "BadRequestException", "Missing ownershipVerificationCertificate.", func() error {
			_, err := v1.UpdateDomainName(ctx, &apigateway.UpdateDomainNameInput{DomainName: aws.String("rest.example.com"), PatchOperations: []v1types.PatchOperation{
				{Op: v1types.OpReplace, Path: aws.String("/mutualTlsAuthentication/truststoreUri"), Value: aws.String("s3://b/ts.pem")},
				{Op: v1types.OpReplace, Path: aws.String("/ownershipVerificationCertificateArn"), Value: aws.String("arn:o")}}})
			return err
		}},
		{"unknown domain", "NotFoundException", "Invalid domain name identifier", func() error {
			_, err := v1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String("nope.example.com")})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), tc.msg) {
				t.Fatalf("err = %v, want %s with %q", err, tc.code, tc.msg)
			}
		})
	}

	// A valid update: warnings for the unparsable certificate, UPDATING,
	// a second update refused until AVAILABLE.
	out, err := v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"),
		DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}, MutualTlsAuthentication: mtls("s3://b/ts.pem", "v1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MutualTlsAuthentication.TruststoreWarnings) != 1 || out.DomainNameConfigurations[0].DomainNameStatus != v2types.DomainNameStatusUpdating {
		t.Fatalf("after update: warnings %q, status %s", out.MutualTlsAuthentication.TruststoreWarnings, out.DomainNameConfigurations[0].DomainNameStatus)
	}
	_, err = v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("http.example.com"), DomainNameConfigurations: []v2types.DomainNameConfiguration{cfg}})
	var conflict *v2types.ConflictException
	if !errors.As(err, &conflict) {
		t.Fatalf("second update while UPDATING: %v, want ConflictException", err)
	}
	for range f.UpdatingPolls + 1 {
		if _, err := v2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String("http.example.com")}); err != nil {
			t.Fatal(err)
		}
	}
	if d := f.Domain("http.example.com"); d.Status != "AVAILABLE" {
		t.Fatalf("status %s after polling, want AVAILABLE", d.Status)
	}
	if n := len(f.MutatingRequests()); n != 7 {
		t.Fatalf("%d mutating requests recorded, want 7", n)
	}
}
