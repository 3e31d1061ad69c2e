package fakeapigw

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	v1types "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"
)

// TestDomainTags: a domain's tags read back through both services' real
// SDK clients (apigateway "tags", apigatewayv2 "tags", both the SDK's
// Tags), whichever service made it; CloudFormation's aws: tags are put in
// place, never accepted from a request; an update keeps them.
func TestDomainTags(t *testing.T) {
	e := newEnv(t, Quotas{})
	ctx := context.Background()
	cfn := map[string]string{"aws:cloudformation:stack-name": "edge", "aws:cloudformation:logical-id": "ApiDomain"}
	e.f.AddDomain(&Domain{Name: "cfn.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2", CertificateArn: "arn:aws:acm:us-east-1:111122223333:certificate/public"})
	e.f.SetTags("cfn.example.com", cfn)
	v1, err := e.v1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String("cfn.example.com")})
	if err != nil || v1.Tags["aws:cloudformation:stack-name"] != "edge" || v1.Tags["aws:cloudformation:logical-id"] != "ApiDomain" {
		t.Fatalf("apigateway tags %v, %v", v1.Tags, err)
	}
	v2, err := e.v2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String("cfn.example.com")})
	if err != nil || v2.Tags["aws:cloudformation:stack-name"] != "edge" || len(v2.Tags) != 2 {
		t.Fatalf("apigatewayv2 tags %v, %v", v2.Tags, err)
	}
	// An update leaves the tags as they were.
	if _, err := e.v2.UpdateDomainName(ctx, &apigatewayv2.UpdateDomainNameInput{DomainName: aws.String("cfn.example.com"),
		DomainNameConfigurations: []v2types.DomainNameConfiguration{{CertificateArn: aws.String("arn:aws:acm:us-east-1:111122223333:certificate/public"), EndpointType: v2types.EndpointTypeRegional, SecurityPolicy: v2types.SecurityPolicyTls12}}}); err != nil {
		t.Fatal(err)
	}
	if got := e.f.Domain("cfn.example.com").Tags; got["aws:cloudformation:stack-name"] != "edge" {
		t.Fatalf("tags after an update: %v", got)
	}

	// Tags sent with a create read back; no tags, no "tags".
	if _, err := e.v1.CreateDomainName(ctx, &apigateway.CreateDomainNameInput{DomainName: aws.String("rest.example.com"), RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:111122223333:certificate/public"),
		EndpointConfiguration: &v1types.EndpointConfiguration{Types: []v1types.EndpointType{v1types.EndpointTypeRegional}}, Tags: map[string]string{"team": "edge"}}); err != nil {
		t.Fatal(err)
	}
	if v2, err := e.v2.GetDomainName(ctx, &apigatewayv2.GetDomainNameInput{DomainName: aws.String("rest.example.com")}); err != nil || v2.Tags["team"] != "edge" {
		t.Fatalf("a REST domain's tags through apigatewayv2: %v, %v", v2.Tags, err)
	}
	if _, err := e.v2.CreateDomainName(ctx, &apigatewayv2.CreateDomainNameInput{DomainName: aws.String("plain.example.com"),
		DomainNameConfigurations: []v2types.DomainNameConfiguration{{CertificateArn: aws.String("arn:aws:acm:us-east-1:111122223333:certificate/public"), EndpointType: v2types.EndpointTypeRegional}}}); err != nil {
		t.Fatal(err)
	}
	if v1, err := e.v1.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String("plain.example.com")}); err != nil || v1.Tags != nil {
		t.Fatalf("an untagged domain: %v, %v", v1.Tags, err)
	}

	// The aws: prefix is AWS's own: a request carrying it is refused.
	_, err = e.v2.CreateDomainName(ctx, &apigatewayv2.CreateDomainNameInput{DomainName: aws.String("forged.example.com"),
		DomainNameConfigurations: []v2types.DomainNameConfiguration{{CertificateArn: aws.String("arn:aws:acm:us-east-1:111122223333:certificate/public"), EndpointType: v2types.EndpointTypeRegional}}, Tags: cfn})
	wantErr(t, err, "BadRequestException", "reserved")
	_, err = e.v1.CreateDomainName(ctx, &apigateway.CreateDomainNameInput{DomainName: aws.String("forged.example.com"),
		EndpointConfiguration: &v1types.EndpointConfiguration{Types: []v1types.EndpointType{v1types.EndpointTypeRegional}}, Tags: map[string]string{"AWS:x": "y"}})
	wantErr(t, err, "BadRequestException", "reserved")
}
