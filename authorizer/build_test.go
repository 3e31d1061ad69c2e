package authorizer_test

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/apimtls/apimtls/authorizer"
)

// The package for the wanted architecture is made from this binary when
// it matches, else cross-compiled with go on the PATH, else the plan names
// the release asset; with no --arch the default arm64 is kept only where
// it can be made.
func TestChooseArchitecture(t *testing.T) {
	ctx := context.Background()
	noGo := func(string) (string, error) { return "", errors.New("not found") }
	withGo := func(string) (string, error) { return "/usr/local/go/bin/go", nil }
	release := &debug.Module{Path: authorizer.Module, Version: "v1.4.0"}
	devel := &debug.Module{Path: authorizer.Module, Version: "(devel)"}
	noCheckout := func(context.Context, string) string { return "" }
	for _, tc := range []struct {
		name, goos, goarch, want string
		look                     func(string) (string, error)
		main                     *debug.Module
		arch, how, why           string
	}{
		{"linux/arm64 default", "linux", "arm64", "", noGo, release, "arm64", authorizer.FromThisBinary, "this apimtls binary is linux/arm64"},
		{"linux/amd64 with go", "linux", "amd64", "", withGo, release, "arm64", authorizer.CrossCompiled, "github.com/apimtls/apimtls v1.4.0"},
		{"linux/amd64 without go", "linux", "amd64", "", noGo, release, "amd64", authorizer.FromThisBinary, "cannot be built here (no go on the PATH"},
		{"linux/amd64 devel outside its checkout", "linux", "amd64", "", withGo, devel, "amd64", authorizer.FromThisBinary, "apimtls_authorizer_1.4.0_linux_arm64.zip"},
		{"mac without go", "darwin", "arm64", "", noGo, release, "arm64", authorizer.NeedsZip, "download apimtls_authorizer_1.4.0_linux_arm64.zip"},
		{"mac with go", "darwin", "arm64", "amd64", withGo, release, "amd64", authorizer.CrossCompiled, "linux/amd64"},
		{"linux/amd64 asked amd64", "linux", "amd64", "amd64", noGo, release, "amd64", authorizer.FromThisBinary, "--arch amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := authorizer.Builder{GOOS: tc.goos, GOARCH: tc.goarch, Version: "v1.4.0", LookPath: tc.look, Main: tc.main, Checkout: noCheckout}
			c := b.Choose(ctx, tc.want)
			if c.Arch != tc.arch || c.How != tc.how || !strings.Contains(c.Why, tc.why) {
				t.Fatalf("choice %+v, want %s %s with %q", c, tc.arch, tc.how, tc.why)
			}
			if c.How == authorizer.NeedsZip {
				if _, err := b.Build(ctx, c); !errors.Is(err, authorizer.ErrNeedsZip) {
					t.Fatalf("build: %v", err)
				}
			}
		})
	}
}

// A cross-compile runs go build for linux/ARCH without cgo, trimmed, and
// zips what it wrote as the bootstrap.
func TestCrossCompile(t *testing.T) {
	var gotEnv, gotArgs []string
	b := authorizer.Builder{GOOS: "darwin", GOARCH: "arm64", LookPath: func(string) (string, error) { return "go", nil },
		Main: &debug.Module{Path: authorizer.Module, Version: "v1.4.0"},
		Run: func(_ context.Context, dir string, env []string, name string, args ...string) error {
			gotEnv, gotArgs = env, args
			if _, err := os.Stat(dir + "/go.mod"); err != nil {
				t.Errorf("no throwaway module: %v", err)
			}
			return os.WriteFile(args[len(args)-2], []byte("\x7fELF bootstrap"), 0o755)
		}}
	c := b.Choose(context.Background(), "")
	pkg, err := b.Build(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Arch != "arm64" || len(pkg.Zip) == 0 {
		t.Fatalf("package %+v", pkg)
	}
	if e := strings.Join(gotEnv, " "); !strings.Contains(e, "GOOS=linux") || !strings.Contains(e, "GOARCH=arm64") || !strings.Contains(e, "CGO_ENABLED=0") {
		t.Fatalf("env %q", gotEnv)
	}
	if a := strings.Join(gotArgs, " "); !strings.HasPrefix(a, "build -trimpath -o ") || !strings.HasSuffix(a, authorizer.Module) {
		t.Fatalf("args %q", gotArgs)
	}
}
