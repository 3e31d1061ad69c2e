package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/textsafe"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/rotate"
	"github.com/apimtls/apimtls/x509cert"
)

// Flag names of the domain and api commands.
const (
	flagTruststoreURI      = "truststore-uri"
	flagAPIType            = "api-type"
	flagOwnershipCertArn   = "ownership-cert-arn"
	flagNoWait             = "no-wait"
	flagRollbackOnWarnings = "rollback-on-warnings"
	flagBasePath           = "base-path"
)

func awsBaseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagRegion, Usage: "AWS Region (default: AWS_REGION or the profile's)"},
		&cli.StringFlag{Name: flagEndpointURL, Usage: "one endpoint for every AWS service, for LocalStack-style targets (also AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>)"},
		&cli.StringFlag{Name: flagAPIType, Value: string(apigw.Auto), Usage: "auto, http (apigatewayv2) or rest (apigateway)"},
		// Tests poll a fake control plane in milliseconds; people have no use for it.
		&cli.DurationFlag{Name: flagPollInterval, Value: 5 * time.Second, Hidden: true},
	}
}

func apiType(c *cli.Context) (apigw.APIType, error) {
	t, err := apigw.ParseAPIType(c.String(flagAPIType))
	if err != nil {
		return "", usageError{err}
	}
	return t, nil
}

// domainError adds the fix to the errors users meet with API Gateway.
func domainError(err error) error {
	switch {
	case noCredentials(err):
		return withHint(err, credentialsHint)
	case errors.Is(err, apigw.ErrAccessDenied):
		return withHint(err, "the caller needs apigateway:GET and apigateway:PATCH on the domain (docs/aws.md has an example policy)")
	case errors.Is(err, apigw.ErrThrottled):
		return withHint(err, "API Gateway allows one domain create or update per 30 seconds, one deployment per 5 seconds, and about 10 other requests per second, per account; run the command again in a minute: it finishes what is left")
	case errors.Is(err, apigw.ErrTruststoreAccess):
		return withHint(err, "API Gateway reads the truststore on your behalf, from its own network: a bucket policy that tests aws:SourceIp or a VPC endpoint needs the condition \"Bool\": {\"aws:ViaAWSService\": \"false\"}, and an SSE-KMS key must allow kms:Decrypt through S3 (docs/apigateway-rules.md)")
	case errors.Is(err, apigw.ErrTimeout):
		return withHint(err, "the update goes on at AWS; check later with apimtls domain status, or wait longer with --timeout")
	case errors.Is(err, apigw.ErrEndpointDown):
		return withHint(err, "check the network, --region, and --endpoint-url or AWS_ENDPOINT_URL")
	case errors.Is(err, apigw.ErrConflict):
		return withHint(err, "another update of the domain is still running; apimtls domain status shows when it is AVAILABLE")
	}
	return err
}

func domainCommand() *cli.Command {
	return &cli.Command{
		Name:  "domain",
		Usage: "mutual TLS on API Gateway custom domains",
		Subcommands: []*cli.Command{
			domainEnableCommand(),
			domainCreateCommand(),
			domainDisableCommand(),
			domainStatusCommand(),
		},
	}
}

func dryRunFlag() cli.Flag {
	return &cli.BoolFlag{Name: flagDryRun, Usage: "print the plan and change nothing"}
}

func truststoreFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagTruststoreURI, Usage: "s3://bucket/key of the truststore (default: the last truststore push)"},
		&cli.StringFlag{Name: flagTruststoreVersion, Usage: "its S3 object version (default: the pushed one, else the newest)"},
		&cli.StringFlag{Name: flagOwnershipCertArn, Usage: "public ACM certificate proving domain ownership, needed when the server certificate is imported or private"},
	}
}

func waitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: flagWaitTimeout, Value: rollout.DefaultTimeout, Usage: "how long to wait for the domain to be AVAILABLE (updates have taken 15 minutes)", Action: durationIn(flagWaitTimeout, time.Second, 24*time.Hour)},
		&cli.BoolFlag{Name: flagNoWait, Usage: "start the update and return"},
	}
}

