package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/pki"
	"github.com/apimtls/apimtls/revocation"
	"github.com/apimtls/apimtls/rollout"
	"github.com/apimtls/apimtls/s3store"
	"github.com/apimtls/apimtls/x509cert"
)

const (
	flagWithTruststore = "truststore"
)

func crlCommand() *cli.Command {
	return &cli.Command{
		Name:  "crl",
		Usage: "publish the CAs' revocation lists",
		Subcommands: []*cli.Command{{
			Name:      "push",
			Usage:     "upload every CA's CRL to a versioned S3 bucket, for the authorizer",
			ArgsUsage: " ",
			Description: `Uploads the CRL apimtls ca crl wrote for each CA to s3://BUCKET/PREFIX<key id>.crl
(DER), where <key id> is the CA's subject key identifier in hexadecimal: the
name the authorizer looks for (docs/revocation.md). Like truststore push it
checks that versioning is on, uploads only what changed, never deletes a
version, and prints each version ID. It refuses to replace a published CRL
with an older one (a lower CRL number), or with another list of the same
number, naming both numbers: pushed from a stale copy of the PKI it would
un-revoke clients. --truststore also pushes the truststore (validated, to
--key) so the authorizer can check each CRL's signature.

Example:
   apimtls ca crl && apimtls crl push --bucket example-mtls-truststores --truststore`,
			Flags: append(awsFlags(),
				&cli.StringFlag{Name: flagPrefix, Value: "crl/", Usage: "key prefix of the CRLs"},
				&cli.BoolFlag{Name: flagWithTruststore, Usage: "push the PKI directory's truststore.pem beside them"},
			),
			Action: pushCRLs,
		}},
	}
}

// crlPushView is the JSON of crl push.
type crlPushView struct {
	CRLs       []rollout.PushedCRL `json:"crls"`
	Truststore *s3store.PushResult `json:"truststore,omitempty"`
	CRLURI     string              `json:"crl_uri"`
}

func pushCRLs(c *cli.Context) error {
	format, err := startNoArgs(c)
	if err != nil {
		return err
	}
	bucket, prefix := c.String(flagBucket), c.String(flagPrefix)
	if err := s3store.CheckBucketName(bucket); err != nil {
		return usageError{err}
	}
	if err := rollout.CheckCRLPrefix(prefix); err != nil {
		return usagef("--%s: %v", flagPrefix, err)
	}
	objects, err := localCRLs(c)
	if err != nil {
		return err
	}
	store, _, err := s3Client(c.Context, c)
	if err != nil {
		return err
	}
	view := crlPushView{CRLURI: s3store.URI(bucket, prefix)}
	if c.Bool(flagWithTruststore) {
		if view.Truststore, err = pushTruststoreFor(c, store, bucket); err != nil {
			return err
		}
	}
	if view.CRLs, err = rollout.PushCRLs(c.Context, store, bucket, prefix, objects); err != nil {
		var older *rollout.OlderCRLError
		if errors.As(err, &older) {
			if len(older.Dropped) > 0 {
				return withHint(err, "the bucket's CRL was signed from another copy of the PKI that knows these revocations: push from that copy",
					"or revoke them here too (apimtls client revoke SERIAL), sign again (apimtls ca crl) and push")
			}
			return withHint(err, "the bucket's CRL was signed from another, newer copy of the PKI: push from that copy",
				"do not sign here again just to get past its number: the newer CRL may list revocations this copy does not know")
		}
		return s3Error(err, bucket)
	}
	if format == outputJSON {
		return writeJSON(c.App.Writer, view)
	}
	t := newTable(c.App.Writer, "CA", "URI", "VERSION", "")
	for _, p := range view.CRLs {
		t.row(p.CA, p.URI, p.VersionID, map[bool]string{true: "uploaded", false: "unchanged"}[p.Uploaded])
	}
	if ts := view.Truststore; ts != nil {
		t.row("(truststore)", ts.URI, ts.VersionID, map[bool]string{true: "uploaded", false: "unchanged"}[ts.Uploaded])
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "the authorizer reads them with: APIMTLS_CRL_URI=%s\n", view.CRLURI)
	return nil
}

// localCRLs reads the CRL of every CA, refusing when one is missing: a CA
// without a published CRL would make the authorizer refuse its clients.
func localCRLs(c *cli.Context) ([]rollout.CRLObject, error) {
	s, err := openStore(c, false)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	cas, err := s.CAs()
	if err != nil {
		return nil, err
	}
	if len(cas) == 0 {
		return nil, withHint(fmt.Errorf("no CA in %s: no CRL to push", storeName(s)), "apimtls ca init, then apimtls ca crl")
	}
	var out []rollout.CRLObject
	for _, r := range cas {
		cert, err := s.Certificate(r)
		if err != nil {
			return nil, err
		}
		path := s.Layout().CRL(r.Name)
		der, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, withHint(fmt.Errorf("CA %s has no CRL at %s", r.Name, path), "sign them first: apimtls ca crl")
		}
		if err != nil {
			return nil, err
		}
		// The authorizer's own reader: what it would refuse is not pushed.
		list, err := revocation.ParseCRL(der)
		if err == nil {
			err = list.CheckSignatureFrom(cert)
		}
		if err != nil {
			return nil, withHint(fmt.Errorf("%s is not a CRL signed by CA %s that the authorizer reads: %w", path, r.Name, err), "sign it again: apimtls ca crl "+r.Name)
		}
		if next := list.NextUpdate(); !next.After(time.Now()) {
			return nil, withHint(fmt.Errorf("the CRL of CA %s expired at %s: the authorizer would refuse every client of it", r.Name, next.Format(time.RFC3339)), "sign it again: apimtls ca crl "+r.Name)
		}
		out = append(out, rollout.CRLObject{CA: r.Name, KeyID: revocation.KeyID(cert), DER: der, Cert: cert})
	}
	return out, nil
}

// pushTruststoreFor pushes the PKI directory's truststore through the same
// gate as truststore push.
func pushTruststoreFor(c *cli.Context, store *s3store.Client, bucket string) (*s3store.PushResult, error) {
	dir, err := pkiDir(c)
	if err != nil {
		return nil, err
	}
	path := pki.Layout{Dir: dir}.Truststore()
	data, err := readInput(path, x509cert.MaxTruststoreReadSize)
	if err != nil {
		return nil, withHint(err, "--"+flagWithTruststore+" pushes the PKI directory's truststore: build it first with apimtls truststore build")
	}
	out, err := rollout.Push(c.Context, store, truststoreProblems, rollout.PushInput{
		PushInput: s3store.PushInput{Bucket: bucket, Key: c.String(flagKey), Data: data}, Name: path})
	if err != nil {
		return nil, withHint(s3Error(err, bucket), "apimtls truststore validate "+path)
	}
	return out.PushResult, nil
}
