package cli

import (
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// The one place positional arguments are counted. urfave/cli/v2 hands them
// over unchecked; every command says here how many it takes, and a wrong
// count is a usage error (exit 2) naming the command and what it expects.

// exactArgs returns the positional arguments when there are exactly
// len(names) of them; names says what each one is, such as "NAME".
func exactArgs(c *cli.Context, names ...string) ([]string, error) {
	if c.NArg() != len(names) {
		return nil, usagef("%s takes %s (got %d)", commandPath(c), describeArgs(names), c.NArg())
	}
	return c.Args().Slice(), nil
}

// noArgs refuses any positional argument.
func noArgs(c *cli.Context) error {
	_, err := exactArgs(c)
	return err
}

// oneArg returns the one positional argument the command takes.
func oneArg(c *cli.Context, name string) (string, error) {
	args, err := exactArgs(c, name)
	if err != nil {
		return "", err
	}
	return args[0], nil
}

// optionalArg returns the positional argument, or "" when there is none;
// more than one is a usage error.
func optionalArg(c *cli.Context, name string) (string, error) {
	switch c.NArg() {
	case 0:
		return "", nil
	case 1:
		return c.Args().First(), nil
	}
	return "", usagef("%s takes at most one argument: [%s] (got %d)", commandPath(c), name, c.NArg())
}

func describeArgs(names []string) string {
	switch len(names) {
	case 0:
		return "no arguments"
	case 1:
		return "1 argument: " + names[0]
	}
	return strconv.Itoa(len(names)) + " arguments: " + strings.Join(names, " ")
}

// startNoArgs checks a command that takes no arguments, and returns the
// output format: the first thing such an action does.
func startNoArgs(c *cli.Context) (string, error) {
	if err := noArgs(c); err != nil {
		return "", err
	}
	return outputFormat(c)
}

// startOneArg checks a command that takes one argument, and returns the
// output format and the argument.
func startOneArg(c *cli.Context, name string) (format, arg string, err error) {
	if arg, err = oneArg(c, name); err != nil {
		return "", "", err
	}
	format, err = outputFormat(c)
	return format, arg, err
}
