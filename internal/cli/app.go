// Package cli is apimtls's command line: flags, prompts, output and exit
// codes. Each action parses its flags, makes one call into the packages that
// do the work, and prints the result.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/pki"
)

// Names of global flags and their environment variables.
const (
	flagNoColor = "no-color"
	envDir      = "APIMTLS_DIR"
	envOutput   = "APIMTLS_OUTPUT"
	envContext  = "APIMTLS_CONTEXT"
)

// Exit codes (docs/pki.md states them for users).
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	outputText  = "text"
	outputJSON  = "json"
	appName     = "apimtls"
	appUsage    = "mutual TLS for Amazon API Gateway custom domains, from CA to proof"
	dataDirName = "apimtls"
)

// Set by the release build through -ldflags; go install builds fall back to
// the module version in their build info.
var (
	version = ""
	commit  = ""
)

func buildVersion() (string, string) {
	v, c, _ := buildStamp()
	return v, c
}

// buildStamp is the version, commit and build date: the release build's
// -ldflags, else what the Go toolchain stamped (module version, vcs.revision
// and vcs.time); the date is "unknown" when neither says.
func buildStamp() (v, c, d string) {
	v, c, d = version, commit, date
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if d == "" {
		d = "unknown"
	}
	return v, c, d
}

// globalFlags are accepted by every command, before or after its name.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagDir, Usage: "PKI directory (default: apimtls/ in the user data directory)", EnvVars: []string{envDir}},
		&cli.StringFlag{Name: flagStore, Usage: "keep the inventory, certificates and CRL numbers in a shared S3 store, s3://BUCKET/PREFIX; keys stay in the PKI directory (docs/team.md)", EnvVars: []string{envStore}},
		&cli.StringFlag{Name: flagOutput, Aliases: []string{"o"}, Value: outputText, Usage: "output format: text or json", EnvVars: []string{envOutput}},
		&cli.StringFlag{Name: flagContext, Usage: "the profile's context to read settings from (default: default; docs/config.md)", EnvVars: []string{envContext}},
		&cli.BoolFlag{Name: flagNoColor, Usage: "no colour in output (also NO_COLOR)"},
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	v, c := buildVersion()
	app := &cli.App{
		Name:                 appName,
		Usage:                appUsage,
		Version:              fmt.Sprintf("%s (commit %s, %s)", v, orNone(c), runtime.Version()),
		Description:          "Start with: apimtls quickstart",
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		Commands:             []*cli.Command{quickstartCommand(), caCommand(), clientCommand(), truststoreCommand(), domainCommand(), apiCommand(), crlCommand(), authorizerCommand(), setupCommand(), rotateCommand(), serveCommand(), probeCommand(), storeCommand(), configCommand(), versionCommand(), completionCommand()},
		Flags:                globalFlags(),
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError:         onUsageError,
	}
	forEachLeaf(app.Commands, func(cmd *cli.Command) {
		cmd.Flags = append(cmd.Flags, globalFlags()...)
		cmd.OnUsageError = onUsageError
		cmd.HideHelpCommand = true
	})
	return app
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func forEachLeaf(cmds []*cli.Command, fn func(*cli.Command)) {
	for _, c := range cmds {
		if len(c.Subcommands) > 0 {
			c.OnUsageError = onUsageError
			c.HideHelpCommand = true
			forEachLeaf(c.Subcommands, fn)
			continue
		}
		fn(c)
	}
}

// metaArgs keeps the command line in the app's metadata, for the rare
// command that must tell a flag typed from the same setting in the
// environment.
const metaArgs = "args"

// metaTyped keeps the command line as typed, before reorderArgs, for
// hints that give it back.
const metaTyped = "typed"

// flagTyped reports whether --name was on the command line itself.
func flagTyped(c *cli.Context, name string) bool {
	args, _ := c.App.Metadata[metaArgs].([]string)
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--"+name || a == "-"+name || strings.HasPrefix(a, "--"+name+"=") || strings.HasPrefix(a, "-"+name+"=") {
			return true
		}
	}
	return false
}

// usageError marks a malformed command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageError{err}
}

// Main is the whole program as the binary runs it, returning its exit code.
func Main() int {
	// A command lives for milliseconds and allocates a few megabytes at
	// most; collecting less often saves a fifth of the time of a large
	// truststore validation.
	debug.SetGCPercent(400)
	// SIGINT and SIGTERM cancel the context: serve shuts down cleanly, and
	// other commands finish the step they are in rather than die midway.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args, os.Stdout, os.Stderr)
}

// Run parses args, runs the command and returns the exit code. Everything
// it prints goes to stdout and stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 && args[1] == completeCommandName {
		return runComplete(args[2:], stdout) // no profile, no parsing: it must not fail
	}
	app := newApp(stdout, stderr)
	typed := args
	args = reorderArgs(app, args)
	app.Metadata = map[string]any{metaArgs: args, metaTyped: typed}
	noColor := hasFlag(args, flagNoColor)
	// After metaArgs: what the profile gives is not "typed" (flagTyped).
	filled, err := fillFromProfile(app, args, stderr)
	if err == nil {
		err = app.RunContext(ctx, filled)
	}
	if err == nil {
		return exitOK
	}
	if topic, ok := strings.CutPrefix(err.Error(), "No help topic for "); ok {
		err = unknownCommand(app, args, topic)
	} else if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		err = unknownFlag(app, args, name)
	} else if m := invalidFlagValue.FindStringSubmatch(err.Error()); m != nil {
		err = invalidValue(app, args, err, m[1])
	} else {
		err = requiredFromProfile(err)
	}
	if wantsJSON(args) {
		printJSONError(stderr, err)
	} else {
		printError(stderr, err, noColor)
	}
	return exitCode(err)
}

