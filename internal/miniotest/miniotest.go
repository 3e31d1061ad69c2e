// Package miniotest runs a real MinIO server on 127.0.0.1 for tests, so the
// S3 code is tested against a real S3 implementation rather than a mock.
//
// The binary is built from the Go module proxy at a pinned version by
// scripts/build-minio (tools/minio keeps its dependencies out of our
// go.mod). Tests find it through APIMTLS_MINIO or at .bin/minio in the
// repository. Without it they skip, except under CI=true, where a missing
// MinIO fails the run.
package miniotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Credentials of the test server's root user.
const (
	AccessKey = "apimtls-test"
	SecretKey = "apimtls-test-secret-key"
	Region    = "us-east-1"
)

// Server is a running MinIO.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	cmd      *exec.Cmd
	dir      string
	done     chan error
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
)

var bucketSeq atomic.Int64

// Bucket is a bucket name no other test of this run, or of a concurrent
// run, uses: prefix, the process ID and a sequence number.
func Bucket(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid()%100000, bucketSeq.Add(1))
}

// Shared returns the package's one MinIO server, starting it on first use.
// Stop it from TestMain with StopShared.
func Shared(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		if os.Getenv("CI") == "true" || !errors.Is(sharedErr, errNoBinary) {
			t.Fatalf("MinIO: %v", sharedErr)
		}
		t.Skipf("MinIO: %v", sharedErr)
	}
	return shared
}

// StopShared stops the shared server if one was started. A later Shared
// starts a new one: in a test binary whose tests each run their scripts
// with a server of their own (TestScripts, then TestDocs), the first one's
// cleanup must not leave the next a stopped server.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
	shared, sharedErr, once = nil, nil, sync.Once{}
}

var errNoBinary = errors.New("no MinIO binary: run scripts/build-minio, or set APIMTLS_MINIO")

// Binary finds the MinIO binary.
func Binary() (string, error) {
	if p := os.Getenv("APIMTLS_MINIO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("APIMTLS_MINIO=%s: %w", p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ".bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if data, _ := os.ReadFile(filepath.Join(dir, "go.mod")); strings.Contains(string(data), "module github.com/apimtls/apimtls\n") {
				return "", errNoBinary
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errNoBinary
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "apimtls-minio-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", fmt.Sprintf("127.0.0.1:%d", console), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_REGION="+Region, "MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{Endpoint: "http://" + addr, cmd: cmd, dir: dir, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
			return nil, fmt.Errorf("minio exited: %v\n%s", err, log)
		default:
		}
		// Ready and with write quorum, and answering the S3 API itself:
		// right after start the health checks pass while S3 calls still get
		// 503 XMinioServerNotInitialized. An anonymous listing gets 403
		// once the server is really up.
		if s.status("/minio/health/ready") == http.StatusOK && s.status("/minio/health/cluster") == http.StatusOK &&
			s.status("/") == http.StatusForbidden {
			return s, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	return nil, errors.New("minio did not become ready within 60s")
}

func (s *Server) status(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Stop ends the server and removes its data.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

// Env is the environment that points the AWS SDK and apimtls at the server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}
