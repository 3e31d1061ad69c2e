package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/profile"
)

// flagShowOrigin is config list's.
const flagShowOrigin = "show-origin"

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "the profile: settings every command reads when not given (bucket, region, domain...)",
		Description: `The profile keeps what you would otherwise retype on every command, one
TOML table per context, in apimtls/config.toml in the user config directory
($XDG_CONFIG_HOME or ~/.config on Linux). A flag beats its environment
variable, which beats the profile, which beats the default. --context NAME
or APIMTLS_CONTEXT picks the table (default: [default]); --profile and
AWS_PROFILE stay AWS's. The keys (docs/config.md):

` + profileKeysHelp() + `
The profile holds no secrets: passphrases come from a file, a variable or a
prompt, AWS credentials from AWS's own files.`,
		Subcommands: []*cli.Command{configSetCommand(), configGetCommand(), configUnsetCommand(), configListCommand()},
	}
}

func profileKeysHelp() string {
	var b strings.Builder
	for _, k := range profileKeys {
		fmt.Fprintf(&b, "   %-13s %s\n", k.name, k.usage)
	}
	return b.String()
}

func configSetCommand() *cli.Command {
	return &cli.Command{
		Name:      "set",
		Usage:     "set a key in the profile's context",
		ArgsUsage: "KEY VALUE",
		Description: `Checks the value as the flag would, then changes that one line of the file
(comments and the rest stay as they are) and writes it atomically, mode
0600. A new --context gets its table.

Example:
   apimtls config set bucket example-pki
   apimtls config set --context prod region eu-west-1`,
		Action: func(c *cli.Context) error {
			args, err := exactArgs(c, "KEY", "VALUE")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			p, err := loadProfile(c.App.Metadata[metaArgs].([]string), c.App.ErrWriter, noColor(c), true)
			if err != nil {
				return err
			}
			if err := p.file.Set(p.context, args[0], args[1]); err != nil {
				return settingError(err)
			}
			if err := p.file.Save(); err != nil {
				return err
			}
			res := configValue{Key: args[0], Value: args[1], Context: p.context, File: p.file.Path}
			if format == outputJSON {
				return writeJSON(c.App.Writer, res)
			}
			fmt.Fprintf(c.App.Writer, "Set %s = %s in [%s] of %s\n", res.Key, res.Value, res.Context, res.File)
			return nil
		},
	}
}

func configGetCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print a key's value in the profile's context",
		ArgsUsage: "KEY",
		Description: `Prints what the profile holds, as the AWS CLI's configure get does; config
list --show-origin says what a command would use, environment and flags
included. A key not set exits 1.

Example:
   apimtls config get bucket
   apimtls config get region --context prod -o json`,
		Action: func(c *cli.Context) error {
			format, key, p, err := configKeyArg(c)
			if err != nil {
				return err
			}
			s, ok := p.settings[key]
			if !ok {
				return withHint(fmt.Errorf("%s is %w in [%s] of %s", key, profile.ErrNotSet, p.context, p.file.Path), "set it: apimtls config set"+contextArg(p)+" "+key+" VALUE")
			}
			res := configValue{Key: key, Value: s.Value, Context: p.context, File: p.file.Path}
			if format == outputJSON {
				return writeJSON(c.App.Writer, res)
			}
			fmt.Fprintln(c.App.Writer, s.Value)
			return nil
		},
	}
}

func configUnsetCommand() *cli.Command {
	return &cli.Command{
		Name:      "unset",
		Usage:     "remove a key from the profile's context",
		ArgsUsage: "KEY",
		Description: `Removes the key's line; a key that was not set is no error.

Example:
   apimtls config unset endpoint-url`,
		Action: func(c *cli.Context) error {
			format, key, p, err := configKeyArg(c)
			if err != nil {
				return err
			}
			removed, err := p.file.Unset(p.context, key)
			if err != nil {
				return err
			}
			if removed {
				if err := p.file.Save(); err != nil {
					return err
				}
			}
			res := configUnset{Key: key, Context: p.context, File: p.file.Path, Removed: removed}
			if format == outputJSON {
				return writeJSON(c.App.Writer, res)
			}
			if removed {
				fmt.Fprintf(c.App.Writer, "Unset %s in [%s] of %s\n", key, p.context, p.file.Path)
			} else {
				fmt.Fprintf(c.App.Writer, "%s was not set in [%s]: nothing changed\n", key, p.context)
			}
			return nil
		},
	}
}

func configListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "the settings a command would use, and with --show-origin where each comes from",
		ArgsUsage: " ",
		Description: `Lists each key with its effective value: a flag given here (--dir,
--store), else its environment variable, else the profile's context, else
the default. --show-origin adds where each came from (flag, env VARIABLE,
profile FILE:CONTEXT, default) and lists the keys nothing sets.

Example:
   apimtls config list
   apimtls config list --show-origin --context prod`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagShowOrigin, Usage: "say where each value comes from"},
		},
		Action: func(c *cli.Context) error {
			format, err := startNoArgs(c)
			if err != nil {
				return err
			}
			args := c.App.Metadata[metaArgs].([]string)
			p, err := loadProfile(args, c.App.ErrWriter, noColor(c), false)
			if err != nil {
				return err
			}
			res := configList{File: p.file.Path, Context: p.context, ContextOrigin: p.origin, Contexts: p.file.Contexts(), Settings: []configSetting{}}
			for _, k := range profileKeys {
				v, o := resolve(k, k.flagIn(commandPath(c), c.Command), args, os.Environ(), p.settings, p.where())
				if o.Kind == originDefault && k.name == flagDir {
					v, _ = pkiDir(c)
				}
				res.Settings = append(res.Settings, configSetting{Key: k.name, Value: v, origin: o})
			}
			if format == outputJSON {
				return writeJSON(c.App.Writer, res)
			}
			return printConfigList(c, res, c.Bool(flagShowOrigin))
		},
	}
}

func printConfigList(c *cli.Context, res configList, origins bool) error {
	w := c.App.Writer
	if origins {
		fmt.Fprintf(w, "context %s (%s), file %s\n", res.Context, res.ContextOrigin, res.File)
		t := newTable(w, "KEY", "VALUE", "ORIGIN")
		for _, s := range res.Settings {
			t.row(s.Key, orDash(s.Value), s.origin.String())
		}
		return t.flush()
	}
	t := newTable(w)
	for _, s := range res.Settings {
		if s.Value != "" {
			t.row(s.Key, s.Value)
		}
	}
	return t.flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// configKeyIn checks KEY and loads the context config get and unset read.
// configKeyArg reads the one KEY argument of config get and unset, and the
// profile it is in.
func configKeyArg(c *cli.Context) (format, key string, p *loadedProfile, err error) {
	if format, key, err = startOneArg(c, "KEY"); err != nil {
		return "", "", nil, err
	}
	p, err = configKeyIn(c, key)
	return format, key, p, err
}

func configKeyIn(c *cli.Context, key string) (*loadedProfile, error) {
	if err := profile.CheckKey(profileSchema(), key); err != nil {
		return nil, settingError(err)
	}
	return loadProfile(c.App.Metadata[metaArgs].([]string), c.App.ErrWriter, noColor(c), false)
}

// settingError makes a refused key or value a usage error (exit 2).
func settingError(err error) error {
	var se *profile.SettingError
	if !errors.As(err, &se) {
		return err
	}
	if errors.Is(err, profile.ErrSecret) {
		return withHint(usageError{err}, "a CA passphrase: --passphrase-file FILE or "+envCAPassphrase+"; AWS credentials: aws configure or AWS_PROFILE")
	}
	return withHint(usageError{err}, "the keys and what they mean: apimtls config --help")
}

func contextArg(p *loadedProfile) string {
	if p.context == profile.DefaultContext {
		return ""
	}
	return " --context " + shellQuote(p.context)
}

type configValue struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Context string `json:"context"`
	File    string `json:"file"`
}

type configUnset struct {
	Key     string `json:"key"`
	Context string `json:"context"`
	File    string `json:"file"`
	Removed bool   `json:"removed"`
}

type configList struct {
	File          string          `json:"file"`
	Context       string          `json:"context"`
	ContextOrigin origin          `json:"context_origin"`
	Contexts      []string        `json:"contexts"`
	Settings      []configSetting `json:"settings"`
}

type configSetting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	origin
}