// resolveTruststore picks the URI and version: the flags, else the last
// push recorded in the PKI directory; a URI without a version is pinned to
// the newest version, so the domain never follows an overwritten object.
func resolveTruststore(c *cli.Context, r *rollout.Rollout) (apigw.Truststore, error) {
	ts := apigw.Truststore{URI: c.String(flagTruststoreURI), Version: c.String(flagTruststoreVersion)}
	if ts.URI == "" {
		if ts.Version != "" {
			return ts, usagef("--%s needs --%s", flagTruststoreVersion, flagTruststoreURI)
		}
		dir, err := pkiDir(c)
		if err != nil {
			return ts, err
		}
		last, err := pki.LastPush(dir)
		if err != nil {
			return ts, err
		}
		if last == nil {
			return ts, withHint(errors.New("no truststore given and none pushed from this PKI directory"), "apimtls truststore push --bucket B, or give --truststore-uri s3://B/K --truststore-version V")
		}
		return apigw.Truststore{URI: last.URI, Version: last.VersionID}, nil
	}
	bucket, _, err := rollout.ParseURI(ts.URI)
	if err != nil {
		return ts, usageError{err}
	}
	ts, err = r.Pin(c.Context, ts)
	if err != nil && !errors.Is(err, rollout.ErrNoVersion) {
		return ts, s3Error(err, bucket)
	}
	return ts, err
}

// newRollout is the start enable-mtls, create, disable-mtls and status
// share: one AWS configuration for the API Gateway clients and the S3 store
// truststores are read from.
func newRollout(c *cli.Context, format string) (*rollout.Rollout, error) {
	cfg, err := awsConfig(c.Context, c)
	if err != nil {
		return nil, err
	}
	store, _ := s3From(cfg, c)
	return &rollout.Rollout{API: apigwFrom(cfg, c), Objects: store, Validate: truststoreProblems, Events: newProgress(c, format)}, nil
}

// truststoreProblems is the validator of every workflow: the one
// validate-and-refuse gate, its errors as lines.
func truststoreProblems(data []byte) []string {
	r, err := x509cert.CheckTruststore(data, time.Now())
	if err == nil {
		return nil
	}
	var problems []string
	for _, f := range r.Findings {
		if f.Severity == x509cert.SeverityError {
			problems = append(problems, fmt.Sprintf("[%s] %s", f.Rule, f.Message))
		}
	}
	return problems
}

// waitOf reads --no-wait and --timeout.
func waitOf(c *cli.Context) rollout.Wait {
	return rollout.Wait{NoWait: c.Bool(flagNoWait), Timeout: c.Duration(flagWaitTimeout)}
}

func domainEnableCommand() *cli.Command {
	return &cli.Command{
		Name:      "enable-mtls",
		Usage:     "point a custom domain at a validated truststore version",
		ArgsUsage: "DOMAIN",
		Description: `Preflight first, reporting every problem at once: the domain exists, is
Regional, on TLS_1_2 and AVAILABLE; the truststore version exists, is
readable with your credentials (API Gateway reads it with the same ones) and
passes truststore validate; a server certificate imported into ACM or from a
private CA has an ownership verification certificate.

Then the domain is updated in place (HTTP APIs: the full configuration read
from GetDomainName is sent again; REST APIs: patch operations), apimtls waits
for AVAILABLE and reads the truststore warnings. Warnings are printed
verbatim and exit 1; with --rollback-on-warnings the previous truststore is
restored. Throttling and a concurrent update are retried with backoff.

Without --truststore-uri, the last truststore push from this PKI directory
is used, at exactly its version.

A domain CloudFormation manages (its aws:cloudformation:* tags) is changed
as asked, after a warning: the change drifts from the stack's template, and
the next stack update that touches the domain puts the template's setting
back; make it in the template instead (truststore push --emit
cloudformation prints the property). -o json says so in "drift".

Example:
   apimtls domain enable-mtls api.example.com --dry-run
   apimtls domain enable-mtls api.example.com --truststore-uri s3://b/truststore.pem --truststore-version 3HL4kq --rollback-on-warnings`,
		Flags: concatFlags(awsBaseFlags(), truststoreFlags(), waitFlags(), []cli.Flag{dryRunFlag(),
			&cli.BoolFlag{Name: flagRollbackOnWarnings, Usage: "restore the previous truststore if API Gateway reports warnings"}}),
		Action: enableMTLS,
	}
}

// domainStart is the start of every domain command: one DOMAIN argument,
// the output format and the API type.
func domainStart(c *cli.Context) (format, name string, t apigw.APIType, err error) {
	if format, name, err = startOneArg(c, "DOMAIN"); err != nil {
		return
	}
	t, err = apiType(c)
	return format, name, t, err
}

// domainRollout is domainStart with the rollout the command runs.
func domainRollout(c *cli.Context) (format, name string, t apigw.APIType, r *rollout.Rollout, err error) {
	if format, name, t, err = domainStart(c); err != nil {
		return
	}
	r, err = newRollout(c, format)
	return
}

