package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/s3store"
)

// Flag names of the domain and api commands.
const (
	flagTruststoreURI      = "truststore-uri"
	flagTruststoreVersion  = "truststore-version"
	flagAPIType            = "api-type"
	flagOwnershipCertArn   = "ownership-cert-arn"
	flagWaitTimeout        = "timeout"
	flagNoWait             = "no-wait"
	flagRollbackOnWarnings = "rollback-on-warnings"
	flagDryRun             = "dry-run"
	flagPollInterval       = "poll-interval"
	flagCertificateArn     = "certificate-arn"
	flagAPIID              = "api-id"
	flagStage              = "stage"
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
	case errors.Is(err, apigw.ErrAccessDenied):
		return withHint(err, "the caller needs apigateway:GET and apigateway:PATCH on the domain (docs/aws.md has an example policy)")
	case errors.Is(err, apigw.ErrThrottled):
		return withHint(err, "API Gateway allows about one domain update per 30 seconds per account; try again in a minute")
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
		&cli.DurationFlag{Name: flagWaitTimeout, Value: 15 * time.Minute, Usage: "how long to wait for the domain to be AVAILABLE"},
		&cli.BoolFlag{Name: flagNoWait, Usage: "start the update and return"},
	}
}

// resolveTruststore picks the URI and version: the flags, else the last
// push recorded in the PKI directory; a URI without a version is pinned to
// the newest version, so the domain never follows an overwritten object.
func resolveTruststore(c *cli.Context, store *s3store.Store) (apigw.Truststore, error) {
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
	bucket, key, err := splitS3URI(ts.URI)
	if err != nil {
		return ts, usageError{err}
	}
	if ts.Version == "" {
		versions, err := store.Versions(c.Context, bucket, key)
		if err != nil {
			return ts, s3Error(err, bucket)
		}
		for _, v := range versions {
			if v.IsLatest && !v.DeleteMarker {
				ts.Version = v.VersionID
			}
		}
		if ts.Version == "" {
			return ts, fmt.Errorf("%s has no current version", ts.URI)
		}
	}
	return ts, nil
}

func splitS3URI(uri string) (string, string, error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, key, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || bucket == "" || key == "" {
		return "", "", fmt.Errorf("invalid truststore URI %q: use s3://bucket/key", uri)
	}
	if err := s3store.CheckKey(bucket, key); err != nil {
		return "", "", err
	}
	return bucket, key, s3store.CheckBucketName(bucket)
}

// mtlsSetup is the start enable-mtls and create share: one AWS
// configuration for the API Gateway clients and the S3 store the
// truststore is read from, and the truststore resolved.
func mtlsSetup(c *cli.Context) (*apigw.Client, *s3store.Store, apigw.Truststore, error) {
	cfg, err := awsConfig(c.Context, c)
	if err != nil {
		return nil, nil, apigw.Truststore{}, err
	}
	store, _ := s3From(cfg, c)
	ts, err := resolveTruststore(c, store)
	return apigwFrom(cfg, c), store, ts, err
}

// certificateAndTruststoreProblems is the preflight enable-mtls and create
// share: the ownership verification certificate the server certificate
// needs, and the truststore version as API Gateway will read it.
func certificateAndTruststoreProblems(c *cli.Context, client *apigw.Client, d *apigw.Domain, store *s3store.Store, ts apigw.Truststore) ([]string, error) {
	var problems []string
	own, err := client.OwnershipProblem(c.Context, d, c.String(flagOwnershipCertArn))
	if err != nil {
		return nil, domainError(err)
	}
	if own != "" {
		problems = append(problems, own)
	}
	return append(problems, checkTruststoreObject(c.Context, store, ts)...), nil
}

