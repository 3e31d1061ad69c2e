package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/s3store"
)

// awsConfig loads the SDK's usual configuration and credential chain, once
// per command (a command that builds several clients reads the files and
// the environment once), with --region on top.
func awsConfig(ctx context.Context, c *cli.Context) (aws.Config, error) {
	if cfg, ok := c.App.Metadata[metaAWSConfig].(aws.Config); ok {
		return cfg, nil
	}
	cfg, err := loadAWSConfig(ctx, c)
	if err == nil && c.App.Metadata != nil {
		c.App.Metadata[metaAWSConfig] = cfg
	}
	return cfg, err
}

// metaAWSConfig keeps the command's AWS configuration in App.Metadata.
const metaAWSConfig = "aws-config"

func loadAWSConfig(ctx context.Context, c *cli.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if r := c.String(flagRegion); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, withHint(errors.New("no AWS Region"), "pass --region eu-west-1, set AWS_REGION, or set it once: apimtls config set region eu-west-1; keep the truststore bucket in the API's Region")
	}
	return cfg, nil
}

// apigwFrom builds the API Gateway, API Gateway v2 and ACM clients.
func apigwFrom(cfg aws.Config, c *cli.Context) *apigw.Client {
	return newAPIGW(cfg, c.String(flagEndpointURL), c.Duration(flagPollInterval))
}

// newAPIGW builds the clients for an endpoint ("" for AWS's own).
func newAPIGW(cfg aws.Config, ep string, poll time.Duration) *apigw.Client {
	var base *string
	if ep != "" {
		base = aws.String(ep)
	}
	// Every call gets the SDK's standard retryer (throttling on reads, 5xx,
	// network errors); apigw turns it off per call for the quota-bound
	// updates and deployments, which it retries itself with AWS's intervals
	// and a message per wait.
	client := &apigw.Client{
		V1: apigateway.NewFromConfig(cfg, func(o *apigateway.Options) {
			o.BaseEndpoint = orBase(o.BaseEndpoint, base)
			o.RetryMaxAttempts = sdkAttempts
		}),
		V2: apigatewayv2.NewFromConfig(cfg, func(o *apigatewayv2.Options) {
			o.BaseEndpoint = orBase(o.BaseEndpoint, base)
			o.RetryMaxAttempts = sdkAttempts
		}),
		ACM:  acm.NewFromConfig(cfg, func(o *acm.Options) { o.BaseEndpoint = orBase(o.BaseEndpoint, base); o.RetryMaxAttempts = sdkAttempts }),
		Poll: poll,
	}
	// AWS's quotas are AWS's: against another endpoint (LocalStack, a test
	// double) apimtls does not space its calls by them, and still honours
	// whatever throttling that endpoint answers with.
	if ep != "" || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_API_GATEWAY") != "" || os.Getenv("AWS_ENDPOINT_URL_APIGATEWAYV2") != "" {
		client.Quotas = &apigw.Quotas{}
	}
	return client
}

// apigwClient loads the configuration and builds the API Gateway clients,
// for commands that need nothing else from AWS.
func apigwClient(ctx context.Context, c *cli.Context) (*apigw.Client, error) {
	cfg, err := awsConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	return apigwFrom(cfg, c), nil
}

// s3Store loads the configuration and builds the truststore bucket client.
func s3Client(ctx context.Context, c *cli.Context) (*s3store.Client, string, error) {
	cfg, err := awsConfig(ctx, c)
	if err != nil {
		return nil, "", err
	}
	store, endpoint := s3From(cfg, c)
	return store, endpoint, nil
}

// s3From builds the S3 client, and says which custom endpoint it uses. A
// custom endpoint gets path-style addressing, which S3-compatible servers
// need.
func s3From(cfg aws.Config, c *cli.Context) (*s3store.Client, string) {
	client, endpoint := s3ClientFrom(cfg, c)
	return &s3store.Client{API: client, Region: cfg.Region, Endpoint: endpoint}, endpoint
}

// s3ClientFrom builds the S3 client s3From wraps, for the packages that
// need more of it (sharedstore lists objects).
func s3ClientFrom(cfg aws.Config, c *cli.Context) (*s3.Client, string) {
	endpoint := c.String(flagEndpointURL)
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	flag := c.String(flagEndpointURL)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if flag != "" {
			o.BaseEndpoint = aws.String(flag)
		}
		o.UsePathStyle = endpoint != ""
		// Objects uploaded by other tools carry no checksum; that is no
		// reason to print SDK debug lines at users.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return client, endpoint
}

// noCredentials recognises the SDK finding no credentials at all.
func noCredentials(err error) bool {
	return err != nil && strings.Contains(err.Error(), "get credentials:")
}

const credentialsHint = "no AWS credentials were found: set AWS_PROFILE (aws sso login / aws configure), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"

// sdkAttempts is how many times the SDK tries a control-plane read: its
// standard retryer's default.
const sdkAttempts = 3

func orBase(cur, flag *string) *string {
	if flag != nil {
		return flag
	}
	return cur
}
