package cli

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/apimtls/apimtls/internal/errkind"
	"github.com/aws/smithy-go"
	"github.com/urfave/cli/v2"
	"github.com/xrash/smetrics"
)

// Stable error codes of -o json (docs/json.md "Errors"). Scripts branch on
// these, never on the message; a code is never renamed.
const (
	codeUsage        = "usage"         // the command line is wrong (exit 2)
	codeNotFound     = "not_found"     // a CA, client, file, domain, bucket or version does not exist
	codeLocked       = "locked"        // another apimtls process holds the PKI directory or the file
	codeConflict     = "conflict"      // exists already, would overwrite a key, or an update is in progress
	codeInvalidInput = "invalid_input" // a file, name, passphrase or value was read and refused
	codeRefused      = "refused"       // a safety check refused what would do harm (un-revoke, a compromised key, a revoked CA)
	codeAWS          = "aws_error"     // AWS refused, throttled, denied or could not be reached
	codeInterrupted  = "interrupted"   // a signal stopped the work; the same command resumes it
	codeFailed       = "failed"        // any other failure
)

// kindCodes maps each kind of failure (every package's errors say theirs,
// package errkind) to its code: the CLI maps kinds, never a package's
// sentinels one by one.
var kindCodes = map[errkind.Kind]string{
	errkind.NotFound:    codeNotFound,
	errkind.Conflict:    codeConflict,
	errkind.Invalid:     codeInvalidInput,
	errkind.Refused:     codeRefused,
	errkind.Locked:      codeLocked,
	errkind.External:    codeAWS,
	errkind.Interrupted: codeInterrupted,
}

// errorCode maps an error to its code: the one place that does.
func errorCode(err error) string {
	var (
		ue     usageError
		apiErr smithy.APIError
	)
	switch {
	case errors.As(err, &ue) || isCLIUsage(err):
		return codeUsage
	case errkind.Of(err) != 0:
		return kindCodes[errkind.Of(err)]
	// What the standard library and the SDK say, outside our packages.
	case errors.Is(err, fs.ErrExist):
		return codeConflict
	case errors.Is(err, fs.ErrNotExist):
		return codeNotFound
	case errors.As(err, &apiErr):
		return codeAWS
	}
	return codeFailed
}

// jsonError is what -o json prints on standard error when a command fails.
type jsonError struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Hints   []string `json:"hints,omitempty"`
	} `json:"error"`
}

// printJSONError is printError for -o json: one JSON document on standard
// error, so that standard output keeps the command's own document, if any.
func printJSONError(w io.Writer, err error) {
	var se silentError
	if errors.As(err, &se) {
		return // the command's document on stdout says it all
	}
	var doc jsonError
	doc.Error.Code, doc.Error.Message, doc.Error.Hints = errorCode(err), err.Error(), errorHints(err)
	writeJSON(w, doc)
}

// errorHints collects the hints of an error and the errors it wraps.
func errorHints(err error) []string {
	var hints []string
	var he *hintedError
	for e := err; errors.As(e, &he); e = he.err {
		hints = append(hints, he.hints...)
	}
	return hints
}

// wantsJSON reports whether the command line or APIMTLS_OUTPUT asks for
// JSON, read from the raw arguments so that errors urfave/cli returns
// before any action runs get the JSON shape too.
func wantsJSON(args []string) bool {
	format := os.Getenv(envOutput)
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		for _, name := range []string{"-o", "--o", "-" + flagOutput, "--" + flagOutput} {
			if a == name && i+1 < len(args) {
				format = args[i+1]
			} else if v, ok := strings.CutPrefix(a, name+"="); ok {
				format = v
			}
		}
	}
	return format == outputJSON
}

