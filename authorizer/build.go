package authorizer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/apimtls/apimtls/internal/errkind"
)

// Module is the Go module the bootstrap is built from.
const Module = "github.com/apimtls/apimtls"

// DefaultArch is the architecture the authorizer runs on unless told
// otherwise: arm64 (Graviton) costs less per millisecond than x86_64 in
// Lambda's price list, when this apimtls can make its package.
const DefaultArch = "arm64"

// How a package is made (Choice.How).
const (
	FromThisBinary = "this binary"
	CrossCompiled  = "cross-compiled"
	NeedsZip       = "needs --zip"
)

// Builder makes the deployment package for a Lambda architecture: from
// the running apimtls when it is that linux binary, else by
// cross-compiling the same module version with the Go toolchain on the
// PATH, else it names the release asset to download. The zero value is
// the running binary and the real PATH.
type Builder struct {
	// GOOS and GOARCH are this binary's (default: runtime's).
	GOOS, GOARCH string
	// Version is this apimtls's release version ("" or a development
	// build: none), for the asset's name.
	Version string
	// LookPath finds go (default exec.LookPath).
	LookPath func(string) (string, error)
	// Main is this binary's module build info (default
	// debug.ReadBuildInfo's).
	Main *debug.Module
	// Checkout finds the source checkout of Module for a development
	// build, from the working directory (default: go env GOMOD).
	Checkout func(ctx context.Context, gobin string) string
	// Run runs a command in dir with extra environment (default os/exec).
	Run func(ctx context.Context, dir string, env []string, name string, args ...string) error
	// Exe reads the running executable (default os.Executable).
	Exe func() ([]byte, error)
}

// Choice is how the package for an architecture will be made, and why.
type Choice struct {
	Arch string `json:"arch"`
	How  string `json:"how"`
	// Why is the sentence a plan prints.
	Why string `json:"why"`
	// Asset is the release asset to download and give with --zip when
	// How is NeedsZip.
	Asset  string `json:"asset,omitempty"`
	gobin  string
	source string // module@version, or a checkout directory
	reason string // why it cannot be built here
}

