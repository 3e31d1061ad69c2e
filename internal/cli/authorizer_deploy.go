package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/rollout"
)

// Flag names of authorizer deploy.
const (
	flagFunctionName = "function-name"
	flagRoutes       = "routes"
	flagCacheTTL     = "cache-ttl"
)

// withLambda adds the Lambda and IAM clients to a rollout: the same
// configuration and endpoint rules as the other AWS clients.
func withLambda(c *cli.Context, r *rollout.Rollout) (string, error) {
	cfg, err := awsConfig(c.Context, c)
	if err != nil {
		return "", err
	}
	var base *string
	if ep := c.String(flagEndpointURL); ep != "" {
		base = aws.String(ep)
	}
	r.Lambda = lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		o.BaseEndpoint = orBase(o.BaseEndpoint, base)
		o.RetryMaxAttempts = sdkAttempts
	})
	r.IAM = iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = orBase(o.BaseEndpoint, base); o.RetryMaxAttempts = sdkAttempts })
	return cfg.Region, nil
}

func apiIDFlag() cli.Flag {
	return &cli.StringFlag{Name: flagAPIID, Required: true, Usage: "the API (HTTP or REST) whose routes the authorizer guards"}
}

func authorizerDeployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "put the revocation authorizer in front of an API's routes",
		ArgsUsage: " ",
		Description: `Creates or updates, each only when it differs from what exists:
  - the execution role, trusted by lambda.amazonaws.com only, whose one
    inline policy reads the truststore object and the CRLs under the prefix
    and writes the function's own log group: nothing else;
  - the function (provided.al2023, bootstrap from authorizer package, the
    APIMTLS_* environment variables the authorizer reads);
  - lambda:InvokeFunction for apigateway.amazonaws.com, scoped to this API's
    authorizers by source ARN;
  - the REQUEST authorizer (HTTP API: payload 2.0, simple responses; no
    result cache unless --cache-ttl, then keyed on the client certificate);
  - its attachment to the routes (or REST methods) chosen, leaving routes
    guarded by another authorizer alone;
  - a deployment of every stage that needs one (REST stages, and HTTP stages
    without auto-deploy): a deployment publishes the API's current
    definition to the stage.
A new role takes seconds to reach Lambda: the function creation is retried
for up to 2 minutes. A second run changes nothing and says so; a run cut
short is finished by the next one.

Example:
   apimtls authorizer deploy --api-id a1b2c3d4e5 --bucket my-pki --dry-run
   apimtls authorizer deploy --api-id a1b2c3d4e5 --bucket my-pki --routes 'GET /pets' --routes 'POST /pets'`,
		Flags: concatFlags(awsBaseFlags(), []cli.Flag{apiIDFlag(),
			&cli.StringFlag{Name: flagBucket, Required: true, Usage: "the bucket holding the truststore and the CRLs (truststore push, crl push)"},
			&cli.StringFlag{Name: flagPrefix, Value: "crl/", Usage: "the CRLs' key prefix, as crl push used it"},
			&cli.StringFlag{Name: flagKey, Value: "truststore.pem", Usage: "the truststore's key"},
			&cli.StringFlag{Name: flagTruststoreVersion, Usage: "pin the truststore to this S3 version (default: the newest, re-read as the cache expires)"},
			&cli.StringFlag{Name: flagFunctionName, Usage: "the Lambda function (default: apimtls-authorizer-API_ID)"},
			&cli.StringSliceFlag{Name: flagRoutes, Usage: "route keys to guard, as 'GET /pets' (repeat), or all", Value: cli.NewStringSlice("all")},
			&cli.IntFlag{Name: flagCacheTTL, Value: 0, Usage: "seconds API Gateway caches a decision (a revoked client is let in for up to this long)", Action: intIn(flagCacheTTL, 0, 3600)},
			archFlag(),
			&cli.StringFlag{Name: flagZip, Usage: "the deployment zip from apimtls authorizer package or the release (default: built here, see authorizer package)"},
			dryRunFlag(),
		}),
		Action: authorizerDeploy,
	}
}

func authorizerDeploy(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	t, err := apiType(c)
	if err != nil {
		return err
	}
	arch, err := archOf(c)
	if err != nil {
		return err
	}
	pkg, err := authorizerZip(c, arch, c.Bool(flagDryRun))
	if err != nil {
		return err
	}
	r, err := newRollout(c, format)
	if err != nil {
		return err
	}
	region, err := withLambda(c, r)
	if err != nil {
		return err
	}
	res, err := r.DeployAuthorizer(c.Context, rollout.AuthorizerInput{APIID: c.String(flagAPIID), APIType: t, Region: region, Bucket: c.String(flagBucket),
		Key: c.String(flagKey), Prefix: c.String(flagPrefix), TruststoreVersion: c.String(flagTruststoreVersion), FunctionName: c.String(flagFunctionName),
		Routes: c.StringSlice(flagRoutes), CacheTTL: int32(c.Int(flagCacheTTL)), Arch: pkg.arch, Package: pkg.zip, ArchNote: pkg.note, DryRun: c.Bool(flagDryRun)})
	return reportAuthorizer(c, format, res, err)
}

// chosenPackage is the authorizer's deployment zip, its architecture and
// what a plan says of them.
type chosenPackage struct {
	zip        []byte
	arch, note string
}

