package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/apigw"
	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

// Flag names of the S3 commands.
const (
	flagEnableVersioning = "enable-versioning"
	flagRequireTLS       = "require-tls"
	flagVersion          = "version-id"
	flagEmit             = "emit"
)

func awsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagBucket, Required: true, Usage: "the S3 bucket"},
		&cli.StringFlag{Name: flagKey, Value: s3store.DefaultKey, Usage: "the object key"},
		&cli.StringFlag{Name: flagRegion, Usage: "AWS Region (default: AWS_REGION or the profile's)"},
		&cli.StringFlag{Name: flagEndpointURL, Usage: "an S3-compatible endpoint such as http://127.0.0.1:9000 (also AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)"},
	}
}

// s3Error adds the fix to the errors users meet with S3.
func s3Error(err error, bucket string) error {
	switch {
	case noCredentials(err):
		return withHint(err, credentialsHint)
	case errors.Is(err, s3store.ErrVersioningOff), errors.Is(err, s3store.ErrVersionSuspended):
		return withHint(err, "turn it on: rerun with --enable-versioning, or aws s3api put-bucket-versioning --bucket "+bucket+" --versioning-configuration Status=Enabled")
	case errors.Is(err, s3store.ErrNoSuchBucket):
		return withHint(err, "check the name, or create it with the right settings (versioned, private, encrypted): apimtls truststore push --bucket "+bucket+" --create-bucket")
	case errors.Is(err, s3store.ErrAccessDenied):
		return withHint(err, "the caller needs s3:ListBucket, s3:GetBucketVersioning, s3:PutObject, s3:GetObject and s3:GetObjectVersion on the bucket (docs/truststore.md); check AWS_PROFILE and the credentials")
	case errors.Is(err, s3store.ErrEndpointDown):
		return withHint(err, "check --endpoint-url or AWS_ENDPOINT_URL, and the network")
	case errors.Is(err, s3store.ErrInvalidBucket):
		return usageError{err}
	}
	return err
}

func truststorePushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "upload the truststore to a versioned S3 bucket",
		ArgsUsage: "[FILE]",
		Description: `Validates FILE (default: truststore.pem in the PKI directory) and refuses an
invalid one; checks the bucket exists with versioning Enabled; uploads with a
SHA-256 checksum; prints the s3:// URI and the version ID API Gateway must be
pointed at. When the newest version already has the same content, nothing is
uploaded and its version ID is printed (--force uploads anyway). The URI and
version are recorded in the PKI directory for domain enable-mtls.

When Terraform or CloudFormation owns the domain, --emit terraform or
--emit cloudformation prints, after the result, the exact block to paste
into it: mutual_tls_authentication { truststore_uri, truststore_version }
for aws_api_gateway_domain_name and aws_apigatewayv2_domain_name, or
MutualTlsAuthentication (TruststoreUri, TruststoreVersion) for
AWS::ApiGateway::DomainName and AWS::ApiGatewayV2::DomainName. -o json
always has both, in "iac" (docs/aws.md, "apimtls with Terraform").

--create-bucket creates the bucket in the Region, with versioning on, public
access blocked and default encryption (--require-tls adds a policy denying
non-TLS requests; not through a plain http:// endpoint, which it would lock
out). No object version is ever deleted.

Only a version that reads back is printed and recorded: just after
versioning is first turned on, S3 can store a write unversioned or answer
404 for the new version for a while (AWS advises waiting 15 minutes); push
then waits, says why, and tries again, for at most --timeout.

Example:
   apimtls truststore push --bucket example-mtls-truststores --region eu-west-1 --create-bucket --require-tls
   apimtls truststore push truststore.pem --bucket b --endpoint-url http://127.0.0.1:9000 -o json
   apimtls truststore push --bucket example-mtls-truststores --emit terraform`,
		Flags: append(awsFlags(),
			&cli.BoolFlag{Name: flagCreateBucket, Usage: "create the bucket if needed, versioned, private and encrypted"},
			&cli.BoolFlag{Name: flagEnableVersioning, Usage: "turn versioning on if it is off or suspended, instead of refusing"},
			&cli.BoolFlag{Name: flagRequireTLS, Usage: "with --create-bucket: a bucket policy denying non-TLS requests"},
			&cli.BoolFlag{Name: flagForce, Usage: "upload even when the newest version has the same content"},
			&cli.StringFlag{Name: flagEmit, Usage: "also print the truststore setting to paste into the domain's `TOOL`: terraform or cloudformation"},
			&cli.DurationFlag{Name: flagWaitTimeout, Value: s3store.DefaultSettle, Usage: "how long to wait for the uploaded version to read back (a bucket whose versioning was just turned on may take 15 minutes)", Action: durationIn(flagWaitTimeout, time.Second, 24*time.Hour)},
		),
		Action: truststorePush,
	}
}

// pushRequest is what truststore push was asked.
type pushRequest struct {
	format, dir, path string
	// emit is the IaC format to print the setting in ("" for none).
	emit  string
	input rollout.PushInput
}

