// Package awserr reads the error code AWS puts in an SDK error, the same
// way for every service (API Gateway, Lambda, IAM, S3, KMS): callers
// compare it with the codes the service documents.
package awserr

import (
	"errors"

	"github.com/aws/smithy-go"
)

// Code is the AWS error code err carries ("NoSuchKey",
// "ThrottlingException"), or "" when err is no AWS API error.
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