func concatFlags(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func enableMTLS(c *cli.Context) error {
	format, name, t, r, err := domainRollout(c)
	if err != nil {
		return err
	}
	ts, err := resolveTruststore(c, r)
	if err != nil {
		return err
	}
	res, err := r.EnableMTLS(c.Context, rollout.EnableInput{Domain: name, APIType: t, Truststore: ts, OwnershipCertArn: c.String(flagOwnershipCertArn),
		DryRun: c.Bool(flagDryRun), RollbackOnWarnings: c.Bool(flagRollbackOnWarnings), Wait: waitOf(c)})
	return reportMTLS(c, format, res, err)
}

// reportMTLS prints what a domain workflow did, and turns its error into
// the one users see, with the fix.
func reportMTLS(c *cli.Context, format string, res *rollout.Result, err error) error {
	var pre *rollout.PreflightError
	var warn *rollout.WarningsError
	var mapping *rollout.MappingError
	switch {
	case res == nil:
		return domainError(err)
	case format == outputJSON:
		if jerr := writeJSON(c.App.Writer, res); jerr != nil {
			return jerr
		}
	case errors.As(err, &pre):
		printNotes(c.App.ErrWriter, res.Notes)
	default:
		w := c.App.Writer
		printNotes(w, res.Notes)
		if res.Summary != "" {
			fmt.Fprintln(w, res.Summary)
		}
		for _, warn := range res.Warnings {
			fmt.Fprintf(w, "truststore warning: %s\n", textsafe.Escape(warn))
		}
		if res.RolledBack {
			fmt.Fprintf(w, "rolled back to %s\n", rollout.Target(res.Previous))
		}
	}
	switch {
	case errors.As(err, &pre):
		return withHint(err, "fix them and run the command again")
	case errors.As(err, &warn) && warn.RolledBack:
		return withHint(err, "fix the certificates named above: apimtls truststore validate")
	case errors.As(err, &warn) && warn.Created:
		return withHint(err, "fix the certificates named above and run apimtls domain enable-mtls with a new version")
	case errors.As(err, &warn):
		return withHint(err, "fix them and push again, or rerun with --rollback-on-warnings")
	case errors.As(err, &mapping):
		return withHint(domainError(err), "run the same command again: the domain is kept as it is and the mapping retried")
	}
	return domainError(err)
}

func domainDisableCommand() *cli.Command {
	return &cli.Command{
		Name:      "disable-mtls",
		Usage:     "turn mutual TLS off on a custom domain",
		ArgsUsage: "DOMAIN",
		Description: `Sets the domain's truststore URI to empty, in place, and waits for AVAILABLE.
The truststore objects in S3 are kept. A domain CloudFormation manages gets
the drift warning enable-mtls gives: remove MutualTlsAuthentication from
the template instead.

Example:
   apimtls domain disable-mtls api.example.com --dry-run`,
		Flags:  concatFlags(awsBaseFlags(), []cli.Flag{dryRunFlag()}, waitFlags()),
		Action: disableMTLS,
	}
}

func disableMTLS(c *cli.Context) error {
	format, name, t, r, err := domainRollout(c)
	if err != nil {
		return err
	}
	res, err := r.DisableMTLS(c.Context, rollout.DisableInput{Domain: name, APIType: t, DryRun: c.Bool(flagDryRun), Wait: waitOf(c)})
	return reportMTLS(c, format, res, err)
}

func domainStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a custom domain's mTLS state and the APIs behind it",
		ArgsUsage: "DOMAIN",
		Description: `Endpoint type, security policy, status, truststore URI and version, warnings,
and each mapped API with whether its default execute-api endpoint is still
on, which bypasses mTLS. A domain whose tags say CloudFormation manages it
(aws:cloudformation:stack-name, -stack-id, -logical-id) is shown with its
stack: change its mTLS in the template, not here.

Example:
   apimtls domain status api.example.com`,
		Flags: awsBaseFlags(),
		Action: func(c *cli.Context) error {
			format, name, t, r, err := domainRollout(c)
			if err != nil {
				return err
			}
			view, err := r.DomainStatus(c.Context, name, t)
			if err != nil {
				return domainError(err)
			}
			if dir, derr := pkiDir(c); derr == nil {
				if view.Rotations, err = rotate.InProgress(dir, name); err != nil {
					return err
				}
			}
			return printStatus(c, format, view)
		},
	}
}

