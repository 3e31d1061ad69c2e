package cli

import (
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// date is the build date, set by the release build through -ldflags.
var date = ""

type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"` // "unknown" for a build nothing stamped
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func currentVersion() versionInfo {
	v, c, d := buildStamp()
	return versionInfo{Version: v, Commit: orNone(c), Date: d, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the version, commit and Go version",
		ArgsUsage: " ",
		Description: `Release builds carry the version, commit and date they were built from; a
go install build reports its module version.

Example:
   apimtls version
   apimtls version -o json`,
		Action: func(c *cli.Context) error {
			format, err := startNoArgs(c)
			if err != nil {
				return err
			}
			v := currentVersion()
			if format == outputJSON {
				return writeJSON(c.App.Writer, v)
			}
			fmt.Fprintf(c.App.Writer, "apimtls %s\ncommit %s\n", v.Version, v.Commit)
			fmt.Fprintf(c.App.Writer, "built %s\n", v.Date)
			fmt.Fprintf(c.App.Writer, "%s %s\n", v.GoVersion, v.Platform)
			return nil
		},
	}
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "SHELL",
		Description: `Completes commands and flags. Install it once:

   bash:  apimtls completion bash > ~/.local/share/bash-completion/completions/apimtls
   zsh:   apimtls completion zsh > "${fpath[1]}/_apimtls"
   fish:  apimtls completion fish > ~/.config/fish/completions/apimtls.fish

Example:
   source <(apimtls completion bash)`,
		Action: func(c *cli.Context) error {
			shell, err := oneArg(c, "SHELL")
			if err != nil {
				return err
			}
			app := newApp(c.App.Writer, c.App.ErrWriter)
			var script string
			switch shell {
			case "bash":
				script = bashCompletion(app)
			case "zsh":
				script = "#compdef apimtls\nautoload -U +X bashcompinit && bashcompinit\n" + bashCompletion(app)
			case "fish":
				s, err := app.ToFishCompletion()
				if err != nil {
					return err
				}
				script = s
			default:
				return usagef("unknown shell %q: use bash, zsh or fish", shell)
			}
			_, err = fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// bashCompletion writes a static completion function from the command
// tree: subcommands after a command path, that command's flags after "-".
func bashCompletion(app *cli.App) string {
	subs := map[string][]string{}
	flags := map[string][]string{}
	var walk func(path string, cmds []*cli.Command, fl []cli.Flag)
	walk = func(path string, cmds []*cli.Command, fl []cli.Flag) {
		for _, f := range fl {
			for _, n := range f.Names() {
				if len(n) == 1 {
					flags[path] = append(flags[path], "-"+n)
				} else {
					flags[path] = append(flags[path], "--"+n)
				}
			}
		}
		flags[path] = append(flags[path], "--help")
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			subs[path] = append(subs[path], c.Name)
			walk(strings.TrimSpace(path+" "+c.Name), c.Subcommands, c.Flags)
		}
	}
	walk("", app.Commands, app.Flags)
	var b strings.Builder
	b.WriteString("# apimtls completion for bash (and zsh through bashcompinit)\n")
	cases := func(fn string, m map[string][]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "%s() {\n\tcase \"$1\" in\n", fn)
		for _, k := range keys {
			fmt.Fprintf(&b, "\t\"%s\") echo \"%s\" ;;\n", k, strings.Join(m[k], " "))
		}
		b.WriteString("\tesac\n}\n")
	}
	cases("__apimtls_subcommands", subs)
	cases("__apimtls_flags", flags)
	b.WriteString(`_apimtls() {
	local cur="${COMP_WORDS[COMP_CWORD]}" path="" w i
	for ((i = 1; i < COMP_CWORD; i++)); do
		w="${COMP_WORDS[i]}"
		[[ "$w" == -* ]] && continue
		case " $(__apimtls_subcommands "$path") " in
		*" $w "*) path="${path:+$path }$w" ;;
		esac
	done
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$(__apimtls_flags "$path")" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$(__apimtls_subcommands "$path")" -- "$cur"))
	fi
}
complete -o default -F _apimtls apimtls
`)
	return b.String()
}