// authorizerZip reads --zip, or builds the package for the architecture
// (authorizer.Builder: this binary, a cross-compile, or the release asset
// to download). A dry run that cannot build notes it and plans on.
func authorizerZip(c *cli.Context, arch string, dryRun bool) (*chosenPackage, error) {
	if path := c.String(flagZip); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read --%s: %w", flagZip, err)
		}
		if arch == "" {
			return &chosenPackage{zip: data, arch: authorizer.DefaultArch, note: "architecture arm64 for --zip " + path + " (give --arch amd64 for an x86_64 package)"}, nil
		}
		return &chosenPackage{zip: data, arch: arch}, nil
	}
	b := authorizer.Builder{Version: version}
	choice := b.Choose(c.Context, arch)
	out := &chosenPackage{arch: choice.Arch, note: "architecture " + choice.Why}
	pkg, err := b.Build(c.Context, choice)
	switch {
	case errors.Is(err, authorizer.ErrNeedsZip) && dryRun:
		out.note += " (dry run: planned without the package)"
		return out, nil
	case errors.Is(err, authorizer.ErrNeedsZip):
		return nil, withHint(err, "download "+choice.Asset+" from the apimtls release, check it against the release's checksums.txt, and pass it: --zip "+choice.Asset+" --arch "+choice.Arch)
	case err != nil:
		return nil, err
	}
	out.zip = pkg.Zip
	return out, nil
}

func authorizerStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show which routes the revocation authorizer guards",
		ArgsUsage: " ",
		Description: `Lists every route (or REST method) as protected, unprotected, guarded by
another authorizer, or pending deployment (attached, but a stage still
serves a deployment without it); and whether the function, its role and
its invoke permission are in place. Exits 1 when any route is unprotected
or pending deployment (a request reaches it with no revocation check), as
a check that CI can run; a route another authorizer guards does not count.

Example:
   apimtls authorizer status --api-id a1b2c3d4e5`,
		Flags:  concatFlags(awsBaseFlags(), []cli.Flag{apiIDFlag()}),
		Action: authorizerStatus,
	}
}

func authorizerStatus(c *cli.Context) error {
	format, t, r, err := authorizerStart(c)
	if err != nil {
		return err
	}
	res, err := r.AuthorizerStatus(c.Context, c.String(flagAPIID), t)
	if err := reportAuthorizer(c, format, res, err); err != nil {
		return err
	}
	// A check, as probe is: exit 1 when a request can pass unchecked, the
	// JSON document still on standard output.
	if open := res.Unchecked(); len(open) > 0 {
		names := make([]string, len(open))
		for i, rt := range open {
			names[i] = textsafe.Escape(rt.Route) + " (" + rt.State + ")"
		}
		return silentError{fmt.Sprintf("%s not checked for revocation: %s", plural.Count(len(open), "route"), strings.Join(names, ", "))}
	}
	return nil
}

func authorizerRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Usage:     "undo authorizer deploy on an API",
		ArgsUsage: " ",
		Description: `Detaches the authorizer from the routes it guards (no others), deploys the
stages that need it, deletes the authorizer and this API's invoke
permission, and deletes the function and its role once no other API's
permission is left on the function.

Example:
   apimtls authorizer remove --api-id a1b2c3d4e5 --dry-run`,
		Flags: concatFlags(awsBaseFlags(), []cli.Flag{apiIDFlag(),
			&cli.StringFlag{Name: flagFunctionName, Usage: "the function, if the authorizer is already gone and the function had another name"},
			dryRunFlag()}),
		Action: authorizerRemove,
	}
}

func authorizerRemove(c *cli.Context) error {
	format, t, r, err := authorizerStart(c)
	if err != nil {
		return err
	}
	res, err := r.RemoveAuthorizer(c.Context, rollout.RemoveInput{APIID: c.String(flagAPIID), APIType: t, FunctionName: c.String(flagFunctionName), DryRun: c.Bool(flagDryRun)})
	return reportAuthorizer(c, format, res, err)
}

// authorizerStart is the start of authorizer status and remove: no
// arguments, the output format, the API type, and a rollout with Lambda.
func authorizerStart(c *cli.Context) (format string, t apigw.APIType, r *rollout.Rollout, err error) {
	if format, err = startNoArgs(c); err != nil {
		return
	}
	if t, err = apiType(c); err != nil {
		return
	}
	if r, err = newRollout(c, format); err != nil {
		return
	}
	_, err = withLambda(c, r)
	return
}

// reportAuthorizer prints a plan, a result or a status.
func reportAuthorizer(c *cli.Context, format string, res *rollout.AuthorizerResult, err error) error {
	if res == nil {
		return domainError(err)
	}
	if format == outputJSON {
		if jerr := writeJSON(c.App.Writer, res); jerr != nil {
			return jerr
		}
		return domainError(err)
	}
	w := c.App.Writer
	printNotes(w, res.Notes)
	if res.Summary != "" {
		fmt.Fprintln(w, res.Summary)
	}
	if res.DryRun && len(res.Changes) > 0 {
		fmt.Fprintln(w, "(dry run: nothing changed)")
	}
	for _, rt := range res.Routes {
		line := fmt.Sprintf("  %-40s %s", textsafe.Escape(rt.Route), rt.State)
		if rt.By != "" {
			line += " (" + rt.By + ")"
		}
		fmt.Fprintln(w, line)
	}
	return domainError(err)
}
