package cli

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/setup"
)

// Flag names of setup.
const (
	flagSetupClient = "client"
	flagProbe       = "probe"
	flagProbeCAFile = "probe-ca-file"
	flagAuthorizer  = "authorizer"
)

func setupCommand() *cli.Command {
	return &cli.Command{
		Name:      "setup",
		Usage:     "from nothing to an enforced mTLS custom domain, each step only when needed",
		ArgsUsage: " ",
		Description: `Plans first, printing every step as "in place" or "to do", then runs the
steps that are not in place, in order:
  root CA, issuing CA, the --client certificates, truststore build (and
  validate), the bucket (--create-bucket), truststore push, the domain
  (created with --certificate-arn and mapped to the first --api-id at
  --stage, or pointed at the pushed version), the default endpoint of each
  --api-id closed (stages deployed), and with --authorizer the revocation
  authorizer on each --api-id (as authorizer deploy).
--dry-run stops after the plan and creates nothing, not even the PKI
directory. A finished setup says "nothing to do". A failure names the step
and why; every step before it stays in place, and running setup again
continues from there.

Example:
   apimtls setup --domain api.example.com --bucket my-pki --create-bucket \
     --certificate-arn arn:aws:acm:eu-west-1:123456789012:certificate/abc \
     --api-id a1b2c3d4e5 --client device-1 --authorizer --dry-run`,
		Flags: concatFlags(awsBaseFlags(), waitFlags(), []cli.Flag{
			&cli.StringFlag{Name: flagDomain, Required: true, Usage: "the custom domain name"},
			&cli.StringFlag{Name: flagBucket, Required: true, Usage: "the bucket for the truststore (and CRLs)"},
			&cli.StringFlag{Name: flagKey, Value: "truststore.pem", Usage: "the truststore's key"},
			&cli.StringFlag{Name: flagCertificateArn, Usage: "ACM certificate of the domain, to create it when it does not exist"},
			&cli.StringSliceFlag{Name: flagAPIID, Usage: "an API behind the domain (repeat); the first is mapped when the domain is created"},
			&cli.StringFlag{Name: flagStage, Value: "$default", Usage: "the stage of the first API to map"},
			&cli.StringSliceFlag{Name: flagSetupClient, Usage: "a client certificate to issue (repeat)"},
			&cli.BoolFlag{Name: flagAuthorizer, Usage: "deploy the revocation authorizer on every --api-id"},
			&cli.BoolFlag{Name: flagCreateBucket, Usage: "create the bucket (versioned, private, encrypted) if it does not exist"},
			archFlag(),
			&cli.StringFlag{Name: flagZip, Usage: "the authorizer's deployment zip (default: built here, see authorizer package)"},
			&cli.StringFlag{Name: flagProbe, Usage: "at the end, probe this `URL` with the first --client: refused without a certificate, accepted with it"},
			&cli.StringFlag{Name: flagProbeCAFile, Usage: "verify the --probe server with these CA certificates instead of the system roots"},
			dryRunFlag(),
		}),
		Action: setupAction,
	}
}

func setupAction(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	dir, err := pkiDir(c)
	if err != nil {
		return err
	}
	arch, err := archOf(c)
	if err != nil {
		return err
	}
	var probeCAs *x509.CertPool
	if f := c.String(flagProbeCAFile); f != "" {
		if probeCAs, err = certPool(flagProbeCAFile, f); err != nil {
			return err
		}
	}
	pkg := &chosenPackage{arch: arch}
	if c.Bool(flagAuthorizer) {
		if pkg, err = authorizerZip(c, arch, c.Bool(flagDryRun)); err != nil {
			return err
		}
	}
	r, err := newRollout(c, format)
	if err != nil {
		return err
	}
	region, err := withLambda(c, r)
	if err != nil {
		return err
	}
	store, _, err := s3Client(c.Context, c)
	if err != nil {
		return err
	}
	runner := &setup.Runner{Rollout: r, Bucket: store}
	res, err := runner.Run(c.Context, setup.Input{Dir: dir, Open: storeOpener(c), Domain: c.String(flagDomain), Bucket: c.String(flagBucket), Key: c.String(flagKey),
		CertificateArn: c.String(flagCertificateArn), APIIDs: c.StringSlice(flagAPIID), Stage: c.String(flagStage), Clients: c.StringSlice(flagSetupClient),
		Authorizer: c.Bool(flagAuthorizer), CreateBucket: c.Bool(flagCreateBucket), DryRun: c.Bool(flagDryRun), Region: region,
		Package: pkg.zip, Arch: pkg.arch, ArchNote: pkg.note, Wait: waitOf(c), ProbeURL: c.String(flagProbe), ProbeRootCAs: probeCAs})
	if res == nil {
		return domainError(err)
	}
	if format == outputJSON {
		if jerr := writeJSON(c.App.Writer, res); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintln(c.App.Writer, res.Summary)
		if res.Probe != nil {
			printProbe(c.App.Writer, res.Probe, noColor(c))
		}
	}
	var se *setup.StepError
	if errors.As(err, &se) {
		return withHint(domainError(err), "fix what the step names, then run the same apimtls setup again: it continues from this step")
	}
	return domainError(err)
}
