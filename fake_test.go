package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/apimtls/apimtls/internal/fakeapigw"
	"github.com/apimtls/apimtls/internal/miniotest"
	"github.com/apimtls/apimtls/s3store"
)

// startFake runs the fake API Gateway control plane, reading truststores
// from the MinIO server as API Gateway reads them from S3.
var rawS3 *s3.Client // for scripts that must put what apimtls refuses to upload

func startFake(t *testing.T, minio *miniotest.Server) *fakeapigw.Fake {
	client := s3.New(s3.Options{Region: miniotest.Region, BaseEndpoint: aws.String(minio.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(miniotest.AccessKey, miniotest.SecretKey, "")})
	rawS3 = client
	store := &s3store.Store{API: client, Region: miniotest.Region}
	f := fakeapigw.New(func(ctx context.Context, bucket, key, version string) ([]byte, error) {
		data, _, err := store.Pull(ctx, bucket, key, version)
		return data, err
	})
	f.UpdatingPolls = 2
	t.Cleanup(f.Close)
	return f
}

// fake configures the fake control plane from a script:
//
//	fake domain NAME http|rest [ENDPOINT [POLICY [CERT_ARN]]]
//	fake api ID http|rest STAGE[:auto]...
//	fake map DOMAIN API_ID STAGE
//	fake cert ARN TYPE STATUS
//	fake throttle SUBSTR N     (the next N mutating calls on paths containing SUBSTR)
//	fake s3put BUCKET KEY FILE (straight into S3, bypassing push's checks)
//	fake conflict DOMAIN N     (the next N updates of DOMAIN meet ConflictException)
//	fake warn DOMAIN TEXT      (every truststore update of DOMAIN gets this warning)
//	fake busy DOMAIN           (the domain is UPDATING for a few polls)
//	fake mutations SUBSTR N    (exactly N mutating calls so far on paths containing SUBSTR)
//	fake sent TEXT             (some request body contains TEXT)
//	fake truststore DOMAIN URI VERSION
//	fake default-endpoint ID on|off
func cmdFake(ts *testscript.TestScript, neg bool, args []string, f *fakeapigw.Fake) {
	if f == nil {
		ts.Fatalf("no fake control plane: MinIO is missing")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: fake VERB ...")
	}
	arg := func(i int, def string) string {
		if i < len(args) {
			return args[i]
		}
		return def
	}
	switch args[0] {
	case "domain":
		f.AddDomain(&fakeapigw.Domain{Name: args[1], REST: args[2] == "rest", EndpointType: arg(3, "REGIONAL"), SecurityPolicy: arg(4, "TLS_1_2"),
			CertificateArn: arg(5, "arn:aws:acm:us-east-1:111122223333:certificate/public")})
	case "api":
		a := &fakeapigw.API{ID: args[1], REST: args[2] == "rest", Stages: map[string]bool{}}
		for _, st := range args[3:] {
			name, auto := strings.CutSuffix(st, ":auto")
			a.Stages[name] = auto
		}
		f.AddAPI(a)
	case "map":
		f.Map(args[1], args[2], args[3])
	case "cert":
		f.AddCertificate(&fakeapigw.Certificate{Arn: args[1], Type: args[2], Status: args[3]})
	case "s3put":
		_, err := rawS3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(args[1]), Key: aws.String(args[2]),
			Body: strings.NewReader(ts.ReadFile(args[3]))})
		ts.Check(err)
	case "throttle":
		n, _ := strconv.Atoi(args[2])
		f.Throttle(args[1], n)
	case "conflict":
		n, _ := strconv.Atoi(args[2])
		f.Conflict(args[1], n)
	case "warn":
		f.SetWarning(args[1], strings.Join(args[2:], " "))
	case "busy":
		f.MarkUpdating(args[1], 3)
	case "mutations":
		want, _ := strconv.Atoi(args[2])
		var got []string
		for _, r := range f.MutatingRequests() {
			if strings.Contains(r.Path, args[1]) {
				got = append(got, r.Method+" "+r.Path)
			}
		}
		if (len(got) == want) == neg {
			ts.Fatalf("%d mutating requests, want %d:\n%s", len(got), want, strings.Join(got, "\n"))
		}
	case "sent":
		text := strings.Join(args[1:], " ")
		found := false
		for _, r := range f.Requests() {
			found = found || strings.Contains(r.Body, text)
		}
		if found == neg {
			ts.Fatalf("sent %q: %v", text, found)
		}
	case "truststore":
		d := f.Domain(args[1])
		if got := fmt.Sprintf("%s %s", d.TruststoreURI, d.TruststoreVersion); (got == args[2]+" "+arg(3, "")) == neg {
			ts.Fatalf("domain %s truststore is %q, want %q", args[1], got, args[2]+" "+arg(3, ""))
		}
	case "default-endpoint":
		a := f.API(args[1])
		if got := map[bool]string{true: "off", false: "on"}[a.DisableDefault]; (got == args[2]) == neg {
			ts.Fatalf("API %s default endpoint is %s", args[1], got)
		}
	default:
		ts.Fatalf("fake: unknown verb %q", args[0])
	}
}