// checkTruststoreObject reads the truststore version with the caller's
// credentials, as API Gateway will, and validates it.
func checkTruststoreObject(ctx context.Context, store *s3store.Store, ts apigw.Truststore) []string {
	bucket, key, err := splitS3URI(ts.URI)
	if err != nil {
		return []string{err.Error()}
	}
	data, _, err := store.Pull(ctx, bucket, key, ts.Version)
	switch {
	case errors.Is(err, s3store.ErrAccessDenied):
		return []string{fmt.Sprintf("cannot read %s version %s with these credentials; API Gateway reads it with the same ones, so the caller needs s3:GetObject and s3:GetObjectVersion (and kms:Decrypt for SSE-KMS), and no aws:SourceIp deny without an aws:ViaAWSService exception", ts.URI, ts.Version)}
	case errors.Is(err, s3store.ErrNotFound), errors.Is(err, s3store.ErrNoSuchBucket):
		return []string{fmt.Sprintf("%s version %s does not exist: API Gateway would answer \"Invalid truststore URI/versionId specified.\"", ts.URI, ts.Version)}
	case err != nil:
		return []string{err.Error()}
	}
	r := pki.ValidateTruststore(data, pki.ValidateOptions{Now: time.Now(), VerifySignatures: true})
	var problems []string
	for _, f := range r.Findings {
		if f.Severity == pki.SeverityError {
			problems = append(problems, fmt.Sprintf("truststore: [%s] %s", f.Rule, f.Message))
		}
	}
	return problems
}

