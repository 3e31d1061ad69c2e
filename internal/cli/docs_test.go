package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestDocs (with the TestDocs of the root package, which runs the README
// walkthrough) keeps the docs true to the tool: every apimtls command line
// in a shell block of README.md and docs/*.md, and in every command's
// --help example, must name a command that exists and only flags that
// command takes. A doc that drifts fails here, whether or not its block
// can run on this machine.
func TestDocs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	checked := 0
	for _, f := range files {
		if filepath.Base(f) == "reference.md" {
			continue // generated from the definitions themselves
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range shellBlocks(string(data)) {
			for _, cmd := range apimtlsLines(b.text) {
				checked++
				if err := checkCommandLine(app, cmd.args); err != nil {
					t.Errorf("%s:%d: %s\n\t%s", filepath.Base(f), b.line+cmd.line, err, cmd.source)
				}
			}
		}
	}
	for _, c := range allCommands(app.Commands) {
		_, example, _ := strings.Cut(c.Description, "Example:")
		for _, cmd := range apimtlsLines(example) {
			checked++
			if err := checkCommandLine(app, cmd.args); err != nil {
				t.Errorf("--help of %s: %s\n\t%s", c.FullName(), err, cmd.source)
			}
		}
	}
	t.Logf("checked %d command lines", checked)
	if checked < 100 {
		t.Fatalf("checked only %d command lines: the extraction broke", checked)
	}
}

// TestDocsCheckFails: the check refuses what drifted docs would say.
func TestDocsCheckFails(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, line := range []string{
		"apimtls truststore frobnicate",
		"apimtls client issue dev --no-such-flag",
		"apimtls crl push --bucket b --truststore truststore.pem --prefix", // a flag without its value
		"apimtls --diir x ca list",
	} {
		cmds := apimtlsLines(line)
		if len(cmds) != 1 {
			t.Fatalf("%q: %d command lines", line, len(cmds))
		}
		if err := checkCommandLine(app, cmds[0].args); err == nil {
			t.Errorf("%q passed the check", line)
		}
	}
	for _, line := range []string{
		"APIMTLS_P12_PASSWORD=... apimtls client issue partner-acme --ca partners --dns api-client.acme.example --p12",
		"apimtls client list --expiring-within 30d || mail -s x ops@example.com",
		`apimtls probe https://localhost:8443/ --ca-file serve-ca.pem --cert chain.pem --key key.pem -o json`,
		"apimtls serve &",
	} {
		if err := checkCommandLine(app, apimtlsLines(line)[0].args); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
}

type block struct {
	line int // of the opening fence
	text string
}

var fence = regexp.MustCompile("^```(sh|bash|shell|console)\\s*$")

// shellBlocks are the fenced shell blocks of a Markdown document.
func shellBlocks(doc string) []block {
	var out []block
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		if !fence.MatchString(strings.TrimSpace(lines[i])) {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		out = append(out, block{line: start + 1, text: strings.Join(body, "\n")})
	}
	return out
}

type commandLine struct {
	line   int // within the text, from 1
	source string
	args   []string
}

// apimtlsLines finds each apimtls invocation in shell text: lines joined
// at a trailing backslash, comments dropped, split at pipes, && and ||, ;
// and &, with leading VAR=value assignments skipped.
func apimtlsLines(text string) []commandLine {
	var out []commandLine
	raw := strings.Split(text, "\n")
	for i := 0; i < len(raw); i++ {
		start := i
		line := raw[i]
		for strings.HasSuffix(strings.TrimRight(line, " "), "\\") && i+1 < len(raw) {
			i++
			line = strings.TrimSuffix(strings.TrimRight(line, " "), "\\") + " " + strings.TrimSpace(raw[i])
		}
		for _, words := range shellSplit(line) {
			for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
				words = words[1:]
			}
			if len(words) > 0 && (words[0] == "apimtls" || words[0] == "./apimtls") {
				out = append(out, commandLine{line: start + 1, source: strings.TrimSpace(line), args: append([]string{appName}, words[1:]...)})
			}
		}
	}
	return out
}

// shellSplit splits a shell line into the words of each simple command:
// quotes kept together, a # comment dropped, and |, ||, &&, ; and & ending
// a command.
func shellSplit(line string) [][]string {
	var cmds [][]string
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	end := func() {
		flush()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(line[i+1:], ch)
			if j < 0 {
				j = len(line) - i - 1
			}
			cur.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case ch == '#' && !inWord:
			end()
			return cmds
		case ch == '|' || ch == ';' || ch == '&' || ch == '(' || ch == ')':
			end()
		case ch == ' ' || ch == '\t':
			flush()
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	end()
	return cmds
}

// checkCommandLine checks that args (args[0] the program) name a command
// and only flags it takes, each flag that takes a value with one.
func checkCommandLine(app *cli.App, args []string) error {
	cmds := app.Commands
	var cmd *cli.Command
	path := []string{appName}
	var flags []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			continue
		}
		if c := findCommand(cmds, a); c != nil && (cmd == nil || len(cmd.Subcommands) > 0) {
			cmd, cmds, path = c, c.Subcommands, append(path, c.Name)
			continue
		}
		if cmd != nil && len(cmd.Subcommands) > 0 {
			return fmt.Errorf("%s has no command %q", strings.Join(path, " "), a)
		}
	}
	if cmd == nil && len(flags) == 0 && len(args) > 1 {
		return fmt.Errorf("no command %q", args[1])
	}
	if cmd != nil && len(cmd.Subcommands) > 0 && cmd.Action == nil {
		return fmt.Errorf("%s needs a command: %s", strings.Join(path, " "), strings.Join(commandNames(cmd.Subcommands), ", "))
	}
	known := flagsOf(app, cmd)
	for _, c := range []*cli.Command{cmd} {
		if c != nil {
			known = append(known, cli.HelpFlag)
		}
	}
	takesValue := flagArity(known)
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !slices.ContainsFunc(known, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) }) {
			return fmt.Errorf("%s has no flag --%s", strings.Join(path, " "), name)
		}
		if takesValue[name] && !hasValue {
			if i+1 >= len(args) {
				return fmt.Errorf("--%s of %s needs a value", name, strings.Join(path, " "))
			}
			i++
		}
	}
	return nil
}

func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Name)
	}
	return out
}

// allCommands is every command and subcommand.
func allCommands(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		out = append(out, c)
		out = append(out, allCommands(c.Subcommands)...)
	}
	return out
}
