package scripttest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// startOneEndpoint serves S3 (MinIO) and the fake control plane at one
// URL, as LocalStack does, for a script that gives the profile a single
// endpoint-url ($ONE_ENDPOINT): each request goes where the service
// of its SigV4 credential scope says ("s3" to MinIO, any other to the
// fake). The Host header is passed on unchanged, since the signature
// covers it.
func startOneEndpoint(t *testing.T, s3URL, fakeURL string) string {
	s3Target, err := url.Parse(s3URL)
	if err != nil {
		t.Fatal(err)
	}
	fakeTarget, err := url.Parse(fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		target := fakeTarget
		if signedService(pr.In) == "s3" {
			target = s3Target
		}
		pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
		pr.Out.Host = pr.In.Host
	}}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// signedService is the service of a SigV4 request's credential scope
// (Credential=AKID/DATE/REGION/SERVICE/aws4_request), "" when unsigned.
func signedService(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, after, ok := strings.Cut(auth, "Credential="); ok {
			cred, _, _ = strings.Cut(after, ",")
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}
