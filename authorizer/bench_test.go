package authorizer_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/apimtls/apimtls/authorizer"
	"github.com/apimtls/apimtls/internal/revtest"
	"github.com/apimtls/apimtls/revocation"
)

// memS3 serves fixed objects; the warm path makes no request at all, so
// the benchmark measures the handler, not a network.
type memS3 map[string][]byte

func (m memS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	data, ok := m[aws.ToString(in.Key)]
	if !ok {
		panic("no object " + aws.ToString(in.Key))
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ETag: aws.String("\"1\"")}, nil
}

// BenchmarkHandlerWarm is one warm invocation (event JSON in, response
// out; no S3 request inside the TTL) with a CRL of a million entries. It
// reports the heap the cached truststore and CRL hold.
func BenchmarkHandlerWarm(b *testing.B) {
	ca := revtest.NewCA(b, "root", nil)
	good := ca.Client(b, "device", revtest.ClientOptions{})
	crl := ca.BigCRL(b, 1_000_000)
	objects := memS3{"truststore.pem": revtest.PEM(ca.Cert), "crl/" + revocation.KeyID(ca.Cert) + ".crl": crl}
	crl = nil
	cfg, err := authorizer.ConfigFromEnv(func(k string) string {
		return map[string]string{authorizer.EnvTruststoreURI: "s3://b/truststore.pem", authorizer.EnvCRLURI: "s3://b/crl/", authorizer.EnvCacheTTL: "1h"}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := authorizer.NewHandler(cfg, objects, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	for _, p := range []string{"rest-request.json", "http-v2-request.json"} {
		ev := eventB(b, p, good)
		if resp, err := h.Handle(context.Background(), ev); err != nil || !bytes.Contains(mustJSON(resp), []byte("Allow")) && !bytes.Contains(mustJSON(resp), []byte(`"isAuthorized":true`)) {
			b.Fatalf("cold invocation: %v %s", err, mustJSON(resp))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.Handle(context.Background(), ev)
			}
			b.ReportMetric(heap, "MiB-heap")
		})
	}
	runtime.KeepAlive(h)
}
