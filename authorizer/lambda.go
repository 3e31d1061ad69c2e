package authorizer

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// RunningInLambda reports whether the process was started by Lambda (or
// by something that speaks the Lambda Runtime API as Lambda does).
func RunningInLambda() bool { return os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" }

// Start serves authorizer events through the Lambda Runtime API until the
// environment is shut down. A configuration error is fatal at init: Lambda
// reports it and API Gateway refuses every request (fail closed).
func Start() int {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	cfg, err := FromEnviron()
	if err != nil {
		log.Error("configuration", "error", err.Error())
		return 1
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("AWS configuration", "error", err.Error())
		return 1
	}
	// A custom endpoint (MinIO in tests) needs path-style addressing.
	custom := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = custom
		o.DisableLogOutputChecksumValidationSkipped = true
		o.RetryMaxAttempts = 2
	})
	h := NewHandler(cfg, client, log)
	lambda.Start(h.Handle)
	return 0
}

func logLevel() slog.Level {
	if os.Getenv("APIMTLS_LOG_LEVEL") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
