package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
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

// IAMAPI lists the IAM calls an authorizer deployment makes.
type IAMAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
}

func notFound(err error) bool {
	c := awserr.Code(err)
	return c == "NoSuchEntity" || c == "ResourceNotFoundException" || c == "NotFoundException"
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
