package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/s3store"
)

// Names apimtls gives what it deploys, so that a later run, status and
// remove find exactly its own things.
const (
	// AuthorizerName names the authorizer on the API.
	AuthorizerName = "apimtls-revocation"
	// RolePolicyName names the execution role's only inline policy.
	RolePolicyName = "apimtls-authorizer"
	// Runtime is the Lambda runtime of the authorizer.
	Runtime        = "provided.al2023"
	markerPrefix   = "apimtls authorizer "
	roleDescPrefix = "apimtls authorizer execution role for "
)

// DefaultFunctionName is the authorizer function of an API.
func DefaultFunctionName(apiID string) string { return "apimtls-authorizer-" + apiID }

// RoleName is the execution role of a function.
func RoleName(function string) string {
	n := function + "-role"
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// StatementID is the function policy statement that lets one API invoke it.
func StatementID(apiID string) string { return "apimtls-" + apiID }

// AuthorizerInput is what authorizer deploy needs.
type AuthorizerInput struct {
	APIID   string
	APIType apigw.APIType
	// Region of the API (and of the function, role policy and log group).
	Region string
	// Bucket, Key and Prefix locate the truststore and the CRLs the
	// authorizer reads; TruststoreVersion pins the truststore.
	Bucket, Key, Prefix, TruststoreVersion string
	FunctionName                           string
	// Routes are route keys ("GET /pets"); empty or "all" means every one.
	Routes   []string
	CacheTTL int32
	// Arch is arm64 or amd64.
	Arch string
	// Package is the deployment zip (authorizer package); a dry run may
	// have none, and then does not compare the function's code.
	Package []byte
	// ArchNote says which architecture was chosen and why, for the plan.
	ArchNote string
	DryRun   bool
}

// checkAuthorizerInput checks what authorizer deploy was asked.
func checkAuthorizerInput(in *AuthorizerInput) error {
	if in.APIID == "" {
		return errors.New("no API ID")
	}
	if err := s3store.CheckBucketName(in.Bucket); err != nil {
		return err
	}
	if in.Key == "" || strings.HasSuffix(in.Key, "/") {
		return fmt.Errorf("truststore key %q: name the object, as truststore.pem", in.Key)
	}
	if err := CheckCRLPrefix(in.Prefix); err != nil {
		return err
	}
	if in.FunctionName == "" {
		in.FunctionName = DefaultFunctionName(in.APIID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`).MatchString(in.FunctionName) {
		return fmt.Errorf("function name %q: use 1 to 64 letters, digits, hyphens and underscores", in.FunctionName)
	}
	if in.CacheTTL < 0 || in.CacheTTL > 3600 {
		return fmt.Errorf("cache TTL %d: must be 0 to 3600 seconds", in.CacheTTL)
	}
	if in.Arch != "arm64" && in.Arch != "amd64" {
		return fmt.Errorf("architecture %q: use arm64 or amd64", in.Arch)
	}
	if in.Region == "" {
		return errors.New("no AWS Region")
	}
	return nil
}

// RemoveInput asks to undo authorizer deploy.
type RemoveInput struct {
	APIID   string
	APIType apigw.APIType
	// FunctionName is needed only when the authorizer is already gone
	// and the function was not given its default name.
	FunctionName string
	DryRun       bool
}

// Change is one step of an authorizer plan.
type Change struct {
	Step   string `json:"step"`
	Target string `json:"target"`
	Detail string `json:"detail,omitempty"`
	// Done says the step was carried out.
	Done bool `json:"done"`
	do   func(ctx context.Context) error
}

// RouteState is a route or method and whether the authorizer guards it.
type RouteState struct {
	Route string `json:"route"`
	// State is "protected", "unprotected", "other" (another authorizer or
	// authorization type), or "pending deployment" (attached, not yet
	// served by every stage).
	State string `json:"state"`
	// By names the other authorization.
	By string `json:"by,omitempty"`
}

// AuthorizerResult is what deploy, status and remove report (their JSON).
type AuthorizerResult struct {
	APIID        string          `json:"api_id"`
	APIType      apigw.APIType   `json:"api_type"`
	FunctionName string          `json:"function_name"`
	FunctionArn  string          `json:"function_arn,omitempty"`
	RoleArn      string          `json:"role_arn,omitempty"`
	AuthorizerID string          `json:"authorizer_id,omitempty"`
	SourceArn    string          `json:"source_arn,omitempty"`
	RolePolicy   json.RawMessage `json:"role_policy,omitempty"`
	Changes      []Change        `json:"changes"`
	Routes       []RouteState    `json:"routes"`
	// PendingStages still serve a deployment without the change.
	PendingStages []string `json:"pending_stages,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	Changed       bool     `json:"changed"`
	DryRun        bool     `json:"dry_run"`
	Summary       string   `json:"-"`
}