func printStatus(c *cli.Context, format string, view *rollout.Status) error {
	d := view.Domain
	if format == outputJSON {
		return writeJSON(c.App.Writer, view)
	}
	tb := newTable(c.App.Writer)
	tb.row("domain", d.Name)
	tb.row("API type", string(d.APIType))
	tb.row("endpoint", d.EndpointType)
	tb.row("security policy", d.SecurityPolicy)
	tb.row("status", d.Status)
	if s := d.CloudFormation; s != nil {
		tb.row("managed by", managedBy(s))
	}
	if d.RoutingMode != "" && d.RoutingMode != apigw.RoutingMappingOnly {
		tb.row("routing", d.RoutingMode)
	}
	if d.RoutingRulesUnknown != "" {
		tb.row("routing rules", "unknown: "+textsafe.Escape(d.RoutingRulesUnknown)+"; the APIs they route to are not checked for a bypass")
	}
	if d.MTLSEnabled() {
		tb.row("mutual TLS", "on: "+d.TruststoreURI+" version "+orNone(d.TruststoreVersion))
	} else {
		tb.row("mutual TLS", "off")
	}
	for _, warn := range d.Warnings {
		tb.row("truststore warning", textsafe.Escape(warn))
	}
	for _, r := range view.Rotations {
		tb.row("rotation in progress", r+": apimtls rotate status")
	}
	for _, m := range d.Mappings {
		state := "default endpoint off"
		switch {
		case m.Unused:
			state = "unused: the domain routes by routing rules only"
		case m.DefaultEndpointEnabled:
			state = "default endpoint ON: bypasses mTLS; apimtls api disable-default-endpoint " + m.APIID
		}
		what := "API"
		if m.Via == apigw.ViaRule {
			what = "API (routing rule)"
		}
		tb.row(what, fmt.Sprintf("%s (%s) stage %s path /%s: %s", m.APIID, m.APIType, m.Stage, m.BasePath, state))
	}
	return tb.flush()
}

// managedBy names the CloudFormation stack of a domain and where its mTLS
// is to be changed.
func managedBy(s *apigw.Stack) string {
	what := "CloudFormation stack " + textsafe.Escape(s.Name)
	if s.Name == "" {
		what = "CloudFormation stack " + textsafe.Escape(s.ID)
	}
	if s.LogicalID != "" {
		what += ", resource " + textsafe.Escape(s.LogicalID)
	}
	return what + ": change mutual TLS in the template (apimtls truststore push --emit cloudformation); a change made here drifts"
}

func domainCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a Regional TLS_1_2 custom domain with mutual TLS from the start",
		ArgsUsage: "DOMAIN",
		Description: `Creates the domain with the truststore (default: the last push), after the
same preflight as enable-mtls, and optionally maps an API stage to it. An
existing domain is never recreated: use enable-mtls.

Example:
   apimtls domain create api.example.com --certificate-arn arn:aws:acm:eu-west-1:123456789012:certificate/abc --api-id a1b2c3 --stage prod`,
		Flags: concatFlags(awsBaseFlags(), truststoreFlags(), waitFlags(), []cli.Flag{dryRunFlag(),
			&cli.StringFlag{Name: flagCertificateArn, Required: true, Usage: "the ACM certificate for the domain"},
			&cli.StringFlag{Name: flagAPIID, Usage: "map this API to the domain"},
			&cli.StringFlag{Name: flagStage, Usage: "the stage to map (with --api-id)"},
			&cli.StringFlag{Name: flagBasePath, Usage: "the base path of the mapping (default: none)"},
		}),
		Action: createDomain,
	}
}

func createDomain(c *cli.Context) error {
	format, name, t, err := domainStart(c)
	if err != nil {
		return err
	}
	if (c.String(flagAPIID) == "") != (c.String(flagStage) == "") {
		return usagef("--%s and --%s go together", flagAPIID, flagStage)
	}
	r, err := newRollout(c, format)
	if err != nil {
		return err
	}
	ts, err := resolveTruststore(c, r)
	if err != nil {
		return err
	}
	res, err := r.Create(c.Context, rollout.CreateInput{Domain: name, APIType: t, CertificateArn: c.String(flagCertificateArn), OwnershipCertArn: c.String(flagOwnershipCertArn),
		Truststore: ts, Mapping: apigw.Mapping{APIID: c.String(flagAPIID), Stage: c.String(flagStage), BasePath: c.String(flagBasePath)},
		DryRun: c.Bool(flagDryRun), Wait: waitOf(c)})
	return reportMTLS(c, format, res, err)
}
