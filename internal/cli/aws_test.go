package cli

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/fakeapigw"
)

// A transient 429 on a read does not fail a command: the clients apimtls
// builds retry reads with the SDK's standard retryer. The fake runs AWS's
// 10 requests per second (burst 40) on the real clock, so a burst of reads
// is throttled; with the SDK's retries off the same burst fails, which
// proves the test can fail.
func TestReadsRetryThrottling(t *testing.T) {
	f := fakeapigw.New(func(context.Context, string, string, string, string) ([]byte, error) {
		return nil, errors.New("unused")
	})
	defer f.Close()
	f.AddDomain(&fakeapigw.Domain{Name: "d.example.com", EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2"})
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	burst := func(client *apigw.Client) error {
		for range 60 {
			if _, err := client.DefaultEndpoint(context.Background(), "nosuch", apigw.HTTP); !errors.Is(err, apigw.ErrNotFound) {
				return err
			}
		}
		return nil
	}
	if err := burst(newAPIGW(cfg, f.URL(), 0)); err != nil {
		t.Fatalf("a burst of reads failed: %v", err)
	}
	noRetry := newAPIGW(cfg, f.URL(), 0)
	noRetry.V2 = newAPIGWNoRetry(cfg, f.URL())
	if err := burst(noRetry); !errors.Is(err, apigw.ErrThrottled) {
		t.Fatalf("without retries the burst gave %v; the fake did not throttle, so this test proves nothing", err)
	}
}

func newAPIGWNoRetry(cfg aws.Config, ep string) apigw.V2API {
	return apigatewayv2.NewFromConfig(cfg, func(o *apigatewayv2.Options) {
		o.BaseEndpoint = aws.String(ep)
		o.RetryMaxAttempts = 1
	})
}