// mtlsResult is the JSON of enable-mtls, disable-mtls and create.
type mtlsResult struct {
	Domain     string           `json:"domain"`
	APIType    apigw.APIType    `json:"api_type"`
	Previous   apigw.Truststore `json:"previous"`
	Truststore apigw.Truststore `json:"truststore"`
	Changed    bool             `json:"changed"`
	DryRun     bool             `json:"dry_run"`
	Status     string           `json:"status,omitempty"`
	Warnings   []string         `json:"truststore_warnings"`
	RolledBack bool             `json:"rolled_back"`
	Problems   []string         `json:"problems,omitempty"`
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

func concatFlags(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func enableMTLS(c *cli.Context) error {
	format, name, t, err := domainStart(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	client, store, ts, err := mtlsSetup(c)
	if err != nil {
		return err
	}
	res := &mtlsResult{Domain: name, Truststore: ts, DryRun: c.Bool(flagDryRun), Warnings: []string{}}

	var problems []string
	d, err := client.GetDomain(ctx, name, t)
	if err == nil && d.Status == apigw.StatusUpdating && !c.Bool(flagDryRun) {
		// Another update is running: wait for it rather than collide.
		fmt.Fprintf(c.App.ErrWriter, "domain %s is UPDATING; waiting for the running update to finish\n", name)
		if d, err = waitDomain(c, client, d, newProgress(c, format)); err != nil {
			return err
		}
	}
	switch {
	case errors.Is(err, apigw.ErrNotFound):
		problems = append(problems, fmt.Sprintf("domain %s does not exist; create it with: apimtls domain create %s --certificate-arn ARN", name, name))
	case err != nil:
		return domainError(err)
	default:
		res.APIType, res.Previous = d.APIType, apigw.Truststore{URI: d.TruststoreURI, Version: d.TruststoreVersion}
		problems = append(problems, apigw.DomainProblems(d)...)
		more, err := certificateAndTruststoreProblems(c, client, d, store, ts)
		if err != nil {
			return err
		}
		problems = append(problems, more...)
	}
	if d == nil {
		problems = append(problems, checkTruststoreObject(ctx, store, ts)...)
	}
	if len(problems) > 0 {
		res.Problems = problems
		return preflightFailed(c, format, res)
	}
	if res.Previous == ts {
		res.Status = d.Status
		return reportMTLS(c, format, res, fmt.Sprintf("%s already uses %s version %s: nothing to change", name, ts.URI, ts.Version))
	}
	if res.DryRun {
		return reportMTLS(c, format, res, planText(name, d.APIType, res.Previous, ts))
	}
	p := newProgress(c, format)
	if arn := c.String(flagOwnershipCertArn); arn != "" && arn != d.OwnershipCertArn {
		if err := client.SetOwnershipCertificate(ctx, d, arn, p.retry); err != nil {
			return domainError(err)
		}
		if _, err := waitDomain(c, client, d, p); err != nil {
			return err
		}
	}
	if err := client.SetTruststore(ctx, d, ts, p.retry); err != nil {
		return domainError(err)
	}
	res.Changed = true
	if c.Bool(flagNoWait) {
		res.Status = apigw.StatusUpdating
		return reportMTLS(c, format, res, fmt.Sprintf("update of %s started: %s version %s (not waiting; see apimtls domain status %s)", name, ts.URI, ts.Version, name))
	}
	after, err := waitDomain(c, client, d, p)
	if err != nil {
		return err
	}
	res.Status = after.Status
	if len(after.Warnings) == 0 {
		return reportMTLS(c, format, res, fmt.Sprintf("%s now requires client certificates from %s version %s", name, ts.URI, ts.Version))
	}
	res.Warnings = after.Warnings
	if c.Bool(flagRollbackOnWarnings) {
		if err := client.SetTruststore(ctx, d, res.Previous, p.retry); err != nil {
			return domainError(fmt.Errorf("roll back after warnings: %w", err))
		}
		if _, err := waitDomain(c, client, d, p); err != nil {
			return err
		}
		res.RolledBack = true
	}
	if err := reportMTLS(c, format, res, ""); err != nil {
		return err
	}
	msg := fmt.Sprintf("API Gateway reported %d truststore warning(s) for %s", len(res.Warnings), name)
	if res.RolledBack {
		return withHint(errors.New(msg+"; the previous truststore was restored"), "fix the certificates named above: apimtls truststore validate")
	}
	return withHint(errors.New(msg+": clients of those certificates will fail"), "fix them and push again, or rerun with --rollback-on-warnings")
}

func waitDomain(c *cli.Context, client *apigw.Client, d *apigw.Domain, p *progress) (*apigw.Domain, error) {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration(flagWaitTimeout))
	defer cancel()
	defer p.done()
	after, err := client.WaitAvailable(ctx, d, c.Duration(flagPollInterval), p.status)
	if err != nil {
		return nil, withHint(domainError(err), "check later with: apimtls domain status "+d.Name)
	}
	if after.Status != apigw.StatusAvailable {
		return nil, fmt.Errorf("domain %s is %s after the update: %s", d.Name, after.Status, after.StatusMessage)
	}
	return after, nil
}

func planText(name string, t apigw.APIType, from, to apigw.Truststore) string {
	cur := "mutual TLS off"
	if from.URI != "" {
		cur = from.URI + " version " + orNone(from.Version)
	}
	next := "mutual TLS off"
	if to.URI != "" {
		next = to.URI + " version " + to.Version
	}
	return fmt.Sprintf("plan for %s (%s API): %s -> %s (dry run: nothing changed)", name, t, cur, next)
}

func preflightFailed(c *cli.Context, format string, res *mtlsResult) error {
	if format == outputJSON {
		if err := writeJSON(c.App.Writer, res); err != nil {
			return err
		}
	}
	return withHint(fmt.Errorf("preflight found %d problem(s); nothing was changed:\n  - %s", len(res.Problems), strings.Join(res.Problems, "\n  - ")), "fix them and run the command again")
}

func reportMTLS(c *cli.Context, format string, res *mtlsResult, line string) error {
	if format == outputJSON {
		return writeJSON(c.App.Writer, res)
	}
	w := c.App.Writer
	if line != "" {
		fmt.Fprintln(w, line)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "truststore warning: %s\n", warn)
	}
	if res.RolledBack {
		fmt.Fprintf(w, "rolled back to %s\n", planTarget(res.Previous))
	}
	return nil
}

func planTarget(ts apigw.Truststore) string {
	if ts.URI == "" {
		return "mutual TLS off"
	}
	return ts.URI + " version " + ts.Version
}

func domainDisableCommand() *cli.Command {
	return &cli.Command{
		Name:      "disable-mtls",
		Usage:     "turn mutual TLS off on a custom domain",
		ArgsUsage: "DOMAIN",
		Description: `Sets the domain's truststore URI to empty, in place, and waits for AVAILABLE.
The truststore objects in S3 are kept.

Example:
   apimtls domain disable-mtls api.example.com --dry-run`,
		Flags: concatFlags(awsBaseFlags(), []cli.Flag{dryRunFlag()}, waitFlags()),
		Action: func(c *cli.Context) error {
			format, name, t, err := domainStart(c)
			if err != nil {
				return err
			}
			client, err := apigwClient(c.Context, c)
			if err != nil {
				return err
			}
			d, err := client.GetDomain(c.Context, name, t)
			if err != nil {
				return domainError(err)
			}
			res := &mtlsResult{Domain: name, APIType: d.APIType, Previous: apigw.Truststore{URI: d.TruststoreURI, Version: d.TruststoreVersion}, DryRun: c.Bool(flagDryRun), Warnings: []string{}, Status: d.Status}
			if !d.MTLSEnabled() {
				return reportMTLS(c, format, res, name+" has mutual TLS off already: nothing to change")
			}
			if res.DryRun {
				return reportMTLS(c, format, res, planText(name, d.APIType, res.Previous, apigw.Truststore{}))
			}
			p := newProgress(c, format)
			if err := client.SetTruststore(c.Context, d, apigw.Truststore{}, p.retry); err != nil {
				return domainError(err)
			}
			res.Changed = true
			if !c.Bool(flagNoWait) {
				after, err := waitDomain(c, client, d, p)
				if err != nil {
					return err
				}
				res.Status = after.Status
			}
			return reportMTLS(c, format, res, fmt.Sprintf("%s no longer requires client certificates (it used %s)", name, planTarget(res.Previous)))
		},
	}
}

// statusView is the JSON of domain status.
type statusView struct {
	*apigw.Domain
	Bypass bool `json:"default_endpoint_bypass"`
}

func domainStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a custom domain's mTLS state and the APIs behind it",
		ArgsUsage: "DOMAIN",
		Description: `Endpoint type, security policy, status, truststore URI and version, warnings,
and each mapped API with whether its default execute-api endpoint is still
on, which bypasses mTLS.

Example:
   apimtls domain status api.example.com`,
		Flags: awsBaseFlags(),
		Action: func(c *cli.Context) error {
			format, name, t, err := domainStart(c)
			if err != nil {
				return err
			}
			client, err := apigwClient(c.Context, c)
			if err != nil {
				return err
			}
			d, err := client.GetDomain(c.Context, name, t)
			if err != nil {
				return domainError(err)
			}
			view := statusView{Domain: d}
			for i, m := range d.Mappings {
				on, err := client.DefaultEndpoint(c.Context, m.APIID, d.APIType)
				if err != nil {
					return domainError(err)
				}
				d.Mappings[i].DefaultEndpointEnabled = on
				view.Bypass = view.Bypass || on
			}
			if format == outputJSON {
				return writeJSON(c.App.Writer, view)
			}
			w := c.App.Writer
			tb := newTable(w)
			tb.row("domain", d.Name)
			tb.row("API type", string(d.APIType))
			tb.row("endpoint", d.EndpointType)
			tb.row("security policy", d.SecurityPolicy)
			tb.row("status", d.Status)
			if d.MTLSEnabled() {
				tb.row("mutual TLS", "on: "+d.TruststoreURI+" version "+orNone(d.TruststoreVersion))
			} else {
				tb.row("mutual TLS", "off")
			}
			for _, warn := range d.Warnings {
				tb.row("truststore warning", warn)
			}
			for _, m := range d.Mappings {
				state := "default endpoint off"
				if m.DefaultEndpointEnabled {
					state = "default endpoint ON: bypasses mTLS; apimtls api disable-default-endpoint " + m.APIID
				}
				tb.row("API", fmt.Sprintf("%s stage %s path /%s: %s", m.APIID, m.Stage, strings.TrimPrefix(m.BasePath, "(none)"), state))
			}
			return tb.flush()
		},
	}
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
	ctx := c.Context
	client, store, ts, err := mtlsSetup(c)
	if err != nil {
		return err
	}
	if t == apigw.Auto {
		t = apigw.HTTP
		if id := c.String(flagAPIID); id != "" {
			if t, err = client.DetectAPI(ctx, id); err != nil {
				return domainError(err)
			}
		}
	}
	res := &mtlsResult{Domain: name, APIType: t, Truststore: ts, DryRun: c.Bool(flagDryRun), Warnings: []string{}}
	var problems []string
	if _, err := client.GetDomain(ctx, name, apigw.Auto); err == nil {
		problems = append(problems, fmt.Sprintf("domain %s exists; apimtls never recreates a domain: use apimtls domain enable-mtls %s", name, name))
	} else if !errors.Is(err, apigw.ErrNotFound) {
		return domainError(err)
	}
	more, err := certificateAndTruststoreProblems(c, client, &apigw.Domain{Name: name, CertificateArn: c.String(flagCertificateArn)}, store, ts)
	if err != nil {
		return err
	}
	problems = append(problems, more...)
	if len(problems) > 0 {
		res.Problems = problems
		return preflightFailed(c, format, res)
	}
	if res.DryRun {
		return reportMTLS(c, format, res, fmt.Sprintf("plan: create %s (%s API, REGIONAL, TLS_1_2) with %s version %s (dry run: nothing changed)", name, t, ts.URI, ts.Version))
	}
	p := newProgress(c, format)
	in := apigw.CreateInput{Name: name, APIType: t, CertificateArn: c.String(flagCertificateArn), OwnershipCertArn: c.String(flagOwnershipCertArn),
		Truststore: ts, APIID: c.String(flagAPIID), Stage: c.String(flagStage), BasePath: c.String(flagBasePath)}
	if err := client.CreateDomain(ctx, in, p.retry); err != nil {
		return domainError(err)
	}
	res.Changed = true
	if !c.Bool(flagNoWait) {
		after, err := waitDomain(c, client, &apigw.Domain{Name: name, APIType: t}, p)
		if err != nil {
			return err
		}
		res.Status, res.Warnings = after.Status, append(res.Warnings, after.Warnings...)
	}
	if err := reportMTLS(c, format, res, fmt.Sprintf("created %s with mutual TLS: %s version %s", name, ts.URI, ts.Version)); err != nil {
		return err
	}
	if len(res.Warnings) > 0 {
		return withHint(fmt.Errorf("API Gateway reported %d truststore warning(s) for %s", len(res.Warnings), name), "fix the certificates named above and run apimtls domain enable-mtls with a new version")
	}
	return nil
}

func apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "the APIs behind a domain",
		Subcommands: []*cli.Command{{
			Name:      "disable-default-endpoint",
			Usage:     "close the execute-api endpoint that bypasses mTLS, and redeploy",
			ArgsUsage: "API_ID",
			Description: `HTTP APIs: UpdateApi with DisableExecuteApiEndpoint, and a new deployment of
each stage without auto-deploy. REST APIs: UpdateRestApi with the patch
replace /disableExecuteApiEndpoint True, and a new deployment of each stage
(or --stage), without which the change does not take effect. An API whose
default endpoint is off already is left alone.

Example:
   apimtls api disable-default-endpoint a1b2c3d4e5
   apimtls api disable-default-endpoint a1b2c3d4e5 --api-type rest --stage prod`,
			Flags: append(awsBaseFlags(), dryRunFlag(), &cli.StringFlag{Name: flagStage, Usage: "deploy only this stage"}),
			Action: func(c *cli.Context) error {
				format, id, err := startOneArg(c, "API_ID")
				if err != nil {
					return err
				}
				t, err := apiType(c)
				if err != nil {
					return err
				}
				client, err := apigwClient(c.Context, c)
				if err != nil {
					return err
				}
				if t == apigw.Auto {
					if t, err = client.DetectAPI(c.Context, id); err != nil {
						return domainError(err)
					}
				}
				res, err := client.DisableDefaultEndpoint(c.Context, id, t, c.String(flagStage), c.Bool(flagDryRun))
				if err != nil {
					return domainError(err)
				}
				if format == outputJSON {
					return writeJSON(c.App.Writer, res)
				}
				w := c.App.Writer
				switch {
				case res.AlreadyClosed:
					fmt.Fprintf(w, "the default endpoint of %s API %s is off already: nothing to change\n", t, id)
				case c.Bool(flagDryRun):
					fmt.Fprintf(w, "plan: disable the default endpoint of %s API %s and redeploy its stages (dry run: nothing changed)\n", t, id)
				default:
					fmt.Fprintf(w, "disabled the default endpoint of %s API %s\n", t, id)
					if len(res.Redeployed) > 0 {
						fmt.Fprintf(w, "redeployed stages: %s\n", strings.Join(res.Redeployed, ", "))
					}
					if len(res.AutoDeployed) > 0 {
						fmt.Fprintf(w, "auto-deployed stages (no deployment needed): %s\n", strings.Join(res.AutoDeployed, ", "))
					}
					fmt.Fprintln(w, "next: apimtls probe https://YOUR-DOMAIN/ --client NAME --default-endpoint https://"+id+".execute-api.REGION.amazonaws.com/")
				}
				return nil
			},
		}},
	}
}