// pushView is truststore push's JSON: the upload and the setting to paste
// into Terraform or CloudFormation.
type pushView struct {
	*s3store.PushResult
	IaC rollout.Snippets `json:"iac"`
}

func parsePush(c *cli.Context) (*pushRequest, error) {
	path, err := optionalArg(c, "FILE")
	if err != nil {
		return nil, err
	}
	format, err := outputFormat(c)
	if err != nil {
		return nil, err
	}
	dir, err := pkiDir(c)
	if err != nil {
		return nil, err
	}
	if path == "" {
		path = pki.Layout{Dir: dir}.Truststore()
	}
	bucket, key := c.String(flagBucket), c.String(flagKey)
	if err := s3store.CheckBucketName(bucket); err != nil {
		return nil, usageError{err}
	}
	if err := s3store.CheckKey(bucket, key); err != nil {
		return nil, usageError{err}
	}
	if c.Bool(flagRequireTLS) && !c.Bool(flagCreateBucket) {
		return nil, usagef("--%s needs --%s", flagRequireTLS, flagCreateBucket)
	}
	emit := c.String(flagEmit)
	if emit != "" {
		if _, err := rollout.Snippet(emit, apigw.Truststore{}); err != nil {
			return nil, usagef("--%s: %v", flagEmit, err)
		}
	}
	data, err := readTruststoreFile(path)
	if err != nil {
		return nil, err
	}
	return &pushRequest{format: format, dir: dir, path: path, emit: emit, input: rollout.PushInput{
		PushInput: s3store.PushInput{Bucket: bucket, Key: key, Data: data, Force: c.Bool(flagForce), EnableVersioning: c.Bool(flagEnableVersioning),
			Settle: c.Duration(flagWaitTimeout), OnWait: settleWait(newProgress(c, format))},
		Name: path, CreateBucket: c.Bool(flagCreateBucket), RequireTLS: c.Bool(flagRequireTLS),
	}}, nil
}

func truststorePush(c *cli.Context) error {
	req, err := parsePush(c)
	if err != nil {
		return err
	}
	store, endpoint, err := s3Client(c.Context, c)
	if err != nil {
		return err
	}
	var report *x509cert.TruststoreReport
	validate := func(data []byte) []string {
		report, _ = x509cert.CheckTruststore(data, time.Now())
		return truststoreProblems(data)
	}
	in := req.input
	in.Record = func(res *s3store.PushResult) error {
		return pki.RecordPush(req.dir, pki.PushedTruststore{URI: res.URI, Bucket: res.Bucket, Key: res.Key, VersionID: res.VersionID, SHA256: res.SHA256, Endpoint: endpoint, PushedAt: time.Now().UTC()})
	}
	out, err := rollout.Push(c.Context, store, validate, in)
	var invalid *rollout.InvalidError
	if errors.As(err, &invalid) {
		printReport(c.App.ErrWriter, report, noColor(c))
		return withHint(err, "fix it, or rebuild it: apimtls truststore build")
	}
	if err != nil {
		return s3Error(err, in.Bucket)
	}
	pushed := apigw.Truststore{URI: out.URI, Version: out.VersionID}
	if req.format == outputJSON {
		return writeJSON(c.App.Writer, pushView{PushResult: out.PushResult, IaC: rollout.SnippetsOf(pushed)})
	}
	if report.Warnings > 0 {
		printReport(c.App.ErrWriter, report, noColor(c))
	}
	if err := printPushed(c.App.Writer, out, report.Certificates); err != nil || req.emit == "" {
		return err
	}
	return printSnippet(c.App.Writer, req.emit, pushed)
}

// printSnippet prints the truststore setting to paste into the IaC that
// owns the domain, and where it goes.
func printSnippet(w io.Writer, format string, ts apigw.Truststore) error {
	snippet, err := rollout.Snippet(format, ts)
	if err != nil {
		return err
	}
	where := "the aws_api_gateway_domain_name or aws_apigatewayv2_domain_name resource"
	if format == rollout.CloudFormation {
		where = "the Properties of the AWS::ApiGateway::DomainName or AWS::ApiGatewayV2::DomainName resource"
	}
	_, err = fmt.Fprintf(w, "\n%s: paste into %s, then apply:\n%s", format, where, snippet)
	return err
}

// settleWait tells each wait for an uploaded version to read back.
func settleWait(p *progress) func(string, time.Duration) {
	return func(why string, d time.Duration) {
		p.Wait(apigw.Wait{Reason: "version not settled", Err: errors.New(why), For: d})
	}
}

func printPushed(w io.Writer, out *rollout.PushOutcome, certificates int) error {
	res := out.PushResult
	printNotes(w, out.Notes)
	if res.Settled != "" {
		printNotes(w, []string{res.Settled})
	}
	if res.Uploaded {
		fmt.Fprintf(w, "Uploaded %s (%s)\n", res.URI, plural.Count(certificates, "certificate"))
	} else {
		fmt.Fprintf(w, "Unchanged: the newest version of %s already has this content; nothing uploaded\n", res.URI)
	}
	t := newTable(w)
	t.row("  uri", res.URI)
	t.row("  version", res.VersionID)
	t.row("  sha256", res.SHA256)
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "next: point the domain at exactly this version: --truststore-uri %s --truststore-version %s\n", res.URI, res.VersionID)
	return nil
}