// invalidFlagValue is how urfave/cli (through package flag) says a flag's
// value did not parse.
var invalidFlagValue = regexp.MustCompile(`^invalid value ".*" for flag -([a-z0-9-]+): `)

// exitCode is 2 for a usage error and 1 for any other failure.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || isCLIUsage(err) {
		return exitUsage
	}
	return exitFailed
}

// isCLIUsage recognises the errors urfave/cli returns for commands and flags
// it does not know.
func isCLIUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") ||
		strings.Contains(msg, "No help topic for") ||
		strings.HasPrefix(msg, "Required flag")
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--"+name || a == "-"+name {
			return true
		}
	}
	return false
}

// reorderArgs moves flags in front of positional arguments. urfave/cli v2
// stops parsing flags at the first argument, but "ca intermediate NAME
// --parent P" is how people type, so the arguments of the command found are
// put in the order it parses: command path, flags, then arguments.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var (
		path, flags, positional []string
		cmds                    = app.Commands
		leaf                    *cli.Command
	)
	takesValue := flagArity(globalFlags())
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		case leaf == nil && len(positional) == 0 && findCommand(cmds, a) != nil:
			c := findCommand(cmds, a)
			path = append(path, a)
			if len(c.Subcommands) == 0 {
				leaf = c
				for k, v := range flagArity(c.Flags) {
					takesValue[k] = v
				}
			}
			cmds = c.Subcommands
		default:
			positional = append(positional, a)
		}
	}
	if leaf == nil {
		return args // a group, help or an unknown command: let cli report it
	}
	out := append([]string{args[0]}, path...)
	out = append(out, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func flagArity(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			m[n] = !isBool
		}
	}
	return m
}

// pkiDir resolves the PKI directory: --dir or APIMTLS_DIR, else apimtls/
// in the user's data directory, where mkcert keeps its CAROOT too, so keys
// never land in a project checkout by accident.
func pkiDir(c *cli.Context) (string, error) {
	if d := c.String(flagDir); d != "" {
		return filepath.Abs(d)
	}
	var base string
	switch runtime.GOOS {
	case "windows":
		base = os.Getenv("LocalAppData")
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home directory: %w", err)
		}
		base = filepath.Join(home, "Library", "Application Support")
	default:
		base = os.Getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("find the home directory: %w", err)
			}
			base = filepath.Join(home, ".local", "share")
		}
	}
	if base == "" {
		return "", errors.New("no data directory: set APIMTLS_DIR or pass --dir")
	}
	return filepath.Join(base, dataDirName), nil
}

// openStore opens the PKI directory of the command.
func openStore(c *cli.Context, write bool) (*pki.Store, error) {
	dir, err := pkiDir(c)
	if err != nil {
		return nil, err
	}
	var s *pki.Store
	if uri := c.String(flagStore); uri != "" {
		s, err = openShared(c, dir, uri, write)
	} else {
		s, err = pki.OpenStore(dir, write)
	}
	if err != nil {
		return nil, inventoryHint(err)
	}
	s.Warn = func(msg string) { printWarning(c.App.ErrWriter, msg, noColor(c)) }
	s.KMS = kmsConfig(c)
	return s, nil
}

// outputFormat returns text or json, refusing anything else.
func outputFormat(c *cli.Context) (string, error) {
	switch o := c.String(flagOutput); o {
	case outputText, outputJSON:
		return o, nil
	default:
		return "", usagef("unknown output format %q: use text or json", o)
	}
}

func noColor(c *cli.Context) bool { return c.Bool(flagNoColor) }

// commandPath is the full name of the running command, such as "ca show".
func commandPath(c *cli.Context) string {
	var parts []string
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.Command.Name != "" {
			parts = append([]string{cc.Command.Name}, parts...)
		}
	}
	return strings.Join(parts, " ")
}

// retyped is the user's own command line again with --flag value set (in
// place of any value it had), shell-quoted: a hint that gives a command to
// run gives back every argument the user typed, not a shorter command.
func retyped(c *cli.Context, flag, value string) string {
	args, _ := c.App.Metadata[metaTyped].([]string)
	out := []string{appName}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a == "--"+flag || a == "-"+flag {
			i++ // and its value
			continue
		}
		if strings.HasPrefix(a, "--"+flag+"=") || strings.HasPrefix(a, "-"+flag+"=") {
			continue
		}
		out = append(out, a)
	}
	out = append(out, "--"+flag, value)
	for i, a := range out {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

// shellQuote quotes a for a POSIX shell when it holds anything but the
// characters that never need it.
func shellQuote(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}
