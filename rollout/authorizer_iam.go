package rollout

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

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

// getRole reads a role; nil when it does not exist.
func (r *Rollout) getRole(ctx context.Context, name string) (*iam.GetRoleOutput, error) {
	role, err := r.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	switch {
	case notFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get role %s: %w", name, err)
	}
	return role, nil
}

// getRolePolicy reads the role's inline policy RolePolicyName, decoded;
// "" when it has none.
func (r *Rollout) getRolePolicy(ctx context.Context, role string) (string, error) {
	rp, err := r.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(RolePolicyName)})
	switch {
	case notFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("get the policy of role %s: %w", role, err)
	}
	return decodeDoc(aws.ToString(rp.PolicyDocument)), nil
}

// createRole creates the execution role of function, trusted by Lambda
// only, and returns its ARN.
func (r *Rollout) createRole(ctx context.Context, name, function string) (string, error) {
	out, err := r.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(TrustPolicy),
		Description: aws.String(roleDescPrefix + function)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Role.Arn), nil
}

// updateTrustPolicy makes Lambda the only one that may assume the role.
func (r *Rollout) updateTrustPolicy(ctx context.Context, name string) error {
	_, err := r.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(name), PolicyDocument: aws.String(TrustPolicy)})
	return err
}

// putRolePolicy sets the role's inline policy RolePolicyName to doc.
func (r *Rollout) putRolePolicy(ctx context.Context, name, doc string) error {
	_, err := r.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(RolePolicyName), PolicyDocument: aws.String(doc)})
	return err
}

// deleteRolePolicy deletes the role's inline policy; one already gone is
// no error.
func (r *Rollout) deleteRolePolicy(ctx context.Context, name string) error {
	_, err := r.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(RolePolicyName)})
	return ignoreNotFound(err)
}

// deleteRole deletes a role; one already gone is no error.
func (r *Rollout) deleteRole(ctx context.Context, name string) error {
	_, err := r.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(name)})
	return ignoreNotFound(err)
}
