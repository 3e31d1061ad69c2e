package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/awserr"
)

// LambdaAPI lists the Lambda calls an authorizer deployment makes.
type LambdaAPI interface {
	GetFunction(context.Context, *lambda.GetFunctionInput, ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
	CreateFunction(context.Context, *lambda.CreateFunctionInput, ...func(*lambda.Options)) (*lambda.CreateFunctionOutput, error)
	UpdateFunctionCode(context.Context, *lambda.UpdateFunctionCodeInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error)
	UpdateFunctionConfiguration(context.Context, *lambda.UpdateFunctionConfigurationInput, ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error)
	DeleteFunction(context.Context, *lambda.DeleteFunctionInput, ...func(*lambda.Options)) (*lambda.DeleteFunctionOutput, error)
	GetPolicy(context.Context, *lambda.GetPolicyInput, ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error)
	AddPermission(context.Context, *lambda.AddPermissionInput, ...func(*lambda.Options)) (*lambda.AddPermissionOutput, error)
	RemovePermission(context.Context, *lambda.RemovePermissionInput, ...func(*lambda.Options)) (*lambda.RemovePermissionOutput, error)
}

// notFound tells the error Lambda (ResourceNotFoundException) or IAM
// (NoSuchEntity) gives for what does not exist.
func notFound(err error) bool {
	c := awserr.Code(err)
	return c == "NoSuchEntity" || c == "ResourceNotFoundException" || c == "NotFoundException"
}

// ignoreNotFound is err, unless it says that what was to be deleted is
// gone already.
func ignoreNotFound(err error) error {
	if notFound(err) {
		return nil
	}
	return err
}

// functionSpec is the authorizer function as a deployment makes it.
type functionSpec struct {
	name, role, apiID string
	arch              ltypes.Architecture
	zip               []byte
	env               map[string]string
}

// getFunction reads a function; nil when it does not exist.
func (r *Rollout) getFunction(ctx context.Context, name string) (*lambda.GetFunctionOutput, error) {
	out, err := r.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	switch {
	case notFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get function %s: %w", name, err)
	}
	return out, nil
}

// invokeStatement reads the function's policy: the SourceArn of statement
// sid ("" if absent) and how many statements it holds (none without a
// policy).
func (r *Rollout) invokeStatement(ctx context.Context, function, sid string) (string, int, error) {
	pol, err := r.Lambda.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(function)})
	switch {
	case notFound(err):
		return "", 0, nil
	case err != nil:
		return "", 0, fmt.Errorf("get the policy of %s: %w", function, err)
	}
	src, n := findStatement(aws.ToString(pol.Policy), sid)
	return src, n, nil
}

// createFunction creates the function, waiting for IAM to propagate a new
// role to Lambda, and returns its ARN.
func (r *Rollout) createFunction(ctx context.Context, f functionSpec) (string, error) {
	var out *lambda.CreateFunctionOutput
	err := r.retryRole(ctx, func() error {
		var err error
		out, err = r.Lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(f.name), Role: aws.String(f.role),
			Runtime: ltypes.Runtime(Runtime), Handler: aws.String("bootstrap"), Architectures: []ltypes.Architecture{f.arch},
			Code: &ltypes.FunctionCode{ZipFile: f.zip}, Environment: &ltypes.Environment{Variables: f.env}, Timeout: aws.Int32(10), MemorySize: aws.Int32(256),
			Description: aws.String("apimtls revocation authorizer for API " + f.apiID)})
		return err
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.FunctionArn), nil
}

// updateFunctionCode sends new code, once the function takes an update.
func (r *Rollout) updateFunctionCode(ctx context.Context, f functionSpec) error {
	if err := r.waitFunction(ctx, f.name); err != nil {
		return err
	}
	_, err := r.Lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(f.name), ZipFile: f.zip, Architectures: []ltypes.Architecture{f.arch}})
	return err
}

// updateFunctionConfiguration sends the role, runtime, handler and
// environment, once the function takes an update.
func (r *Rollout) updateFunctionConfiguration(ctx context.Context, f functionSpec) error {
	if err := r.waitFunction(ctx, f.name); err != nil {
		return err
	}
	return r.retryRole(ctx, func() error {
		_, err := r.Lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f.name), Role: aws.String(f.role),
			Runtime: ltypes.Runtime(Runtime), Handler: aws.String("bootstrap"), Environment: &ltypes.Environment{Variables: f.env}})
		return err
	})
}

// addPermission lets API Gateway invoke the function from sourceArn only.
func (r *Rollout) addPermission(ctx context.Context, function, sid, sourceArn, account string) error {
	_, err := r.Lambda.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: aws.String(function), StatementId: aws.String(sid),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("apigateway.amazonaws.com"), SourceArn: aws.String(sourceArn),
		SourceAccount: aws.String(account)})
	return err
}

// removePermission removes statement sid; one already gone is no error.
func (r *Rollout) removePermission(ctx context.Context, function, sid string) error {
	_, err := r.Lambda.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(function), StatementId: aws.String(sid)})
	return ignoreNotFound(err)
}

// deleteFunction deletes a function; one already gone is no error.
func (r *Rollout) deleteFunction(ctx context.Context, name string) error {
	_, err := r.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	return ignoreNotFound(err)
}

// retryRole retries a call that Lambda refuses because IAM has not yet
// propagated a new role to it, for up to RoleWait.
func (r *Rollout) retryRole(ctx context.Context, fn func() error) error {
	deadline := r.clock().Now().Add(RoleWait)
	for {
		err := fn()
		if err == nil || awserr.Code(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "cannot be assumed") || !r.clock().Now().Before(deadline) {
			if err != nil && strings.Contains(err.Error(), "cannot be assumed") {
				return fmt.Errorf("%w (waited %s for IAM to propagate the new role)", err, RoleWait)
			}
			return err
		}
		r.events().Wait(apigw.Wait{Reason: "IAM has not propagated the new role to Lambda yet", Err: err, For: 3 * time.Second})
		if err := r.clock().Sleep(ctx, 3*time.Second); err != nil {
			return err
		}
	}
}

// RoleWait bounds the wait for a new role to reach Lambda: IAM documents
// "a few seconds"; Terraform waits up to 2 minutes.
const RoleWait = 2 * time.Minute

// waitFunction waits until the function takes an update: not Pending and
// no update in progress. Active and Inactive (idle for weeks, its
// resources reclaimed) both take one ("Lambda function states").
func (r *Rollout) waitFunction(ctx context.Context, name string) error {
	deadline := r.clock().Now().Add(5 * time.Minute)
	for {
		out, err := r.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			return err
		}
		c := out.Configuration
		if c.State == ltypes.StateFailed || c.LastUpdateStatus == ltypes.LastUpdateStatusFailed {
			return fmt.Errorf("function %s is %s/%s: %s", name, c.State, c.LastUpdateStatus, aws.ToString(c.StateReason)+aws.ToString(c.LastUpdateStatusReason))
		}
		if c.State != ltypes.StatePending && c.LastUpdateStatus != ltypes.LastUpdateStatusInProgress {
			return nil
		}
		if !r.clock().Now().Before(deadline) {
			return fmt.Errorf("function %s still %s/%s after 5 minutes", name, c.State, c.LastUpdateStatus)
		}
		r.events().Wait(apigw.Wait{Reason: "function not ready", Err: fmt.Errorf("function %s is %s, last update %s", name, c.State, c.LastUpdateStatus), For: time.Second})
		if err := r.clock().Sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

func (r *Rollout) clock() apigw.Clock { return r.API.ClockOrReal() }