func (b Builder) goos() string   { return cmpOr(b.GOOS, runtime.GOOS) }
func (b Builder) goarch() string { return cmpOr(b.GOARCH, runtime.GOARCH) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// AssetName is the release asset holding the authorizer zip of an
// architecture (.goreleaser.yaml, archive id authorizer).
func AssetName(version, arch string) string {
	v := strings.TrimPrefix(version, "v")
	if v == "" {
		v = "VERSION"
	}
	return fmt.Sprintf("apimtls_authorizer_%s_linux_%s.zip", v, arch)
}

// Choose decides how to make the package for want; with want "" it picks
// the architecture too: arm64 where it can be made here, else the
// architecture of this linux binary, else arm64 from a release asset.
func (b Builder) Choose(ctx context.Context, want string) Choice {
	if want != "" {
		return b.choose(ctx, want, "--arch "+want)
	}
	c := b.choose(ctx, DefaultArch, DefaultArch+", the default (cheaper per ms)")
	if c.How != NeedsZip || b.goos() != "linux" || b.goarch() == DefaultArch {
		return c
	}
	own := b.choose(ctx, b.goarch(), "")
	own.Why = fmt.Sprintf("%s: this apimtls is linux/%s, and the default arm64 (cheaper per ms) cannot be built here (%s); for arm64 give --arch arm64 --zip %s", own.Arch, own.Arch, c.reason, c.Asset)
	return own
}

func (b Builder) choose(ctx context.Context, arch, why string) Choice {
	c := Choice{Arch: arch, Asset: AssetName(b.Version, arch)}
	if b.goos() == "linux" && b.goarch() == arch {
		c.How, c.Why = FromThisBinary, why+": this apimtls binary is linux/"+arch
		return c
	}
	lookPath := b.LookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	gobin, err := lookPath("go")
	if err == nil {
		if src, what := b.source(ctx, gobin); src != "" {
			c.How, c.gobin, c.source = CrossCompiled, gobin, src
			c.Why = fmt.Sprintf("%s: cross-compiled for linux/%s with %s from %s", why, arch, gobin, what)
			return c
		}
	}
	c.How, c.reason = NeedsZip, noToolchain(err)
	c.Why = fmt.Sprintf("%s: this apimtls is %s/%s and cannot cross-compile (%s); download %s from the release and pass it with --zip",
		why, b.goos(), b.goarch(), c.reason, c.Asset)
	return c
}

func noToolchain(lookErr error) string {
	if lookErr != nil {
		return "no go on the PATH to cross-compile with"
	}
	return "a development build, run outside its source checkout"
}

// source is what to build from: the module at this binary's version, or
// for a development build the checkout it is run from.
func (b Builder) source(ctx context.Context, gobin string) (string, string) {
	m := b.Main
	if m == nil {
		if info, ok := debug.ReadBuildInfo(); ok {
			m = &info.Main
		}
	}
	if m != nil && m.Path == Module && strings.HasPrefix(m.Version, "v") {
		return Module + "@" + m.Version, Module + " " + m.Version
	}
	find := b.Checkout
	if find == nil {
		find = goModDir
	}
	if dir := find(ctx, gobin); dir != "" {
		return dir, "the checkout " + dir + " (this apimtls is a development build)"
	}
	return "", ""
}

// goModDir is the directory of Module's go.mod around the working
// directory, or "".
func goModDir(ctx context.Context, gobin string) string {
	out, err := exec.CommandContext(ctx, gobin, "env", "GOMOD").Output()
	if err != nil {
		return ""
	}
	gomod := strings.TrimSpace(string(out))
	data, err := os.ReadFile(gomod)
	if err != nil || !strings.Contains(string(data), "module "+Module+"\n") {
		return ""
	}
	return filepath.Dir(gomod)
}

// ErrNeedsZip is a package this apimtls cannot make: the Choice names the
// release asset to give with --zip.
var ErrNeedsZip = errkind.New(errkind.NotFound, "cannot build the authorizer package here")

// Build makes the package the choice says.
func (b Builder) Build(ctx context.Context, c Choice) (*Package, error) {
	switch c.How {
	case FromThisBinary:
		read := b.Exe
		if read == nil {
			read = readExecutable
		}
		exe, err := read()
		if err != nil {
			return nil, err
		}
		return packageOf(exe, c.Arch)
	case CrossCompiled:
		exe, err := b.crossCompile(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("cross-compile the authorizer for linux/%s: %w (or download %s and pass it with --zip)", c.Arch, err, c.Asset)
		}
		return packageOf(exe, c.Arch)
	}
	return nil, fmt.Errorf("%w: %s", ErrNeedsZip, c.Why)
}

// crossCompile builds the bootstrap with GOOS=linux GOARCH=arch
// CGO_ENABLED=0 -trimpath into a temporary directory, as the release does.
func (b Builder) crossCompile(ctx context.Context, c Choice) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "apimtls-authorizer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	run := b.Run
	if run == nil {
		run = runCommand
	}
	out := filepath.Join(tmp, "bootstrap")
	env := []string{"GOOS=linux", "GOARCH=" + c.Arch, "CGO_ENABLED=0"}
	dir, pkg := c.source, "."
	if strings.Contains(c.source, "@") {
		// A module version: a throwaway module that requires it.
		dir, pkg = filepath.Join(tmp, "mod"), Module
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		_, version, _ := strings.Cut(c.source, "@")
		gomod := "module apimtls-bootstrap\n\ngo 1.26\n\nrequire " + Module + " " + version + "\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600); err != nil {
			return nil, err
		}
		env = append(env, "GOFLAGS=-mod=mod")
	}
	if err := run(ctx, dir, env, c.gobin, "build", "-trimpath", "-o", out, pkg); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

func runCommand(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func readExecutable() ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the running executable: %w", err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		return nil, fmt.Errorf("read the running executable: %w", err)
	}
	return data, nil
}
