// Package awstest is, for tests only, AWS as apimtls's workflows see it:
// MinIO for S3, the strict fake control plane (API Gateway, ACM, Lambda,
// IAM) on a test clock with AWS's quotas, and a rollout.Rollout wired to
// both through the real SDK clients.
package awstest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

// CertArn is a public, issued ACM certificate the fake knows.
const CertArn = "arn:aws:acm:eu-west-1:111122223333:certificate/public"

// Env is one test's AWS.
type Env struct {
	Fake    *fakeapigw.Fake
	Clock   *fakeapigw.TestClock
	Store   *s3store.Client
	Raw     *s3.Client
	Rollout *rollout.Rollout
}

// New starts the fake (closed with the test) reading truststores from the
// shared MinIO, with the certificate CertArn and an HTTP API "h1" whose
// $default stage auto-deploys.
func New(t *testing.T) *Env {
	t.Helper()
	srv := miniotest.Shared(t)
	raw := s3.New(s3.Options{Region: miniotest.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(miniotest.AccessKey, miniotest.SecretKey, "")})
	store := &s3store.Client{API: raw, Region: miniotest.Region}
	clock := fakeapigw.NewTestClock(time.Now())
	f := fakeapigw.New(func(ctx context.Context, _, bucket, key, version string) ([]byte, error) {
		data, _, err := store.Pull(ctx, bucket, key, version)
		return data, err
	})
	f.Clock = clock
	t.Cleanup(f.Close)
	f.AddCertificate(&fakeapigw.Certificate{Arn: CertArn, Type: "AMAZON_ISSUED", Status: "ISSUED"})
	f.AddAPI(&fakeapigw.API{ID: "h1", Stages: map[string]bool{"$default": true}})
	creds := credentials.NewStaticCredentialsProvider("AKIDCALLER", "secret", "")
	ep := aws.String(f.URL())
	// Every call takes 100 ms of the test clock, as a real round trip takes
	// time: without it, the reads of one run would exceed the account's 10
	// requests per second at a single instant.
	hc := &http.Client{Transport: latency{clock}}
	api := &apigw.Client{
		V1:    apigateway.New(apigateway.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1, HTTPClient: hc}),
		V2:    apigatewayv2.New(apigatewayv2.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1, HTTPClient: hc}),
		ACM:   acm.New(acm.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1}),
		Clock: clock, Poll: time.Second,
	}
	ro := &rollout.Rollout{API: api, Objects: store,
		Validate: func(data []byte) []string {
			if _, err := x509cert.CheckTruststore(data, time.Now()); err != nil {
				return []string{err.Error()}
			}
			return nil
		},
		Lambda: lambda.New(lambda.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1}),
		IAM:    iam.New(iam.Options{Region: "eu-west-1", BaseEndpoint: ep, Credentials: creds, RetryMaxAttempts: 1}),
	}
	return &Env{Fake: f, Clock: clock, Store: store, Raw: raw, Rollout: ro}
}

type latency struct{ clock *fakeapigw.TestClock }

func (l latency) RoundTrip(r *http.Request) (*http.Response, error) {
	l.clock.Advance(100 * time.Millisecond)
	return http.DefaultTransport.RoundTrip(r)
}