// unknownCommand turns urfave/cli's "No help topic for 'X'" into a usage
// error naming the command and the closest ones, if any are close.
func unknownCommand(app *cli.App, args []string, topic string) error {
	name := strings.Trim(topic, "'")
	cmds, path := app.Commands, []string{appName}
	for _, a := range args[1:] {
		if a == name {
			break
		}
		if c := findCommand(cmds, a); c != nil && len(c.Subcommands) > 0 {
			cmds, path = c.Subcommands, append(path, c.Name)
		}
	}
	err := usagef("unknown command %q", strings.Join(append(path[1:], name), " "))
	if s := suggestCommands(cmds, name); len(s) > 0 {
		var hints []string
		for _, c := range s {
			hints = append(hints, "did you mean: "+strings.Join(append(path, c), " ")+"?")
		}
		return withHint(err, hints...)
	}
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return withHint(err, "the commands here are: "+strings.Join(names, ", "))
}

// suggestCommands returns the names among cmds close to typed: a prefix of
// it, or similar by Jaro-Winkler, best first.
func suggestCommands(cmds []*cli.Command, typed string) []string {
	var names [][]string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names())
		}
	}
	return suggest(names, typed)
}

// suggest returns, of each group of names for one thing (a command and its
// aliases, a flag and its aliases), the first name when one of the group is
// close to typed: a prefix of it, or similar by Jaro-Winkler; best first,
// three at most.
func suggest(groups [][]string, typed string) []string {
	type scored struct {
		name  string
		score float64
	}
	var found []scored
	for _, g := range groups {
		best := 0.0
		for _, n := range g {
			s := smetrics.JaroWinkler(strings.ToLower(typed), n, 0.7, 4)
			if strings.HasPrefix(n, strings.ToLower(typed)) && len(typed) >= 2 {
				s = 1
			}
			best = max(best, s)
		}
		if best >= 0.8 {
			found = append(found, scored{g[0], best})
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].score > found[j].score })
	var names []string
	for i, f := range found {
		if i == 3 {
			break
		}
		names = append(names, f.name)
	}
	return names
}

// commandOf is the command the arguments run (nil: the app itself) and
// its path.
func commandOf(app *cli.App, args []string) (*cli.Command, []string) {
	var cmd *cli.Command
	cmds, path := app.Commands, []string{appName}
	for _, a := range args[1:] {
		if a == "--" || strings.HasPrefix(a, "-") {
			continue
		}
		c := findCommand(cmds, a)
		if c == nil {
			break
		}
		cmd, cmds, path = c, c.Subcommands, append(path, c.Name)
	}
	return cmd, path
}

// flagsOf is the flags a command (nil: the app) takes, its own and the
// app's.
func flagsOf(app *cli.App, cmd *cli.Command) []cli.Flag {
	flags := slices.Clone(app.Flags)
	if cmd != nil {
		flags = append(flags, cmd.Flags...)
	}
	return flags
}

// unknownFlag turns urfave/cli's "flag provided but not defined: -X" into
// a usage error naming the command and the closest flags it takes.
func unknownFlag(app *cli.App, args []string, name string) error {
	cmd, path := commandOf(app, args)
	err := usagef("%s has no flag --%s", strings.Join(path, " "), name)
	var groups [][]string
	for _, f := range flagsOf(app, cmd) {
		groups = append(groups, f.Names())
	}
	if s := suggest(groups, name); len(s) > 0 {
		var hints []string
		for _, n := range s {
			hints = append(hints, "did you mean --"+n+"?")
		}
		return withHint(err, hints...)
	}
	return withHint(err, "see its flags with: "+strings.Join(path, " ")+" --help")
}

// invalidValue adds to urfave/cli's "invalid value V for flag -X: parse
// error" what the flag takes, for the kinds of value that have a format.
func invalidValue(app *cli.App, args []string, err error, name string) error {
	cmd, path := commandOf(app, args)
	for _, f := range flagsOf(app, cmd) {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.DurationFlag:
			return withHint(usageError{err}, "--"+name+" takes a duration with its unit: 500ms, 5s, 2m, 1h")
		case *cli.IntFlag, *cli.UintFlag, *cli.Int64Flag:
			return withHint(usageError{err}, "--"+name+" takes a whole number")
		}
	}
	return withHint(usageError{err}, "see the flags with: "+strings.Join(path, " ")+" --help")
}