// versionView is a stored truststore version and what it holds.
type versionView struct {
	s3store.Version
	Certificates   int        `json:"certificates"`
	EarliestExpiry *time.Time `json:"earliest_expiry,omitempty"`
	Errors         int        `json:"errors"`
}

func truststoreVersionsCommand() *cli.Command {
	return &cli.Command{
		Name:      "versions",
		Usage:     "list the stored versions of a truststore in S3",
		ArgsUsage: " ",
		Description: `Lists every version of the object, newest first: version ID, date, size,
which is latest, and for each how many certificates it holds and its
earliest expiry. Old versions are the rollback path: apimtls never deletes
them.

Example:
   apimtls truststore versions --bucket example-mtls-truststores`,
		Flags:  awsFlags(),
		Action: truststoreVersions,
	}
}

func truststoreVersions(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	bucket, key := c.String(flagBucket), c.String(flagKey)
	store, _, err := s3Client(c.Context, c)
	if err != nil {
		return err
	}
	views, err := versionViews(c.Context, store, bucket, key)
	if err != nil {
		return s3Error(err, bucket)
	}
	if format == outputJSON {
		return writeJSON(c.App.Writer, views)
	}
	if len(views) == 0 {
		fmt.Fprintf(c.App.Writer, "no versions of %s\n", s3store.URI(bucket, key))
		return nil
	}
	return printVersions(c.App.Writer, views)
}

// versionViews reads every version and what it holds.
func versionViews(ctx context.Context, store *s3store.Client, bucket, key string) ([]versionView, error) {
	versions, err := store.Versions(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	views := make([]versionView, 0, len(versions))
	for _, v := range versions {
		view := versionView{Version: v}
		if !v.DeleteMarker {
			data, _, err := store.Pull(ctx, bucket, key, v.VersionID)
			if err != nil {
				return nil, err
			}
			r := x509cert.ValidateTruststore(data, x509cert.ValidateOptions{Now: time.Now()})
			view.SHA256, view.Certificates, view.EarliestExpiry, view.Errors = s3store.SHA256Hex(data), r.Certificates, r.EarliestExpiry, r.Errors
		}
		views = append(views, view)
	}
	return views, nil
}

func printVersions(w io.Writer, views []versionView) error {
	t := newTable(w, "VERSION", "LAST MODIFIED", "SIZE", "CERTS", "EARLIEST EXPIRY", "")
	for _, v := range views {
		expiry, note := "-", ""
		if v.EarliestExpiry != nil {
			expiry = v.EarliestExpiry.Format(time.DateOnly)
		}
		if v.IsLatest {
			note = "latest"
		}
		if v.DeleteMarker {
			note += " (delete marker)"
		}
		t.row(v.VersionID, v.LastModified.Format(time.RFC3339), fmt.Sprint(v.Size), fmt.Sprint(v.Certificates), expiry, note)
	}
	return t.flush()
}

func truststorePullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "fetch one stored version of a truststore from S3",
		ArgsUsage: " ",
		Description: `Writes the newest version, or --version-id V, to --out (replaced atomically)
or to standard output.

Example:
   apimtls truststore pull --bucket example-mtls-truststores --version-id 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY --out previous.pem`,
		Flags: append(awsFlags(),
			&cli.StringFlag{Name: flagVersion, Usage: "the object version ID (default: the newest)"},
			&cli.StringFlag{Name: flagOut, Usage: "write to `FILE` instead of standard output"},
		),
		Action: truststorePull,
	}
}

func truststorePull(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	out := c.String(flagOut)
	if format == outputJSON && out == "" {
		return usagef("-o json needs --out FILE: the truststore itself would be the output")
	}
	if out != "" {
		if err := checkOutput(c, out); err != nil {
			return err
		}
	}
	bucket, key := c.String(flagBucket), c.String(flagKey)
	store, _, err := s3Client(c.Context, c)
	if err != nil {
		return err
	}
	data, version, err := store.Pull(c.Context, bucket, key, c.String(flagVersion))
	if errors.Is(err, s3store.ErrNotFound) {
		return withHint(err, "list what is there: apimtls truststore versions --bucket "+bucket+" --key "+key)
	}
	if err != nil {
		return s3Error(err, bucket)
	}
	if out == "" {
		_, err := c.App.Writer.Write(data)
		return err
	}
	if err := writeOutput(c, out, data); err != nil {
		return err
	}
	if format == outputJSON {
		return writeJSON(c.App.Writer, map[string]any{"uri": s3store.URI(bucket, key), "version_id": version, "sha256": s3store.SHA256Hex(data), "bytes": len(data), "path": out})
	}
	fmt.Fprintf(c.App.Writer, "Wrote %s: %s version %s, %d bytes\n", out, s3store.URI(bucket, key), version, len(data))
	return nil
}
